import { KafkaJSError } from 'kafkajs';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { worldAccount } from '../src/ledger/ledger.service';
import type { PayoutStatus } from '../src/payouts/lifecycle';
import { createLogger } from '../src/platform/logger';
import { OutboxPoller } from '../src/platform/outbox/poller';
import { OutboxPublisher } from '../src/platform/outbox/publisher';
import type { Payee } from '../src/access/payee';
import { createTestApp, kafkaBrokers, startTestServer, testEnv, type TestApp, type TestServer } from './helpers/app';
import { collectAll, testKafka, waitFor, type ReceivedMessage } from './helpers/kafka';
import { buildProgram, killStrayWorkers, startWorkerProcess } from './helpers/worker-process';
import { createTestDatabase } from './helpers/database';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { erpModule } from '../src/erp/module';

const brokers = kafkaBrokers();

/** Puts money on a payee's payout account straight from the world account (shops have no accruals). */
async function fund(app: App, payee: Payee, amount: bigint, reference: string): Promise<void> {
  const id = payee.kind === 'SHOP' ? `${payee.partyId}/${payee.shopId}` : payee.id;
  await app.orm.em.fork().transactional((tx) =>
    app.use(ledgerModule).ledger.move(tx, worldAccount('RUB'), { owner: { kind: payee.kind, id }, type: 'payout', currency: 'RUB' }, {
      idempotencyKey: `test-funding:${reference}`,
      amount,
      kind: 'test_funding',
    }),
  );
}

async function payoutThrough(app: App, payee: Payee, amount: bigint, key: string, steps: PayoutStatus[], payoutToolId?: string) {
  const { payout } = await app.orm.em.fork().transactional((tx) =>
    app.use(payoutsModule).lifecycle.create(tx, { payee, amount, currency: 'RUB', source: 'MANUAL', idempotencyKey: key, payoutToolId }),
  );
  for (const step of steps) await app.orm.em.fork().transactional((tx) => app.use(payoutsModule).lifecycle.transition(tx, payout.id, step));
  return payout.id;
}

function outboxSize(app: App): Promise<number> {
  return app.orm.em
    .fork()
    .execute<{ n: string }[]>('SELECT count(*) AS n FROM outbox_message')
    .then((rows) => Number(rows[0]!.n));
}

function eventsOf(messages: ReceivedMessage[], payoutId: string) {
  return messages.filter((m) => m.key === payoutId).map((m) => m.value as { payoutId: string; sequence: number; status: string; payout: Record<string, unknown> });
}

describe.skipIf(!brokers)('outbox to Kafka, published by the worker', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ worker: true, consumers: true }, { kafka: true });
  });
  afterAll(async () => server?.close());

  it('publishes every change to payouts.events and each sent payout once to erp.payouts, then empties the outbox', async () => {
    const app = server.app;
    const client: Payee = { kind: 'CLIENT', id: 'c-outbox' };
    const shop: Payee = { kind: 'SHOP', partyId: 'p-outbox', shopId: 's-outbox' };
    await fund(app, client, 200_000n, 'client');
    await fund(app, shop, 100_000n, 'shop');
    const paid = await payoutThrough(app, client, 67_000n, 'outbox-paid', ['SENT', 'ACCEPTED', 'PAID']);
    const rejected = await payoutThrough(app, shop, 40_000n, 'outbox-rejected', ['SENT', 'REJECTED'], 'tool-1');
    const cancelled = await payoutThrough(app, client, 1_000n, 'outbox-cancelled', ['CANCELLED']);

    expect(await waitFor(() => outboxSize(app), (n) => n === 0)).toBe(0);

    const events = await collectAll(app.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS);
    expect(events).toHaveLength(4 + 3 + 2);
    for (const [id, statuses] of [
      [paid, ['CREATED', 'SENT', 'ACCEPTED', 'PAID']],
      [rejected, ['CREATED', 'SENT', 'REJECTED']],
      [cancelled, ['CREATED', 'CANCELLED']],
    ] as const) {
      const mine = eventsOf(events, id);
      // Arrival order on the payout's partition is publishing order.
      expect(mine.map((e) => [e.sequence, e.status])).toEqual(statuses.map((s, i) => [i + 1, s]));
      for (const e of mine) expect(e).toMatchObject({ payoutId: id, payout: { id, status: e.status, sequence: e.sequence } });
    }
    expect(eventsOf(events, paid)[0]!.payout).toMatchObject({ amount: '67000', currency: 'RUB', payee: { kind: 'CLIENT', id: 'c-outbox' } });

    const erp = await collectAll(app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS);
    expect(erp.map((m) => m.key).sort()).toEqual([paid, rejected].sort());
    const em = app.orm.em.fork();
    for (const [id, payee, amount, tool] of [
      [paid, { kind: 'CLIENT', id: 'c-outbox' }, '67000', undefined],
      [rejected, { kind: 'SHOP', partyId: 'p-outbox', shopId: 's-outbox' }, '40000', 'tool-1'],
    ] as const) {
      const [row] = await em.execute<{ account_id: string; created_at: Date }[]>('SELECT account_id, created_at FROM payout WHERE id = ?', [id]);
      const [sent] = await em.execute<{ occurred_at: Date }[]>(
        "SELECT occurred_at FROM payout_status_change WHERE payout_id = ? AND status = 'SENT'",
        [id],
      );
      const [transfer] = await em.execute<{ id: string }[]>('SELECT id FROM ledger_transfer WHERE idempotency_key = ?', [`payout:${id}:SENT`]);
      // The cash-payment fact names the SENT transfer and the reserved account the money left.
      const [fact] = await em.execute<{ id: string; transfer_id: string; account_id: string }[]>(
        'SELECT id, transfer_id, account_id FROM cash_payment_fact WHERE payout_id = ?',
        [id],
      );
      expect(String(fact!.transfer_id)).toBe(String(transfer!.id));
      expect(String(fact!.account_id)).not.toBe(String(row!.account_id));
      expect(erp.find((m) => m.key === id)!.value).toEqual({
        payoutId: id,
        payee,
        accountId: String(row!.account_id),
        amount,
        currency: 'RUB',
        ...(tool ? { payoutToolId: tool } : {}),
        cashPaymentFactId: fact!.id,
        createdAt: new Date(row!.created_at).toISOString(),
        sentAt: new Date(sent!.occurred_at).toISOString(),
      });
    }
  });
});

describe.skipIf(!brokers)('outbox with Kafka off', () => {
  let off: TestApp;
  let publisher: App | null = null;
  beforeAll(async () => {
    // The same topic names the publisher will have, so what waits is addressed where it will go.
    const topics = Object.fromEntries(Object.entries(testEnv('postgres://unused', { kafka: true })).filter(([k]) => k.startsWith('TOPIC_')));
    off = await createTestApp({ env: topics });
  });
  afterAll(async () => {
    await publisher?.close();
    await off?.close();
  });

  it('keeps messages in outbox_message until a process with Kafka publishes them', async () => {
    const client: Payee = { kind: 'CLIENT', id: 'c-offline' };
    await fund(off.app, client, 10_000n, 'offline');
    const id = await payoutThrough(off.app, client, 10_000n, 'offline-1', ['SENT']);
    expect(off.app.kafka).toBeNull();
    expect(await off.app.outbox.drain()).toBe(0);
    expect(await outboxSize(off.app)).toBe(3);

    const settings = loadAppSettings({ ...off.env, KAFKA_BROKERS: brokers!, KAFKA_CLIENT_ID: 'payouts-test-outbox-publisher' });
    publisher = await createApp({ settings, logger: createLogger(settings.kernel.LOG_LEVEL), databaseUrl: off.env.DATABASE_URL!, connectProducer: true });
    expect(await publisher.outbox.drain()).toBe(3);
    expect(await outboxSize(off.app)).toBe(0);

    const events = await collectAll(publisher.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS);
    expect(eventsOf(events, id).map((e) => [e.sequence, e.status])).toEqual([
      [1, 'CREATED'],
      [2, 'SENT'],
    ]);
    const erp = await collectAll(publisher.settingsOf(erpModule).TOPIC_ERP_PAYOUTS);
    expect(erp.map((m) => [m.key, (m.value as { payoutId: string }).payoutId])).toEqual([[id, id]]);
  });

  it('hands on an asynchronously committed send only once its WAL is on disk', async () => {
    const client: Payee = { kind: 'CLIENT', id: 'c-durable' };
    await fund(off.app, client, 5_000n, 'durable');
    const { payout } = await off.app.orm.em
      .fork()
      .transactional((tx) => off.app.use(payoutsModule).lifecycle.create(tx, { payee: client, amount: 5_000n, currency: 'RUB', source: 'MANUAL', idempotencyKey: 'durable-1' }));
    const lsn = (sql: string) => off.app.pgPool.query<{ lsn: string }>(sql).then((r) => r.rows[0]!.lsn);
    // The ERP sender's path: each send committed without waiting for the disk.
    expect(await off.app.use(payoutsModule).sender.sendEach(off.app.orm.em.fork(), [payout], { actor: 'test' })).toEqual([true]);
    const sentUpTo = await lsn('SELECT pg_current_wal_insert_lsn()::text AS lsn');

    // What the broker is handed, and how far the WAL was on disk at that moment.
    const flushedAtSend: boolean[] = [];
    const producer = publisher!.producer!;
    const watched = {
      sendBatch: async (batch: Parameters<typeof producer.sendBatch>[0]) => {
        const flushed = await off.app.pgPool.query<{ ok: boolean }>('SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS ok', [sentUpTo]);
        flushedAtSend.push(flushed.rows[0]!.ok);
        return producer.sendBatch(batch);
      },
    } as unknown as typeof producer;
    const watchedPublisher = new OutboxPublisher(publisher!.orm, watched, publisher!.metrics, publisher!.logger, 500);
    expect(await watchedPublisher.drain()).toBe(3);
    expect(flushedAtSend).toEqual([true]);
    const erp = await collectAll(publisher!.settingsOf(erpModule).TOPIC_ERP_PAYOUTS);
    expect(erp.filter((m) => m.key === payout.id)).toHaveLength(1);
  });
});

/** What is on each topic, as `topic/key/value` lines with how often each was published. */
async function publishedOn(topics: string[]): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const topic of topics) {
    for (const m of await collectAll(topic)) {
      const line = `${topic}/${m.key}/${JSON.stringify(m.value)}`;
      seen.set(line, (seen.get(line) ?? 0) + 1);
    }
  }
  return seen;
}

/** The outbox's rows as the lines `publishedOn` gives for them. */
async function outboxLines(app: App): Promise<string[]> {
  const rows = await app.orm.em.fork().execute<{ topic: string; key: string; value: string }[]>('SELECT topic, key, value FROM outbox_message ORDER BY id');
  return rows.map((r) => `${r.topic}/${r.key}/${JSON.stringify(JSON.parse(r.value))}`);
}

describe.skipIf(!brokers)('the outbox when publishing fails part-way', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ kafka: true });
  });
  afterAll(async () => t?.close());

  it('keeps every message when the broker refuses a batch, even one it took in part, and the poller publishes them all later', async () => {
    const { app } = t;
    await fund(app, { kind: 'CLIENT', id: 'c-refused' }, 50_000n, 'refused');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await payoutThrough(app, { kind: 'CLIENT', id: 'c-refused' }, 1_000n, `refused-${i}`, ['SENT']));
    const written = await outboxLines(app);
    expect(written).toHaveLength(15); // CREATED and SENT on payouts.events, one erp.payouts each

    // The broker takes the first topic of the batch, then the call fails (as a timeout or a lost leader does).
    const producer = app.producer!;
    let refusals = 2;
    const flaky = {
      sendBatch: async (batch: Parameters<typeof producer.sendBatch>[0]) => {
        if (refusals-- > 0) {
          await producer.sendBatch({ ...batch, topicMessages: batch.topicMessages!.slice(0, 1) });
          throw new KafkaJSError('the broker did not answer in time', { retriable: true });
        }
        return producer.sendBatch(batch);
      },
    } as unknown as typeof producer;
    const publisher = new OutboxPublisher(app.orm, flaky, app.metrics, app.logger, 500);
    await expect(publisher.drain()).rejects.toThrow(/did not answer/);
    expect(await outboxLines(app)).toEqual(written);

    // The worker's poller tries again after a failure and empties the outbox.
    const poller = new OutboxPoller(() => publisher.drain(), app.logger, 20);
    poller.start();
    try {
      expect(await waitFor(() => outboxSize(app), (n) => n === 0, 10_000)).toBe(0);
    } finally {
      await poller.stop();
    }
    const published = await publishedOn([app.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS, app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS]);
    // At least once each; the part the broker took before failing, more than once.
    expect([...published.keys()].sort()).toEqual([...written].sort());
    expect([...published.values()].some((n) => n > 1)).toBe(true);
    for (const id of ids) expect(await payoutStatus(app, id)).toBe('SENT');
  });
});

describe.skipIf(!brokers)('the outbox publisher killed between the broker’s acknowledgement and its DELETE', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: Record<string, string>;
  let app: App;
  beforeAll(async () => {
    buildProgram();
    database = await createTestDatabase();
    // Small batches: the batch caught in flight is a part of the outbox, not all of it.
    env = testEnv(database.url, {
      kafka: true,
      env: { LOG_LEVEL: 'info', OUTBOX_BATCH_SIZE: '5', OUTBOX_POLL_INTERVAL: '10ms', PAYOUT_REQ_GATE_INTERVAL: '1h', PAYOUT_OEBS_GATE_INTERVAL: '1h' },
    });
    const settings = loadAppSettings({ ...env, LOG_LEVEL: 'warn' });
    app = await createApp({ settings, logger: createLogger('warn'), databaseUrl: database.url });
  });
  afterAll(async () => {
    killStrayWorkers();
    await app?.close();
    await database?.drop();
  });

  it('publishes what it had sent again from the next process, and loses nothing', { timeout: 180_000 }, async () => {
    const client: Payee = { kind: 'CLIENT', id: 'c-publisher-killed' };
    await fund(app, client, 1_000_000n, 'publisher-killed');
    // Sent already, so the worker's start-up send gate finds nothing to do: only the outbox moves.
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await payoutThrough(app, client, 1_000n, `publisher-killed-${i}`, ['SENT']));
    const written = await outboxLines(app);
    const topics = [app.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS, app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS];
    const admin = testKafka().admin();
    await admin.connect();
    const onTopics = async () => {
      let total = 0;
      for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic).catch(() => [])) total += Number(p.high) - Number(p.low);
      return total;
    };

    // Holds the window open instead of hunting for it: a SHARE lock on the outbox lets the publisher
    // read and lock its batch (ROW SHARE) and send it, while its DELETE (ROW EXCLUSIVE) waits.
    // (Another session watches: inside a transaction, pg_stat_activity is a snapshot taken once.)
    const gate = new Client({ connectionString: database.url });
    const watcher = new Client({ connectionString: database.url });
    await Promise.all([gate.connect(), watcher.connect()]);
    try {
      await gate.query('BEGIN');
      await gate.query('LOCK TABLE outbox_message IN SHARE MODE');
      const victim = startWorkerProcess(database.url, env);
      const waiting = await waitFor(() => deletesWaiting(watcher), (pids) => pids.length > 0, 60_000);
      expect(waiting, `the publisher never reached its DELETE: ${victim.output()}`).toHaveLength(1);
      const published = await onTopics();
      expect(published, 'the broker acknowledged the batch before the DELETE').toBeGreaterThan(0);
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
      // The dead process's server session would run the DELETE once the lock is gone and only then
      // find its client gone: end it first, as the server does when it notices the socket closed.
      await gate.query('SELECT pg_terminate_backend($1)', [waiting[0]]);
      await waitFor(() => sessionAlive(watcher, waiting[0]!), (alive) => !alive, 10_000);
      await gate.query('ROLLBACK');
      // Its transaction died with it: the broker has the batch, and the outbox still has every line.
      expect(await outboxSize(app)).toBe(written.length);
      expect(await onTopics()).toBe(published);

      const heir = startWorkerProcess(database.url, env);
      expect(await waitFor(() => outboxSize(app), (n) => n === 0, 60_000), heir.output()).toBe(0);
      heir.child.kill('SIGTERM');
      expect(await heir.exited).toEqual({ code: 0, signal: null });
    } finally {
      await Promise.all([gate.end(), watcher.end()]);
      await admin.disconnect();
    }

    const published = await publishedOn(topics);
    expect([...published.keys()].sort()).toEqual([...written].sort());
    expect([...published.values()].filter((n) => n > 1).length, 'the batch in flight was published again').toBeGreaterThan(0);
    for (const id of ids) expect(await payoutStatus(app, id)).toBe('SENT');
    expect(await app.checkLedger()).toEqual([]);
  });
});

/** Server sessions whose DELETE of outbox lines waits for a lock. */
async function deletesWaiting(client: Client): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
      WHERE NOT l.granted AND l.relation = 'outbox_message'::regclass AND a.query ILIKE 'delete from outbox_message%'`,
  );
  return rows.map((r) => r.pid);
}

async function sessionAlive(client: Client, pid: number): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
  return rows.length > 0;
}

async function payoutStatus(app: App, id: string): Promise<string> {
  const [row] = await app.orm.em.fork().execute<{ status: string }[]>('SELECT status FROM payout WHERE id = ?', [id]);
  return row!.status;
}
