import type { App } from '../../src/app/app';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type KafkaMessage, type Producer, type RecordMetadata } from 'kafkajs';
import { kafkaBrokers } from './app';

const POLL_MS = 50;
export const DEFAULT_WAIT_MS = 30_000;

function brokers(): string[] {
  const list = kafkaBrokers();
  if (!list) throw new Error('Kafka is not available for this run');
  return list.split(',').map((b) => b.trim());
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: `payouts-test-client-${randomBytes(3).toString('hex')}`, brokers: brokers(), logLevel: logLevel.NOTHING });
}

export interface OutgoingMessage {
  key?: string | null;
  /** An object is sent as JSON; a string is sent as it is (to send what is not JSON). */
  value: unknown;
}

let sharedProducer: Producer | null = null;

/** Sends messages to a topic as an outside producer would, in the given order; says where they landed. */
export async function produce(topic: string, messages: readonly OutgoingMessage[]): Promise<RecordMetadata[]> {
  if (!sharedProducer) {
    const producer = testKafka().producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    sharedProducer = producer;
  }
  return sharedProducer.send({
    topic,
    acks: -1,
    messages: messages.map((m) => ({
      key: m.key ?? null,
      value: typeof m.value === 'string' ? m.value : JSON.stringify(m.value),
    })),
  });
}

export async function disconnectProducer(): Promise<void> {
  await sharedProducer?.disconnect();
  sharedProducer = null;
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: unknown;
  raw: KafkaMessage;
}

/**
 * Reads a topic from the beginning with a consumer group of its own until `done` holds for what
 * has arrived, or the deadline passes; returns whatever arrived (the caller asserts on it).
 */
export async function collect(
  topic: string,
  done: (messages: readonly ReceivedMessage[]) => boolean,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<ReceivedMessage[]> {
  const consumer = testKafka().consumer({ groupId: `payouts-test-reader-${randomBytes(4).toString('hex')}` });
  const received: ReceivedMessage[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const deadline = setTimeout(finish, timeoutMs);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: from, partition, message }) => {
        const text = message.value?.toString('utf8') ?? '';
        let value: unknown = text;
        try {
          value = JSON.parse(text);
        } catch {
          // kept as the raw text
        }
        received.push({ topic: from, partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value, raw: message });
        if (done(received)) finish();
      },
    });
    await finished;
  } finally {
    clearTimeout(deadline);
    await consumer.disconnect();
  }
  return received;
}

/**
 * Polls `probe` until `done` holds for its result, or the deadline passes; returns the last
 * result either way, so the test's own assertion reports what was seen.
 */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Everything on a topic up to its current end: for asserting exactly what was published. */
/** A topic's offsets, asked again while the broker says it is not ready (a topic created moments ago). */
async function topicOffsets(admin: Admin, topic: string) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      // e.g. "This server is not the leader for that topic-partition" while leadership settles
      if (attempt >= 40 || (error as { retriable?: boolean }).retriable !== true) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export async function collectAll(topic: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedMessage[]> {
  const admin = testKafka().admin();
  await admin.connect();
  let total = 0;
  try {
    for (const p of await topicOffsets(admin, topic)) total += Number(BigInt(p.high) - BigInt(p.low));
  } finally {
    await admin.disconnect();
  }
  if (total === 0) return [];
  return collect(topic, (messages) => messages.length >= total, timeoutMs);
}

/** Waits until every given event has been taken in (applied, or found a duplicate or late): its eventId is in the inbox. */
export function untilSeen(app: App, topic: string, eventIds: string[]) {
  return waitFor(
    async () =>
      (
        await app.orm.em
          .fork()
          .execute<{ event_id: string }[]>('SELECT event_id FROM inbox_event WHERE topic = ? AND event_id IN (?)', [topic, eventIds])
      ).length,
    (n) => n === eventIds.length,
  );
}
