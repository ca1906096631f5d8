import { randomBytes } from 'node:crypto';
import { Partitioners, type Admin, type Kafka } from 'kafkajs';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { InboundConsumer, consumerOptions } from '../src/platform/kafka/consumer';
import type { InboundMessage } from '../src/platform/kafka/inbound';
import { createKafka, ensureTopics, parseBrokers } from '../src/platform/kafka/kafka-client';
import { createLogger } from '../src/platform/logger';
import { postgresCpu } from './lib/database';
import { ingestEnv } from './lib/ingest-env';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';
import { benchApp } from './payout-writes';
import { operationsModule } from '../src/operations/module';
import { shopsModule } from '../src/shops/module';

/**
 * Issue 3's ingestion figure: `invoicing` events from Kafka into the database through the
 * service's consumer, next to a plain kafkajs consumer reading the same topic in the same run.
 */

export interface ShopIngestOptions {
  brokers: string;
  shops: number;
  /** Messages produced, duplicates included. */
  events: number;
  partitions: number;
  /** Share of the messages that repeat an earlier one, in per mille (half the same eventId, half the same operation under a new one). */
  duplicatesPerMille: number;
  timeoutS: number;
}

const CURRENCY = 'RUB';
/** Messages per `sendBatch` call, and calls in flight at once. */
const PRODUCE_BATCH = 2000;
const PRODUCE_IN_FLIGHT = 4;

/** The same pseudo-random stream every run, so runs differ only in how fast they go. */
function randomStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const partyOf = (shop: number, parties: number) => `bench-party-${shop % parties}`;
const shopIdOf = (shop: number) => `shop-${shop}`;

interface Operation {
  /** The message value; a duplicate repeats it, with a new eventId or the same. */
  value: Record<string, string>;
  key: string;
  /** What it adds to the shop's payable amount and what it pays in fees (contracts.md, `invoicing`). */
  payable: bigint;
  fee: bigint;
}

/**
 * The messages to produce: payments, refunds, adjustments (both signs) and chargebacks spread over
 * the shops, with a few duplicates mixed in after their originals. Also what the books should say.
 */
function makeEvents(options: ShopIngestOptions, prefix: string) {
  const random = randomStream(20261122);
  const parties = Math.max(1, Math.ceil(options.shops / 10));
  const messages: { key: string; value: string }[] = [];
  const originals: Operation[] = [];
  let payable = 0n;
  let fees = 0n;
  let sameEventId = 0;
  let sameOperation = 0;
  const occurredAt = new Date(Date.now() - 3600_000).toISOString();
  while (messages.length < options.events) {
    if (originals.length > 0 && random() * 1000 < options.duplicatesPerMille) {
      const original = originals[Math.floor(random() * originals.length)]!;
      const again = random() < 0.5;
      if (again) sameEventId += 1;
      else sameOperation += 1;
      const eventId = again ? original.value.eventId! : `${prefix}-dup-${messages.length}`;
      messages.push({ key: original.key, value: JSON.stringify({ ...original.value, eventId }) });
      continue;
    }
    const n = originals.length;
    const shop = Math.floor(random() * options.shops);
    const partyId = partyOf(shop, parties);
    const amount = BigInt(1000 + Math.floor(random() * 99_000));
    const fee = amount / 40n;
    const base = { eventId: `${prefix}-${n}`, occurredAt, partyId, shopId: shopIdOf(shop), invoiceId: `inv-${n}`, paymentId: '1', currency: CURRENCY };
    const roll = random();
    let operation: Operation;
    if (roll < 0.7) {
      operation = { key: partyId, value: { ...base, type: 'PaymentCaptured', amount: String(amount), fee: String(fee) }, payable: amount - fee, fee };
    } else if (roll < 0.85) {
      operation = { key: partyId, value: { ...base, type: 'RefundSucceeded', refundId: '1', amount: String(amount / 2n), fee: '0' }, payable: -(amount / 2n), fee: 0n };
    } else if (roll < 0.95) {
      const signed = roll < 0.9 ? amount / 10n : -(amount / 10n);
      operation = { key: partyId, value: { ...base, type: 'AdjustmentCaptured', adjustmentId: '1', amount: String(signed) }, payable: signed, fee: 0n };
    } else {
      operation = { key: partyId, value: { ...base, type: 'ChargebackSucceeded', chargebackId: '1', amount: String(amount), fee: String(fee) }, payable: -(amount + fee), fee };
    }
    originals.push(operation);
    payable += operation.payable;
    fees += operation.fee;
    messages.push({ key: operation.key, value: JSON.stringify(operation.value) });
  }
  return {
    messages,
    parties,
    expected: {
      operations: originals.length,
      eventIds: messages.length - sameEventId,
      payable,
      fees,
      duplicates: { sameEventId, sameOperation },
    },
  };
}

/** Creates the shops through the service, as `ShopCreated` events from party-management would. */
async function createShops(app: App, shops: number, parties: number, prefix: string): Promise<number> {
  const began = performance.now();
  const topic = app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT;
  for (let from = 0; from < shops; from += 500) {
    const batch: InboundMessage[] = [];
    for (let shop = from; shop < Math.min(shops, from + 500); shop += 1) {
      const value = {
        eventId: `${prefix}-shop-${shop}`,
        occurredAt: new Date().toISOString(),
        type: 'ShopCreated',
        partyId: partyOf(shop, parties),
        shopId: shopIdOf(shop),
        currency: CURRENCY,
        payoutToolId: 'tool-1',
      };
      batch.push({ topic, partition: 0, offset: String(shop), key: value.partyId, value: JSON.stringify(value) });
    }
    const outcomes = await app.inbound.processBatch(batch, 'INGEST');
    if (outcomes.some((o) => o !== 'applied')) throw new Error(`shop creation: ${outcomes.filter((o) => o !== 'applied').length} not applied`);
  }
  return performance.now() - began;
}

export async function produce(kafka: Kafka, topic: string, messages: { key: string; value: string }[]): Promise<number> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const began = performance.now();
  try {
    let next = 0;
    const lane = async () => {
      while (next < messages.length) {
        const from = next;
        next += PRODUCE_BATCH;
        await producer.send({ topic, messages: messages.slice(from, from + PRODUCE_BATCH), acks: -1 });
      }
    };
    await Promise.all(Array.from({ length: PRODUCE_IN_FLIGHT }, lane));
  } finally {
    await producer.disconnect();
  }
  return performance.now() - began;
}

/** Messages the group has not committed yet, against the end of each partition (all produced before). */
export async function remaining(admin: Admin, groupId: string, topic: string, ends: Map<number, bigint>): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const done = new Map(committed!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
  let left = 0n;
  for (const [partition, end] of ends) {
    const at = done.get(partition) ?? -1n;
    left += at < 0n ? end : end - at;
  }
  return Number(left);
}

interface ReadTiming {
  /** From `run()` until the consumer had joined its group. */
  joinMs: number;
  /** From joining until every message was read (plain) or applied and committed (service). */
  readMs: number;
  eventsPerSecond: number;
  /** CPU this process used from joining to the end, per message, in ms. */
  cpuMsPerEvent: number;
}

const cpuMsNow = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/** A consumer that only counts what it reads: the ceiling for any consumer of this topic here. */
export async function plainRead(kafka: Kafka, topic: string, groupId: string, expected: number, timeoutMs: number): Promise<ReadTiming> {
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  let joinedAt = 0;
  let cpuAtJoin = 0;
  let read = 0;
  let finished: () => void;
  const allRead = new Promise<void>((resolve) => (finished = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt = performance.now();
    cpuAtJoin = cpuMsNow();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const began = performance.now();
    await consumer.run({
      eachBatch: async ({ batch }) => {
        read += batch.messages.length;
        if (read >= expected) finished();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the plain consumer read ${read} of ${expected} messages in ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([allRead, timeout]).finally(() => clearTimeout(timer));
    const ended = performance.now();
    const readMs = ended - joinedAt;
    return {
      joinMs: round(joinedAt - began, 0),
      readMs: round(readMs, 0),
      eventsPerSecond: round((expected / readMs) * 1000, 0),
      cpuMsPerEvent: round((cpuMsNow() - cpuAtJoin) / expected, 4),
    };
  } finally {
    await consumer.disconnect();
  }
}

interface ServiceTiming extends ReadTiming {
  /** Share of the read time spent inside `processBatch` (parsing and the database transaction). */
  processingShare: number;
  chunks: number;
  meanChunkMs: number;
  meanChunkSize: number;
  postgresCpuMsPerEvent: number | null;
  timeline: { s: number; operations: number }[];
}

/**
 * The service's consumer, built as `src/processes.ts` builds it for the consumers role, reading the
 * bench topic from the beginning; done when the group has committed every partition to its end
 * (offsets are committed only after the transaction that applied the messages).
 */
async function serviceRead(
  env: Record<string, string>,
  databaseUrl: string,
  expected: { messages: number },
  timeoutMs: number,
  postgresNow: () => number | null,
): Promise<{ timing: ServiceTiming; app: App }> {
  const settings = loadAppSettings(env);
  const logger = createLogger('warn');
  const app = await createApp({ settings, logger, databaseUrl });
  const topic = app.settingsOf(operationsModule).TOPIC_INVOICING;
  // Time spent applying, measured around the processor the consumer calls.
  let busyMs = 0;
  let chunks = 0;
  let chunkMessages = 0;
  const processBatch = app.inbound.processBatch.bind(app.inbound);
  app.inbound.processBatch = async (messages, origin) => {
    const began = performance.now();
    try {
      return await processBatch(messages, origin);
    } finally {
      busyMs += performance.now() - began;
      chunks += 1;
      chunkMessages += messages.length;
    }
  };
  const consumer = new InboundConsumer(app.kafka!, app.inbound, app.metrics, logger.child({ component: 'consumer' }), consumerOptions(settings.kernel));
  const db = new (await import('pg')).Client({ connectionString: databaseUrl });
  await db.connect();
  const admin = app.kafka!.admin();
  await admin.connect();
  try {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
    const began = performance.now();
    await consumer.start();
    while (!consumer.isJoined()) {
      if (performance.now() - began > 60_000) throw new Error('the service consumer did not join its group within 60 s');
      await sleep(5);
    }
    const joinedAt = performance.now();
    const [cpuAtJoin, postgresAtJoin] = [cpuMsNow(), postgresNow()];
    const busyAtJoin = busyMs;
    const timeline: { s: number; operations: number }[] = [];
    let lastPrint = 0;
    let doneAt: number | null = null;
    while (performance.now() - joinedAt < timeoutMs) {
      await sleep(100);
      if ((await remaining(admin, settings.kernel.KAFKA_GROUP_ID, topic, ends)) === 0) {
        doneAt = performance.now();
        break;
      }
      const elapsed = performance.now() - joinedAt;
      if (elapsed - lastPrint >= 2000) {
        lastPrint = elapsed;
        const operations = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM shop_operation')).rows[0]!.n);
        timeline.push({ s: round(elapsed / 1000, 1), operations });
        console.error(`   ${(elapsed / 1000).toFixed(1).padStart(6)} s  operations stored ${operations.toLocaleString('en-US').padStart(9)}`);
      }
    }
    if (doneAt === null) throw new Error(`the service consumer had not committed every message after ${timeoutMs} ms`);
    const [cpuMs, postgresEnd] = [cpuMsNow() - cpuAtJoin, postgresNow()];
    const readMs = doneAt - joinedAt;
    return {
      app,
      timing: {
        joinMs: round(joinedAt - began, 0),
        readMs: round(readMs, 0),
        eventsPerSecond: round((expected.messages / readMs) * 1000, 0),
        cpuMsPerEvent: round(cpuMs / expected.messages, 4),
        postgresCpuMsPerEvent: postgresAtJoin === null || postgresEnd === null ? null : round((postgresEnd - postgresAtJoin) / expected.messages, 4),
        processingShare: round((busyMs - busyAtJoin) / readMs, 2),
        chunks,
        meanChunkMs: round(busyMs / Math.max(1, chunks), 1),
        meanChunkSize: round(chunkMessages / Math.max(1, chunks), 0),
        timeline,
      },
    };
  } catch (error) {
    await app.close();
    throw error;
  } finally {
    await consumer.stop().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}

/** What the books say after ingestion, against what the produced events should have made. */
async function verifyIngest(app: App, expected: ReturnType<typeof makeEvents>['expected'], invoicingTopic: string) {
  const em = app.orm.em.fork();
  const [row] = await em.execute<Record<string, string>[]>(
    `SELECT (SELECT count(*) FROM shop_operation) AS operations,
            (SELECT count(DISTINCT business_id) FROM shop_operation) AS business_ids,
            (SELECT coalesce(sum(payable), 0) FROM shop_operation) AS payable,
            (SELECT count(*) FROM shop_operation WHERE payout_id IS NOT NULL) AS in_payouts,
            (SELECT count(*) FROM inbox_event WHERE topic = ?) AS event_ids,
            (SELECT count(*) FROM dead_letter) AS dead_letters,
            (SELECT coalesce(sum(balance), 0) FROM ledger_account WHERE owner_kind = 'SHOP' AND type = 'payout') AS shop_balances,
            (SELECT coalesce(sum(balance), 0) FROM ledger_account WHERE owner_kind = 'SYSTEM' AND type = 'fees') AS fees,
            (SELECT count(*) FROM ledger_transfer WHERE kind LIKE 'operation_%') AS transfers`,
    [invoicingTopic],
  );
  const want: Record<string, string> = {
    operations: String(expected.operations),
    business_ids: String(expected.operations),
    payable: expected.payable.toString(),
    in_payouts: '0',
    event_ids: String(expected.eventIds),
    dead_letters: '0',
    shop_balances: expected.payable.toString(),
    fees: expected.fees.toString(),
  };
  const wrong = Object.entries(want).filter(([k, v]) => String(row![k]) !== v);
  if (wrong.length > 0) throw new Error(`ingestion left the wrong books: ${JSON.stringify({ got: row, want })}`);
  const began = performance.now();
  const violations = await app.checkLedger(em);
  if (violations.length > 0) throw new Error(`ledger invariants broken: ${JSON.stringify(violations.slice(0, 5))}`);
  return { ...row, ledgerCheck: 'ok', ledgerCheckMs: round(performance.now() - began, 0) };
}


export async function benchShopIngest(databaseUrl: string, options: ShopIngestOptions): Promise<BenchmarkResult> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `bench-${suffix}`;
  // Topics of its own, so neither consumer reads what tests or earlier runs left on the broker.
  const { env, topics } = ingestEnv(databaseUrl, options.brokers, prefix);
  const kafka = createKafka(parseBrokers(options.brokers), prefix, createLogger('warn'));
  const invoicing = topics.TOPIC_INVOICING!;
  let app: App | null = null;
  try {
    await ensureTopics(kafka, [invoicing], options.partitions);
    await ensureTopics(kafka, Object.values(topics).filter((t) => t !== invoicing), 1);

    const events = makeEvents(options, prefix);
    const setup = await benchApp(databaseUrl, 4);
    let shopsMs: number;
    try {
      shopsMs = await createShops(setup, options.shops, events.parties, prefix);
    } finally {
      await setup.close();
    }
    console.error(`   ${options.shops} shops created in ${Math.round(shopsMs)} ms; producing ${events.messages.length.toLocaleString('en-US')} messages`);
    const produceMs = await produce(kafka, invoicing, events.messages);
    const admin = kafka.admin();
    await admin.connect();
    const perPartition = (await admin.fetchTopicOffsets(invoicing)).map((p) => Number(BigInt(p.high) - BigInt(p.low)));
    await admin.disconnect();
    console.error(`   produced in ${Math.round(produceMs)} ms (${perPartition.join(' / ')} per partition); plain consumer reading`);

    const timeoutMs = options.timeoutS * 1000;
    const plain = await plainRead(kafka, invoicing, `${prefix}-plain`, events.messages.length, timeoutMs);
    console.error(`   plain consumer: ${plain.eventsPerSecond.toLocaleString('en-US')} messages/s; service consumer applying`);
    const postgresNow = await postgresCpu(databaseUrl);
    const service = await serviceRead(env, databaseUrl, { messages: events.messages.length }, timeoutMs, postgresNow);
    app = service.app;
    const verification = await verifyIngest(app, events.expected, invoicing);

    const n = events.messages.length.toLocaleString('en-US');
    const setupNote = `${options.partitions} partitions, ${options.shops.toLocaleString('en-US')} shops`;
    return {
      name: 'shops-ingest',
      figures: [
        {
          key: 'shops.ingest.eventsPerSecond',
          label: '`invoicing` events ingested per second (service consumer)',
          value: service.timing.eventsPerSecond,
          unit: '/s',
          target: { op: '>=', value: 10_000 },
          note: `${n} messages (${events.expected.duplicates.sameEventId + events.expected.duplicates.sameOperation} duplicates), ${setupNote}; from joining the group until every offset is committed`,
        },
        {
          key: 'shops.ingest.plainPerSecond',
          label: 'Same topic, plain kafkajs consumer (eachBatch, no processing)',
          value: plain.eventsPerSecond,
          unit: '/s',
          note: `same run, same broker; ${plain.cpuMsPerEvent} ms of CPU per message`,
        },
        {
          key: 'shops.ingest.ratio',
          label: 'Service ÷ plain consumer (events per second)',
          value: round(service.timing.eventsPerSecond / plain.eventsPerSecond, 2),
          unit: '×',
        },
        {
          key: 'shops.ingest.cpu',
          label: 'Ingestion CPU per event: consumer process',
          value: service.timing.cpuMsPerEvent,
          unit: 'ms',
          note: `${Math.round(service.timing.processingShare * 100)}% of the time inside processBatch (${service.timing.chunks} chunks of ~${service.timing.meanChunkSize}, ${service.timing.meanChunkMs} ms each)`,
        },
        {
          key: 'shops.ingest.postgresCpu',
          label: 'Ingestion CPU per event: PostgreSQL',
          value: service.timing.postgresCpuMsPerEvent,
          unit: 'ms',
        },
      ],
      details: {
        options,
        topic: invoicing,
        partitions: options.partitions,
        messagesPerPartition: perPartition,
        shopsMs: round(shopsMs, 0),
        produceMs: round(produceMs, 0),
        producedPerSecond: round((events.messages.length / produceMs) * 1000, 0),
        expected: { ...events.expected, payable: events.expected.payable.toString(), fees: events.expected.fees.toString() },
        plain,
        service: service.timing,
        verification,
      },
      notes: [
        `Ingestion: ${options.shops.toLocaleString('en-US')} shops created through the party-management handler; ${n} \`invoicing\` messages (70% payments, 15% refunds, 10% adjustments of both signs, 5% chargebacks, ${options.duplicatesPerMille}‰ duplicates: half the same eventId again, half the same operation under a new eventId) produced to a fresh topic of ${options.partitions} partitions keyed by partyId. A plain kafkajs consumer (eachBatch, counts only) reads it first; then the service's InboundConsumer (built as the consumers role builds it: KAFKA_CHUNK_SIZE messages per transaction, KAFKA_CONSUMER_CONCURRENCY partitions at once) in this process, timed from joining its group until the group's committed offsets reach every partition's end. Afterwards: one shop_operation per distinct operation, one inbox row per eventId, no dead letters, shop balances = the sum of payable effects, the fees account = the fees, checkLedger clean.`,
      ],
    };
  } finally {
    await app?.close().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
