import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { migrateAll } from '../src/app/processes';
import { worldAccount } from '../src/ledger/ledger.service';
import type { PayoutRow } from '../src/payouts/payout-messages';
import { answers, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres';
import { freePort } from '../src/platform/free-port';
import { createLogger } from '../src/platform/logger';
import { OutboxPublisher } from '../src/platform/outbox/publisher';
import { kafkaBrokers, testEnv } from './helpers/app';
import { collectAll, waitFor } from './helpers/kafka';
import { erpModule } from '../src/erp/module';
import { ledgerModule } from '../src/ledger/module';
import { payoutsModule } from '../src/payouts/module';

/**
 * PostgreSQL killed right after the ERP sender's asynchronously committed sends. Those commits
 * may not have reached the disk: a crash can undo the last of them, each whole (contracts of
 * `payout_step_each`). What must hold: no payout is lost or half-sent, nothing the world heard of
 * is undone (the publisher makes the WAL durable before a message leaves), and in the end every
 * payout is sent and published once. The crash is real: a server of the test's own, on a free
 * port, whose backend is killed (SIGKILL), so the server throws its memory away and recovers
 * from its WAL on disk. The WAL writer is slowed down so that asynchronous commits wait in memory.
 */
const brokers = kafkaBrokers();
const logger = createLogger('warn');
const dataDir = path.resolve(__dirname, '..', '.data', `test-outbox-crash-${process.pid}`);

describe.skipIf(!brokers)('PostgreSQL killed right after asynchronously committed sends', () => {
  let server: EmbeddedDatabase;
  let env: Record<string, string>;
  let app: App;

  async function open(): Promise<App> {
    const settings = loadAppSettings(env);
    return createApp({ settings, logger: createLogger(settings.kernel.LOG_LEVEL), databaseUrl: server.url, connectProducer: true });
  }

  /** A server process dies: PostgreSQL ends every session, drops its shared memory and recovers from the WAL on disk. */
  async function crash(): Promise<void> {
    const victim = new Client({ connectionString: server.url });
    victim.on('error', () => undefined);
    await victim.connect();
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    process.kill(rows[0]!.pid, 'SIGKILL');
    await victim.end().catch(() => undefined);
    // Wait until the server has noticed and taken sessions again: recovery done.
    await waitFor(async () => !(await answers(server.url)), (down) => down, 5_000).catch(() => undefined);
    expect(await waitFor(() => answers(server.url), (up) => up, 60_000)).toBe(true);
  }

  /** The process restarts after the crash: the old one's connections are gone with the server's sessions. */
  async function restart(): Promise<void> {
    await app.close().catch(() => undefined);
    app = await open();
  }

  beforeAll(async () => {
    server = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'payouts', logger });
    const admin = new Client({ connectionString: server.url });
    await admin.connect();
    await admin.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    env = testEnv(server.url, { kafka: true });
    app = await open();
    await migrateAll(app);
  }, 180_000);
  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function createdPayouts(prefix: string, count: number): Promise<PayoutRow[]> {
    const payee = { kind: 'CLIENT' as const, id: prefix };
    await app.orm.em.fork().transactional((tx) =>
      app.use(ledgerModule).ledger.move(tx, worldAccount('RUB'), { owner: { kind: 'CLIENT', id: prefix }, type: 'payout', currency: 'RUB' }, {
        idempotencyKey: `fund:${prefix}`,
        amount: BigInt(count) * 1_000n,
        kind: 'test_funding',
      }),
    );
    const created: PayoutRow[] = [];
    for (let i = 0; i < count; i++) {
      const { payout } = await app.orm.em
        .fork()
        .transactional((tx) => app.use(payoutsModule).lifecycle.create(tx, { payee, amount: 1_000n, currency: 'RUB', source: 'MANUAL', idempotencyKey: `${prefix}-${i}` }));
      created.push(payout);
    }
    return created;
  }

  interface State {
    status: string;
    history: string;
    facts: string[];
    sentTransfers: number;
    erpMessages: number;
  }

  /** Each payout as the database has it, with everything its SENT step writes. */
  async function states(ids: string[]): Promise<Map<string, State>> {
    const rows = await app.orm.em.fork().execute<(State & { id: string })[]>(
      `SELECT p.id, p.status,
              (SELECT string_agg(status, '>' ORDER BY sequence) FROM payout_status_change WHERE payout_id = p.id) AS history,
              ARRAY(SELECT f.id::text FROM cash_payment_fact f WHERE f.payout_id = p.id) AS facts,
              (SELECT count(*)::int FROM ledger_transfer t WHERE t.idempotency_key = 'payout:' || p.id || ':SENT') AS "sentTransfers",
              (SELECT count(*)::int FROM outbox_message o WHERE o.topic = ? AND o.key = p.id::text) AS "erpMessages"
         FROM payout p WHERE p.id IN (?)`,
      [app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS, ids],
    );
    return new Map(rows.map(({ id, ...state }) => [id, state]));
  }

  /** Every payout whole: CREATED with nothing of its send, or SENT with all of it (the erp.payouts message may have left already). */
  function expectWhole(state: State | undefined, id: string): void {
    if (state?.status === 'CREATED') expect(state, id).toEqual({ status: 'CREATED', history: 'CREATED', facts: [], sentTransfers: 0, erpMessages: 0 });
    else expect(state, id).toMatchObject({ status: 'SENT', history: 'CREATED>SENT', facts: [expect.any(String)], sentTransfers: 1 });
  }

  /** The cash-payment fact each erp.payouts message on the topic names, by payout. */
  async function publishedFacts(): Promise<Map<string, string[]>> {
    const byPayout = new Map<string, string[]>();
    for (const m of await collectAll(app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS)) {
      const value = m.value as { payoutId: string; cashPaymentFactId: string };
      byPayout.set(value.payoutId, [...(byPayout.get(value.payoutId) ?? []), value.cashPaymentFactId]);
    }
    return byPayout;
  }

  /** The send gate and the publisher finish the work: every payout sent, and published. */
  async function finish(ids: string[]): Promise<void> {
    while ((await app.use(erpModule).gateway.sendBatch(100)).sent > 0);
    await app.outbox.drain();
    const now = await states(ids);
    for (const id of ids) expect(now.get(id), id).toMatchObject({ status: 'SENT', history: 'CREATED>SENT', facts: [expect.any(String)], erpMessages: 0 });
    const published = await publishedFacts();
    // Whatever was published more than once names one fact: the one the database kept.
    for (const id of ids) expect(new Set(published.get(id)), id).toEqual(new Set(now.get(id)!.facts));
    expect(await app.checkLedger()).toEqual([]);
  }

  it('loses no payout and sends each once when the crash comes before anything was published', { timeout: 180_000 }, async () => {
    const payouts = await createdPayouts('crash-unpublished', 40);
    const ids = payouts.map((p) => p.id);
    expect(await app.use(payoutsModule).sender.sendEach(app.orm.em.fork(), payouts, { actor: 'test' })).toEqual(ids.map(() => true));
    await crash();
    await restart();

    const after = await states(ids);
    for (const id of ids) expectWhole(after.get(id), id);
    // The premise: the crash undid some sends the sender had been told were committed.
    const undone = ids.filter((id) => after.get(id)!.status === 'CREATED');
    expect(undone.length, 'no send was undone by the crash').toBeGreaterThan(0);
    expect(await app.checkLedger()).toEqual([]);

    await finish(ids);
  });

  it('never publishes a send the crash undoes, when the publisher had just handed the broker its batch', { timeout: 180_000 }, async () => {
    const payouts = await createdPayouts('crash-published', 40);
    const ids = payouts.map((p) => p.id);
    expect(await app.use(payoutsModule).sender.sendEach(app.orm.em.fork(), payouts, { actor: 'test' })).toEqual(ids.map(() => true));
    // The publisher takes the sends' messages; right after the broker has them, the server dies.
    const producer = app.producer!;
    const crashing = {
      sendBatch: async (batch: Parameters<typeof producer.sendBatch>[0]) => {
        const result = await producer.sendBatch(batch);
        await crash();
        return result;
      },
    } as unknown as typeof producer;
    await expect(new OutboxPublisher(app.orm, crashing, app.metrics, app.logger, 1_000).drain()).rejects.toThrow();
    await restart();

    const after = await states(ids);
    for (const id of ids) expectWhole(after.get(id), id);
    // What the ERP was told is what the database kept.
    const published = await publishedFacts();
    const told = ids.filter((id) => published.has(id));
    expect(told.length, 'the batch reached the broker').toBeGreaterThan(0);
    for (const id of told) expect(after.get(id)!.facts, id).toEqual(published.get(id));
    expect(await app.checkLedger()).toEqual([]);

    await finish(ids);
  });
});
