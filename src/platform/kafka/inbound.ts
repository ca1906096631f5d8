import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError, InvalidInputError } from '../errors';
import { mayHoldUnstorableEscapes, unstorableIn } from '../text';

/** One inbound message, wherever it came from: a Kafka topic, an ingest file or a dead-letter retry. */
export interface InboundMessage {
  topic: string;
  partition: number | null;
  offset: string | null;
  key: string | null;
  value: string;
}

/**
 * Applies the messages of one topic. `parse` validates and throws an `InvalidInputError` for what
 * can never be applied. The effect is made in one of two ways: the kernel deduplicates by eventId
 * (an `inbox_event` row each) and calls `apply` (or `applyBatch`) inside its transaction, or the
 * handler deduplicates by itself through `applyOnce`.
 */
export type InboundHandler<T = unknown> = InboxedHandler<T> | SelfDeduplicatingHandler<T>;

interface HandlerOfTopic<T> {
  topic: string;
  parse(json: Record<string, unknown>, eventId: string): T;
}

/** A handler whose messages the kernel deduplicates, with an `inbox_event` row per eventId. */
export interface InboxedHandler<T = unknown> extends HandlerOfTopic<T> {
  apply(em: EntityManager, message: T, origin: InboundOrigin): Promise<void>;
  /**
   * Optional: applies many messages at once, for high-volume topics. Throwing a DomainError sends
   * the batch down the one-by-one path, where only the offending message is set aside.
   */
  applyBatch?(em: EntityManager, messages: T[], origin: InboundOrigin): Promise<void>;
  applyOnce?: never;
}

/**
 * For topics of millions of events: the handler deduplicates by itself, keeping each eventId with
 * its effect under a unique key of its own table (cheaper than an inbox row, and aged out with
 * that table's data). `applyOnce` returns the eventIds of the events it did not apply, seen
 * before (one entry per copy dropped; usually none); `inbox_event` is not written. The `em` it is
 * given may be outside any transaction (a batch with nothing to dead-letter): the handler then
 * makes its effect atomic by itself, in one statement or a transaction of its own.
 */
export interface SelfDeduplicatingHandler<T = unknown> extends HandlerOfTopic<T> {
  applyOnce(em: EntityManager, events: readonly { eventId: string; message: T }[], origin: InboundOrigin): Promise<readonly string[]>;
  apply?: never;
  applyBatch?: never;
}

export type InboundOrigin = 'KAFKA' | 'INGEST';

export type ProcessOutcome = 'applied' | 'duplicate' | 'dead-lettered';

/** Why a message could not be applied: its stable code and a sentence for whoever fixes it. */
export interface Rejection {
  topic?: string;
  code: string;
  reason: string;
}

export function rejectionOf(error: unknown, topic?: string): Rejection | null {
  if (error instanceof DomainError) return { topic, code: error.code, reason: error.message };
  return null;
}

/** Parses the JSON envelope every inbound message shares; `eventId` is required. */
export function parseEnvelope(value: string): { eventId: string; json: Record<string, unknown> } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new InvalidInputError('Message is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidInputError('Message must be a JSON object');
  }
  if (mayHoldUnstorableEscapes(value)) {
    const reason = unstorableIn(json);
    if (reason) throw new InvalidInputError(`Message refused: ${reason}`);
  }
  const eventId = (json as Record<string, unknown>).eventId;
  if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > 200) {
    throw new InvalidInputError('eventId must be a non-empty string of at most 200 characters');
  }
  return { eventId, json: json as Record<string, unknown> };
}
