import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../logger';
import type { KernelMetrics } from '../metrics';
import { textArray } from '../sql-arrays';
import {
  parseEnvelope,
  rejectionOf,
  type InboundHandler,
  type InboundMessage,
  type InboundOrigin,
  type ProcessOutcome,
  type Rejection,
} from './inbound';

/** What to do with a message that cannot be applied; the default stores a new dead letter. */
export type RejectionSink = (em: EntityManager, message: InboundMessage, rejection: Rejection) => Promise<void>;

/**
 * Applies inbound messages exactly once in effect: the `eventId` is recorded in `inbox_event` in
 * the same transaction as the effect, so a redelivered message finds it and changes nothing.
 */
export class InboundProcessor {
  private readonly handlers = new Map<string, InboundHandler>();

  constructor(
    private readonly orm: MikroORM,
    private readonly metrics: KernelMetrics,
    private readonly logger: Logger,
  ) {}

  register(handler: InboundHandler<any>): this {
    this.handlers.set(handler.topic, handler);
    return this;
  }

  topics(): string[] {
    return [...this.handlers.keys()];
  }

  /** The handler of a topic (the message contract's test feeds it examples). */
  handlerFor(topic: string): InboundHandler | undefined {
    return this.handlers.get(topic);
  }

  /**
   * Applies a batch in one transaction (or, for a self-deduplicating topic whose messages all
   * parse, in the handler's one statement: `applyOnceAlone`). The fast path takes no savepoints; if
   * a message's effect is refused part-way, the batch is redone with a savepoint around each
   * message so only that message is dead-lettered.
   */
  async processBatch(messages: readonly InboundMessage[], origin: InboundOrigin): Promise<ProcessOutcome[]> {
    if (messages.length === 0) return [];
    const alone = await this.applyOnceAlone(messages, origin);
    if (alone) {
      this.count(messages, alone, []);
      return alone;
    }
    let result: { outcomes: ProcessOutcome[]; rejections: Rejection[] };
    try {
      result = await this.orm.em.fork().transactional((em) => this.applyAll(em, messages, origin, false));
    } catch (error) {
      if (!(error instanceof RefusedEffect)) throw error;
      result = await this.orm.em.fork().transactional((em) => this.applyAll(em, messages, origin, true));
    }
    this.count(messages, result.outcomes, result.rejections);
    return result.outcomes;
  }

  /** Applies one message in the caller's transaction, rejecting it through `sink` when it can't be. */
  async processOne(
    em: EntityManager,
    message: InboundMessage,
    origin: InboundOrigin,
    sink: RejectionSink = (tx, m, r) => this.deadLetter(tx, m, r),
  ): Promise<ProcessOutcome> {
    return this.applyOne(em, message, origin, true, sink);
  }

  /**
   * A batch of a self-deduplicating topic in which every message parses, applied with no
   * transaction of the kernel's: the handler makes its effect atomic by itself (one statement), and
   * there is no dead letter to write beside it. This spares BEGIN and COMMIT, two of the batch's
   * round trips. Null when the batch needs the transactional path: another kind of topic, a
   * message that does not parse, or an effect refused (redone there, one message at a time).
   */
  private async applyOnceAlone(messages: readonly InboundMessage[], origin: InboundOrigin): Promise<ProcessOutcome[] | null> {
    const handler = this.handlers.get(messages[0]!.topic);
    if (!handler?.applyOnce || !messages.every((m) => m.topic === handler.topic)) return null;
    const { parsed, refused } = parseEach(handler, messages);
    if (refused.length > 0) return null;
    let dropped: readonly string[];
    try {
      dropped = await handler.applyOnce(this.orm.em.fork(), parsed, origin);
    } catch (error) {
      if (rejectionOf(error, handler.topic)) return null;
      throw error;
    }
    return markDropped(parsed, dropped, messages.map(() => 'applied'));
  }

  /** Counted after commit, so a batch redone with savepoints is not counted twice. */
  count(messages: readonly InboundMessage[], outcomes: readonly ProcessOutcome[], rejections: readonly Rejection[]): void {
    // One increment per topic and outcome, not per message: a batch holds up to thousands (and
    // nothing is made per message: a key string each was 4% of what camera ingestion allocated).
    const tally = new Map<string, Map<ProcessOutcome, number>>();
    for (let i = 0; i < messages.length; i += 1) {
      const topic = messages[i]!.topic;
      let byOutcome = tally.get(topic);
      if (!byOutcome) tally.set(topic, (byOutcome = new Map()));
      byOutcome.set(outcomes[i]!, (byOutcome.get(outcomes[i]!) ?? 0) + 1);
    }
    for (const [topic, byOutcome] of tally) {
      for (const [outcome, count] of byOutcome) this.metrics.inboundMessages.inc({ topic, outcome }, count);
    }
    for (const r of rejections) this.metrics.deadLetters.inc({ topic: r.topic, code: r.code });
  }

  private async applyAll(em: EntityManager, messages: readonly InboundMessage[], origin: InboundOrigin, isolate: boolean) {
    const outcomes: ProcessOutcome[] = [];
    const rejections: Rejection[] = [];
    const sink: RejectionSink = (tx, m, r) => {
      rejections.push(r);
      return this.deadLetter(tx, m, r);
    };
    const handler = this.handlers.get(messages[0]!.topic);
    if (!isolate && (handler?.applyBatch || handler?.applyOnce) && messages.every((m) => m.topic === handler.topic)) {
      return { outcomes: await this.applyTogether(em, handler, messages, origin, sink), rejections };
    }
    for (const message of messages) outcomes.push(await this.applyOne(em, message, origin, isolate, sink));
    return { outcomes, rejections };
  }

  /** The bulk path: parse all, record every eventId in one statement, apply the fresh ones at once. */
  private async applyTogether(
    em: EntityManager,
    handler: InboundHandler,
    messages: readonly InboundMessage[],
    origin: InboundOrigin,
    sink: RejectionSink,
  ): Promise<ProcessOutcome[]> {
    const { parsed, refused } = parseEach(handler, messages);
    const outcomes = messages.map((): ProcessOutcome => 'applied');
    for (const { index, rejection } of refused) {
      await sink(em, messages[index]!, rejection);
      outcomes[index] = 'dead-lettered';
    }
    if (parsed.length === 0) return outcomes;
    try {
      if (handler.applyOnce) return markDropped(parsed, await handler.applyOnce(em, parsed, origin), outcomes);
      const recorded = await em.execute<{ event_id: string }[]>(
        `INSERT INTO inbox_event (topic, event_id) SELECT ?, unnest(?::text[]) ON CONFLICT DO NOTHING RETURNING event_id`,
        [handler.topic, textArray(parsed.map((p) => p.eventId))],
      );
      // An eventId is fresh once: a second copy in the same batch is a duplicate like any other.
      const fresh = counted(recorded.map((r) => r.event_id));
      const toApply: unknown[] = [];
      for (const item of parsed) {
        if (take(fresh, item.eventId)) toApply.push(item.message);
        else outcomes[item.index] = 'duplicate';
      }
      if (toApply.length > 0) await handler.applyBatch!(em, toApply, origin);
    } catch (error) {
      const rejection = rejectionOf(error, handler.topic);
      throw rejection ? new RefusedEffect(rejection) : error;
    }
    return outcomes;
  }

  private async applyOne(
    em: EntityManager,
    message: InboundMessage,
    origin: InboundOrigin,
    isolate: boolean,
    sink: RejectionSink,
  ): Promise<ProcessOutcome> {
    const handler = this.handlers.get(message.topic);
    let eventId: string;
    let parsed: unknown;
    try {
      if (!handler) throw new UnknownTopicError(message.topic);
      const envelope = parseEnvelope(message.value);
      eventId = envelope.eventId;
      parsed = handler.parse(envelope.json, eventId);
    } catch (error) {
      const rejection = error instanceof UnknownTopicError ? error.rejection : rejectionOf(error, message.topic);
      if (!rejection) throw error;
      await sink(em, message, rejection);
      return 'dead-lettered';
    }

    if (isolate) await em.execute('SAVEPOINT inbound_message', [], 'run');
    try {
      let fresh: boolean;
      if (handler!.applyOnce) {
        fresh = (await handler!.applyOnce(em, [{ eventId, message: parsed }], origin)).length === 0;
      } else {
        const recorded = await em.execute<unknown[]>(
          'INSERT INTO inbox_event (topic, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1 AS fresh',
          [message.topic, eventId],
        );
        fresh = recorded.length > 0;
        if (fresh) await handler!.apply(em, parsed, origin);
      }
      if (isolate) await em.execute('RELEASE SAVEPOINT inbound_message', [], 'run');
      return fresh ? 'applied' : 'duplicate';
    } catch (error) {
      const rejection = rejectionOf(error, message.topic);
      if (!rejection) throw error;
      if (!isolate) throw new RefusedEffect(rejection);
      await em.execute('ROLLBACK TO SAVEPOINT inbound_message', [], 'run');
      await sink(em, message, rejection);
      return 'dead-lettered';
    }
  }

  private async deadLetter(em: EntityManager, message: InboundMessage, rejection: Rejection): Promise<void> {
    // A redelivered Kafka message (same topic, partition and offset) updates its dead letter.
    await em.execute(
      `INSERT INTO dead_letter (topic, "partition", "offset", key, value, reason, error_code) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (topic, coalesce("partition", -1), "offset") WHERE "offset" IS NOT NULL
       DO UPDATE SET attempts = dead_letter.attempts + 1, reason = EXCLUDED.reason, error_code = EXCLUDED.error_code`,
      [message.topic, message.partition, message.offset, storable(message.key), storable(message.value), rejection.reason, rejection.code],
      'run',
    );
    this.logger.warn(
      { topic: message.topic, partition: message.partition, offset: message.offset, code: rejection.code, reason: rejection.reason },
      'inbound message dead-lettered',
    );
  }
}

/** A message parsed, with its place in the batch. */
interface ParsedMessage {
  index: number;
  eventId: string;
  message: unknown;
}

/** Each message parsed by its handler, or the rejection that says why it never can be (anything else is thrown). */
function parseEach(handler: InboundHandler, messages: readonly InboundMessage[]): { parsed: ParsedMessage[]; refused: { index: number; rejection: Rejection }[] } {
  const parsed: ParsedMessage[] = [];
  const refused: { index: number; rejection: Rejection }[] = [];
  for (const [index, message] of messages.entries()) {
    try {
      const envelope = parseEnvelope(message.value);
      parsed.push({ index, eventId: envelope.eventId, message: handler.parse(envelope.json, envelope.eventId) });
    } catch (error) {
      const rejection = rejectionOf(error, message.topic);
      if (!rejection) throw error;
      refused.push({ index, rejection });
    }
  }
  return { parsed, refused };
}

/** `outcomes` with the copies a self-deduplicating handler dropped marked as duplicates. */
function markDropped(parsed: readonly ParsedMessage[], droppedIds: readonly string[], outcomes: ProcessOutcome[]): ProcessOutcome[] {
  const dropped = counted(droppedIds);
  // Of two copies in one batch the first is applied: the dropped ones are taken from the end.
  for (let i = parsed.length - 1; i >= 0 && dropped.size > 0; i -= 1) {
    if (take(dropped, parsed[i]!.eventId)) outcomes[parsed[i]!.index] = 'duplicate';
  }
  return outcomes;
}

class RefusedEffect extends Error {
  constructor(readonly rejection: Rejection) {
    super(rejection.reason);
  }
}

class UnknownTopicError extends Error {
  readonly rejection: Rejection;
  constructor(topic: string) {
    super(`No handler for topic ${topic}`);
    this.rejection = { topic, code: "UNKNOWN_TOPIC", reason: this.message };
  }
}

/** PostgreSQL text cannot hold NUL; a raw message is kept with NUL bytes written as `\u0000`. */
function storable<T extends string | null>(text: T): T {
  return (text === null ? text : text.replaceAll('\u0000', '\\u0000')) as T;
}

/** How many times each eventId was applied (a handler may apply two events that share one). */
function counted(eventIds: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of eventIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Takes one application of `eventId`; false when none is left (the message was a duplicate). */
function take(counts: Map<string, number>, eventId: string): boolean {
  const left = counts.get(eventId) ?? 0;
  if (left === 0) return false;
  if (left === 1) counts.delete(eventId);
  else counts.set(eventId, left - 1);
  return true;
}
