import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { createLogger } from '../src/platform/logger';
import { kafkaBrokers, testEnv } from './helpers/app';
import { createTestDatabase } from './helpers/database';
import { collectAll, disconnectProducer, produce, testKafka, waitFor } from './helpers/kafka';
import { buildProgram, killStrayWorkers, startWorkerProcess, type WorkerProcess } from './helpers/worker-process';
import { accrualsModule } from '../src/accruals/module';
import { erpModule } from '../src/erp/module';
import { ledgerModule } from '../src/ledger/module';
import { payoutsModule } from '../src/payouts/module';

/**
 * The ERP-status consumer killed (SIGKILL) after a transaction that applied messages committed and
 * before the broker had the offsets: the next process in the group is handed those messages again,
 * and they change nothing. Each message is its own transaction (KAFKA_CHUNK_SIZE=1), so the
 * consumer is in that window after every message; the test freezes it (SIGSTOP) until it finds it
 * there, and only then kills it.
 */
const brokers = kafkaBrokers();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Final = 'PAID' | 'RETURNED';
interface Planned {
  id: string;
  clientId: string;
  /** What the OEBS feed says about it, in order. */
  statuses: Final[];
  history: string;
}

describe.skipIf(!brokers)('the ERP-status consumer killed before it commits its offsets', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: Record<string, string>;
  let app: App;
  let admin: Admin;

  beforeAll(async () => {
    buildProgram();
    database = await createTestDatabase();
    env = testEnv(database.url, {
      kafka: true,
      // One message per transaction and offset commit; one partition at a time; the gates idle.
      env: {
        LOG_LEVEL: 'info',
        KAFKA_CHUNK_SIZE: '1',
        KAFKA_CONSUMER_CONCURRENCY: '1',
        PAYOUT_REQ_GATE_INTERVAL: '1h',
        PAYOUT_OEBS_GATE_INTERVAL: '1h',
      },
    });
    const settings = loadAppSettings({ ...env, LOG_LEVEL: 'warn' });
    app = await createApp({ settings, logger: createLogger('warn'), databaseUrl: database.url });
    admin = testKafka().admin();
    await admin.connect();
  });
  afterAll(async () => {
    killStrayWorkers();
    await admin?.disconnect();
    await disconnectProducer();
    await app?.close();
    await database?.drop();
  });

  const count = async (sql: string, params: unknown[] = []) => Number((await app.orm.em.fork().execute<{ n: string }[]>(sql, params))[0]!.n);

  /** Sent payouts of 1 000 each to clients holding 5 000, and the statuses the ERP will send for them. */
  async function sentPayouts(n: number): Promise<Planned[]> {
    const planned: Planned[] = [];
    const { lifecycle } = app.use(payoutsModule);
    for (let i = 0; i < n; i++) {
      const clientId = `kill-consumer-${i}`;
      const payee = { kind: 'CLIENT' as const, id: clientId };
      const payout = await app.orm.em.fork().transactional(async (tx) => {
        await app.use(accrualsModule).accruals.apply(
          tx,
          { payee, account: 'payout', amount: 5_000n, currency: 'RUB', reference: 'earn', occurredAt: new Date() },
          'MANUAL',
        );
        const { payout: created } = await lifecycle.create(tx, { payee, amount: 1_000n, currency: 'RUB', source: 'MANUAL', idempotencyKey: clientId });
        return (await lifecycle.send(tx, created.id)).payout;
      });
      // Paid; paid and returned; returned before its PAID arrives (applied as both).
      const statuses: Final[] = [['PAID'], ['PAID', 'RETURNED'], ['RETURNED']][i % 3] as Final[];
      const history = ['CREATED', 'SENT', 'PAID', ...(statuses.includes('RETURNED') ? ['RETURNED'] : [])].join('>');
      planned.push({ id: payout.id, clientId, statuses, history });
    }
    return planned;
  }

  /** The offset the group has committed on the topic's one partition in use (all messages share a key). */
  async function committed(topic: string): Promise<number> {
    const [entry] = await admin.fetchOffsets({ groupId: env.KAFKA_GROUP_ID!, topics: [topic] });
    return Math.max(0, ...entry!.partitions.map((p) => Number(p.offset)));
  }

  it('hands the applied but uncommitted messages to the next process, which changes nothing with them', { timeout: 180_000 }, async () => {
    const topic = app.settingsOf(erpModule).TOPIC_ERP_STATUS_OEBS;
    const planned = await sentPayouts(90);

    const victim: WorkerProcess = startWorkerProcess(database.url, env);
    expect(await victim.started(), victim.output()).toBe(true); // it has created the topics
    const messages = planned.flatMap((p) =>
      p.statuses.map((status, n) => ({
        key: 'oebs', // one partition: applied in the order sent, one offset to compare with
        value: { eventId: `${p.id}:${n}`, occurredAt: '2026-11-02T12:00:00Z', payoutId: p.id, status },
      })),
    );
    await produce(topic, messages);

    // Freeze the consumer now and then; kill it when it has applied more than it has committed.
    let caught: { applied: number; committed: number } | null = null;
    const deadline = Date.now() + 60_000;
    while (!caught && Date.now() < deadline) {
      await sleep(Math.floor(Math.random() * 8));
      victim.child.kill('SIGSTOP');
      await sleep(50); // an offset commit already on its way reaches the broker
      const applied = await count('SELECT count(*) AS n FROM inbox_event WHERE topic = ?', [topic]);
      const offset = await committed(topic);
      if (applied > offset) caught = { applied, committed: offset };
      else if (applied === messages.length) break;
      else victim.child.kill('SIGCONT');
    }
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(caught, 'the consumer was never caught between its commit to the database and its offsets').not.toBeNull();
    expect(caught!.applied).toBeLessThan(messages.length);

    // The next process of the group resumes from the committed offset: it is handed what was applied again.
    const heir = startWorkerProcess(database.url, env);
    expect(await heir.started(), heir.output()).toBe(true);
    const applied = await waitFor(
      () => count('SELECT count(*) AS n FROM inbox_event WHERE topic = ?', [topic]),
      (n) => n === messages.length,
      90_000,
    );
    expect(applied, heir.output()).toBe(messages.length);
    expect(await waitFor(() => committed(topic), (n) => n === messages.length, 30_000)).toBe(messages.length);

    // Each status applied once: the histories as planned, no dead letters, the money where it belongs.
    expect(await count('SELECT count(*) AS n FROM dead_letter')).toBe(0);
    const rows = await app.orm.em
      .fork()
      .execute<{ id: string; sequence: number; history: string }[]>(
        `SELECT id, sequence, (SELECT string_agg(status, '>' ORDER BY sequence) FROM payout_status_change WHERE payout_id = p.id) AS history
           FROM payout p`,
      );
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const p of planned) {
      expect(byId.get(p.id), p.id).toEqual({ id: p.id, sequence: p.history.split('>').length, history: p.history });
      const accounts = await app.use(ledgerModule).ledger.accountsOf(app.orm.em.fork(), { kind: 'CLIENT', id: p.clientId });
      const balance = Object.fromEntries(accounts.map((a) => [a.type, a.balance]));
      expect(balance, p.id).toMatchObject({ payout: p.statuses.includes('RETURNED') ? 5_000n : 4_000n, 'payout-reserved': 0n, 'payout-sent': 0n });
    }
    expect(await app.checkLedger()).toEqual([]);

    // Every step reached payouts.events (at least once: a publisher killed mid-batch sends again), and nothing more.
    await waitFor(() => count('SELECT count(*) AS n FROM outbox_message'), (n) => n === 0, 30_000);
    const events = await collectAll(app.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS);
    for (const p of planned) {
      const steps = new Map<number, string>();
      for (const e of events.filter((m) => m.key === p.id).map((m) => m.value as { sequence: number; status: string })) {
        expect(steps.get(e.sequence) ?? e.status, `${p.id} #${e.sequence}`).toBe(e.status);
        steps.set(e.sequence, e.status);
      }
      expect([...steps].sort(([a], [b]) => a - b).map(([, status]) => status).join('>'), p.id).toBe(p.history);
    }

    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });
  });
});
