import { randomBytes } from 'node:crypto';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { InboundConsumer, consumerOptions } from '../src/platform/kafka/consumer';
import { createKafka, ensureTopics, parseBrokers } from '../src/platform/kafka/kafka-client';
import { createLogger } from '../src/platform/logger';
import { signalqModule } from '../src/signalq/module';
import { gatherStatistics, postgresCpu, withClient } from './lib/database';
import { ingestEnv } from './lib/ingest-env';
import type { BenchmarkResult } from './lib/report';
import { perItem, round, sleep } from './lib/stats';
import { profileWindow } from './lib/profile';
import { plainRead, produce, remaining } from './shop-ingest';

/**
 * Issue 15's figures: a month of camera status history ingested from Kafka by the service's
 * consumer beside a plain kafkajs consumer, and the billing run over it beside one hand-written
 * SQL query computing the same active days, in the same run on the same data.
 */

export interface SignalqBenchOptions {
  brokers: string;
  parks: number;
  devices: number;
  days: number;
  /** State changes per device and day (ONLINE and OFFLINE in turn). */
  changesPerDay: number;
  partitions: number;
  timeoutS: number;
}

const TIMEZONE = 'Europe/Moscow';
const DAILY_RATE = 1_000n;
const MIN_ACTIVE_MINUTES = 360;
/** The period billed: 1 Nov 2026 in Moscow, for `days` days. */
const PERIOD_START = '2026-11-01';
const PERIOD_FROM_MS = Date.parse('2026-10-31T21:00:00Z');
const DAY_MS = 86_400_000;

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

/** Each device-day: `changesPerDay` changes at sorted random minutes, ONLINE first; the device is offline between days. */
function makeEvents(options: SignalqBenchOptions, prefix: string): { key: string; value: string }[] {
  const random = randomStream(20261215);
  const messages: { key: string; value: string }[] = [];
  let n = 0;
  for (let park = 0; park < options.parks; park += 1) {
    const parkId = `${prefix}-p${park}`;
    for (let device = 0; device < options.devices; device += 1) {
      const deviceId = `cam-${device}`;
      for (let day = 0; day < options.days; day += 1) {
        const minutes = Array.from({ length: options.changesPerDay }, () => Math.floor(random() * 1440)).sort((a, b) => a - b);
        minutes.forEach((minute, i) => {
          const occurredAt = new Date(PERIOD_FROM_MS + day * DAY_MS + minute * 60_000 + i * 1000).toISOString();
          const value = { eventId: `${prefix}-${n++}`, occurredAt, parkId, deviceId, status: i % 2 === 0 ? 'ONLINE' : 'OFFLINE' };
          messages.push({ key: parkId, value: JSON.stringify(value) });
        });
      }
    }
  }
  return messages;
}

const cpuMsNow = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/**
 * Where the consumer's time goes, seen around the processor it calls: the share of the run when no
 * chunk was being applied (Kafka fetching and decoding), the event loop's idle share then, and
 * its idle share overall (waiting on PostgreSQL while chunks are applied).
 */
function watchChunks(app: App) {
  let inFlight = 0;
  let gapSince = 0;
  let gapMs = 0;
  let gapLoopIdleMs = 0;
  let loopAtGap = performance.eventLoopUtilization();
  let loopAtStart = loopAtGap;
  const processBatch = app.inbound.processBatch.bind(app.inbound);
  app.inbound.processBatch = async (messages, origin) => {
    if (inFlight++ === 0) {
      gapMs += performance.now() - gapSince;
      gapLoopIdleMs += performance.eventLoopUtilization(loopAtGap).idle;
    }
    try {
      return await processBatch(messages, origin);
    } finally {
      if (--inFlight === 0) {
        gapSince = performance.now();
        loopAtGap = performance.eventLoopUtilization();
      }
    }
  };
  return {
    start() {
      [gapMs, gapLoopIdleMs, gapSince] = [0, 0, performance.now()];
      loopAtStart = loopAtGap = performance.eventLoopUtilization();
    },
    shares: (readMs: number) => ({
      noChunkAppliedShare: round(gapMs / readMs, 3),
      loopIdleWithNoChunkShare: round(gapLoopIdleMs / readMs, 3),
      loopIdleShare: round(performance.eventLoopUtilization(loopAtStart).idle / readMs, 3),
    }),
  };
}

/** The service's consumer in this process, from joining its group until every offset is committed. */
async function serviceIngest(app: App, env: Record<string, string>, topic: string, expected: number, timeoutMs: number) {
  const settings = loadAppSettings(env);
  const logger = createLogger('warn');
  const chunks = watchChunks(app);
  const consumer = new InboundConsumer(app.kafka!, app.inbound, app.metrics, logger.child({ component: 'consumer' }), consumerOptions(settings.kernel));
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
    const cpuAtJoin = cpuMsNow();
    chunks.start();
    const stopProfile = await profileWindow('signalq-ingest');
    let doneAt: number | null = null;
    while (performance.now() - joinedAt < timeoutMs) {
      await sleep(100);
      if ((await remaining(admin, settings.kernel.KAFKA_GROUP_ID, topic, ends)) === 0) {
        doneAt = performance.now();
        break;
      }
    }
    await stopProfile();
    if (doneAt === null) throw new Error(`the service consumer had not committed every message after ${timeoutMs} ms`);
    const readMs = doneAt - joinedAt;
    return {
      readMs: round(readMs, 0),
      eventsPerSecond: round((expected / readMs) * 1000, 0),
      cpuMsPerEvent: round((cpuMsNow() - cpuAtJoin) / expected, 4),
      ...chunks.shares(readMs),
    };
  } finally {
    await consumer.stop().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The baseline: one query written by hand for this data, the same rule (spans from each event to
 * the next, cut at local midnights, a day counting from MIN_ACTIVE_MINUTES), over every park at once.
 */
const HAND_WRITTEN = `
WITH e AS (
  SELECT park_id, device_id, occurred_at, online,
         coalesce(lead(occurred_at) OVER (PARTITION BY park_id, device_id ORDER BY occurred_at), $2) AS until
    FROM signalq_device_status WHERE park_id LIKE $3 AND occurred_at >= $1 AND occurred_at < $2),
d AS (
  SELECT e.park_id, e.device_id, g AS day,
         extract(epoch FROM least(e.until, (g + interval '1 day') AT TIME ZONE $4) - greatest(e.occurred_at, g AT TIME ZONE $4)) AS seconds
    FROM e, generate_series(date_trunc('day', e.occurred_at AT TIME ZONE $4), e.until AT TIME ZONE $4, interval '1 day') g
   WHERE e.online),
per_day AS (SELECT park_id, device_id, day, sum(seconds) AS seconds FROM d WHERE seconds > 0 GROUP BY 1, 2, 3)
SELECT count(*) FILTER (WHERE seconds >= $5 * 60)::bigint AS active_days, count(DISTINCT (park_id, device_id))::int AS devices FROM per_day`;

export async function benchSignalq(databaseUrl: string, options: SignalqBenchOptions): Promise<BenchmarkResult> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `bq${suffix}`;
  // Topics of its own, so neither consumer reads what tests or earlier runs left on the broker.
  const { env, topics } = ingestEnv(databaseUrl, options.brokers, prefix);
  const kafka = createKafka(parseBrokers(options.brokers), prefix, createLogger('warn'));
  const topic = topics.TOPIC_SIGNALQ_DEVICE_STATUS!;
  let app: App | null = null;
  try {
    await ensureTopics(kafka, [topic], options.partitions);
    await ensureTopics(kafka, Object.values(topics).filter((t) => t !== topic), 1);
    const messages = makeEvents(options, prefix);
    const n = messages.length;
    console.error(`   producing ${n.toLocaleString('en-US')} status events`);
    const produceMs = await produce(kafka, topic, messages);
    const timeoutMs = options.timeoutS * 1000;
    const plain = await plainRead(kafka, topic, `${prefix}-plain`, n, timeoutMs);
    console.error(`   plain consumer: ${plain.eventsPerSecond.toLocaleString('en-US')} events/s; service consumer applying`);
    app = await createApp({ settings: loadAppSettings(env), logger: createLogger('warn'), databaseUrl });
    const ingest = await serviceIngest(app, env, topic, n, timeoutMs);
    console.error(
      `   service consumer: ${ingest.eventsPerSecond.toLocaleString('en-US')} events/s, ${ingest.cpuMsPerEvent} ms CPU per event, no chunk applied ${Math.round(ingest.noChunkAppliedShare * 100)}% of the time (event loop idle ${Math.round(ingest.loopIdleWithNoChunkShare * 100)}%), event loop idle ${Math.round(ingest.loopIdleShare * 100)}% in all; billing`,
    );
    const stored = await withClient(databaseUrl, async (db) =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM signalq_device_status WHERE park_id LIKE $1', [`${prefix}-%`])).rows[0]!.n),
    );
    if (stored !== n) throw new Error(`the history holds ${stored} rows, not ${n}`);

    // Configs: one period of `days` days from 1 Nov, Moscow days.
    await app.orm.em.fork().transactional(async (em) => {
      for (let park = 0; park < options.parks; park += 1) {
        await app!.use(signalqModule).configs.upsert(
          em,
          {
            parkId: `${prefix}-p${park}`,
            currency: 'RUB',
            dailyRate: DAILY_RATE,
            minActiveMinutes: MIN_ACTIVE_MINUTES,
            periodDays: options.days,
            periodStart: PERIOD_START,
            timezone: TIMEZONE,
            enabled: true,
            reason: null,
          },
          'bench',
          new Date(PERIOD_FROM_MS),
        );
      }
    });
    await gatherStatistics(databaseUrl);
    const periodTo = new Date(PERIOD_FROM_MS + options.days * DAY_MS);
    const handWritten = async () =>
      withClient(databaseUrl, async (db) => {
        const began = performance.now();
        const { rows } = await db.query<{ active_days: string; devices: number }>(HAND_WRITTEN, [
          new Date(PERIOD_FROM_MS),
          periodTo,
          `${prefix}-%`,
          TIMEZONE,
          MIN_ACTIVE_MINUTES,
        ]);
        return { ms: performance.now() - began, activeDays: BigInt(rows[0]!.active_days), devices: rows[0]!.devices };
      });
    const sqlFirst = await handWritten();

    const postgresNow = await postgresCpu(databaseUrl);
    const cpuBefore = cpuMsNow();
    const pgBefore = postgresNow();
    const billing = app.use(signalqModule).billing;
    const began = performance.now();
    const result = (await billing.run({ asOf: new Date(periodTo.getTime() + 3600_000), manual: true }))!;
    const runMs = performance.now() - began;
    const cpuMs = cpuMsNow() - cpuBefore;
    const pgAfter = postgresNow();
    const readMs = result.activityReadMs;
    const sqlSecond = await handWritten();
    const sqlMs = Math.min(sqlFirst.ms, sqlSecond.ms);

    const [lines] = await app.orm.em.fork().execute<{ lines: string; days: string; paid: string; amount: string }[]>(
      `SELECT count(*) AS lines, sum(active_days) AS days, count(payout_id) AS paid, sum(amount)::text AS amount FROM signalq_payment WHERE park_id LIKE ?`,
      [`${prefix}-%`],
    );
    if (BigInt(lines!.days) !== sqlFirst.activeDays) {
      throw new Error(`the run counted ${lines!.days} active days, the hand-written query ${sqlFirst.activeDays}`);
    }
    const violations = await app.checkLedger();
    if (violations.length > 0) throw new Error(`ledger invariants broken: ${JSON.stringify(violations.slice(0, 5))}`);
    const lineCount = Number(lines!.lines);
    const linesPerSecond = round((lineCount / runMs) * 1000, 0);
    const recordPerSecond = round((lineCount / readMs) * 1000, 0);
    const sqlPerSecond = round((sqlFirst.devices / sqlMs) * 1000, 0);
    const size = `${options.parks.toLocaleString('en-US')} parks × ${options.devices} devices × ${options.days} days × ${options.changesPerDay} changes`;
    return {
      name: 'signalq',
      figures: [
        {
          key: 'signalq.ingest.eventsPerSecond',
          label: '`signalq.device-status` events ingested per second (service consumer)',
          value: ingest.eventsPerSecond,
          unit: '/s',
          note: `${n.toLocaleString('en-US')} events (${size}), ${options.partitions} partitions; ${ingest.cpuMsPerEvent} ms CPU per event`,
        },
        { key: 'signalq.ingest.plainPerSecond', label: 'Same topic, plain kafkajs consumer', value: plain.eventsPerSecond, unit: '/s' },
        {
          key: 'signalq.ingest.ratio',
          label: 'Service ÷ plain consumer (events per second)',
          value: round(ingest.eventsPerSecond / plain.eventsPerSecond, 2),
          unit: '×',
          target: { op: '>=', value: 0.3 },
        },
        {
          key: 'signalq.billing.linesPerSecond',
          label: 'Billing run: lines recorded and paid per second (whole run)',
          value: linesPerSecond,
          unit: '/s',
          note: `${lineCount.toLocaleString('en-US')} lines, ${lines!.paid} payouts; recording alone ${recordPerSecond.toLocaleString('en-US')} lines/s`,
        },
        {
          key: 'signalq.billing.sqlPerSecond',
          label: 'Hand-written SQL: devices’ active days per second (one query, nothing written)',
          value: sqlPerSecond,
          unit: '/s',
          note: `${Math.round(sqlMs)} ms for ${sqlFirst.devices.toLocaleString('en-US')} devices (the faster of two runs, before and after the service's)`,
        },
        {
          key: 'signalq.billing.recordRatio',
          label: 'Recording the lines (activity read in SQL) ÷ hand-written SQL',
          value: round(recordPerSecond / sqlPerSecond, 2),
          unit: '×',
          target: { op: '>=', value: 0.5 },
        },
        {
          key: 'signalq.billing.ratio',
          label: 'Whole run (recorded and paid) ÷ hand-written SQL',
          value: round(linesPerSecond / sqlPerSecond, 2),
          unit: '×',
        },
        { key: 'signalq.billing.cpuPerLine', label: 'Billing CPU per line: service process', value: perItem(cpuMs, lineCount), unit: 'ms' },
        {
          key: 'signalq.billing.postgresCpuPerLine',
          label: 'Billing CPU per line: PostgreSQL',
          value: pgBefore === null || pgAfter === null ? null : perItem(pgAfter - pgBefore, lineCount),
          unit: 'ms',
        },
        {
          key: 'signalq.billing.runSeconds',
          label: 'The whole period’s billing run',
          value: round(runMs / 1000, 2),
          unit: 's',
          target: { op: '<=', value: 60 },
        },
      ],
      details: { options, produceMs: round(produceMs, 0), plain, ingest, result: { ...result, totals: Object.fromEntries([...result.totals].map(([c, v]) => [c, v.toString()])) }, lines, readMs: round(readMs, 0), sqlMs: round(sqlMs, 0) },
      notes: [
        `Camera billing: ${size} = ${n.toLocaleString('en-US')} status events (each device-day ONLINE/OFFLINE in turn at random minutes) produced to a fresh topic; a plain kafkajs consumer reads it, then the service's InboundConsumer applies it into the partitioned history. The billing run then records one line per device for the ${options.days}-day period in ${TIMEZONE} (a day counts from ${MIN_ACTIVE_MINUTES} online minutes) and pays every line (ledger credit + SIGNALQ payout). Its active days are checked equal to the hand-written query's; checkLedger clean.`,
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
