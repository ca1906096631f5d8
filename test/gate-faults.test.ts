import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { createLogger } from '../src/platform/logger';
import { createTestApp, TEST_JWT_SECRET, testEnv, type TestApp } from './helpers/app';
import { createTestDatabase } from './helpers/database';
import { waitFor } from './helpers/kafka';
import { requestsModule } from '../src/requests/module';
import { erpModule } from '../src/erp/module';
import { accrualsModule } from '../src/accruals/module';
import { Random, seedFromEnv } from './helpers/random';

/**
 * The gates under faults: two workers racing over the same queues, and a worker process killed
 * (SIGKILL) in the middle of its batches. Whatever happens, every request is settled once, every
 * payout is created once and sent once, and the books hold.
 */
const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin/payouts.js');

/** A second set of services on a database another app already uses: a second worker. */
async function appOn(databaseUrl: string, env: Record<string, string> = {}): Promise<App> {
  const settings = loadAppSettings(testEnv(databaseUrl, { env }));
  return createApp({ settings, logger: createLogger(settings.kernel.LOG_LEVEL), databaseUrl });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The order requests are recorded in comes from the seed: `SEED=… npx vitest run test/gate-faults.test.ts` replays it. */
const SEED = seedFromEnv();

/** A fresh generator from the run's seed, and the seed printed if the test fails. */
function seeded(): Random {
  onTestFailed(() => console.error(`gate-faults: replay with SEED=${SEED}`));
  return new Random(SEED);
}

function shuffle<T>(items: T[], rng: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Funding {
  clientId: string;
  currency: string;
  amount: bigint;
}

/** Funds the clients' payout accounts and records `perClient` requests each, in shuffled order. */
async function seed(app: App, fundings: Funding[], perClient: number, rng: Random): Promise<void> {
  for (let i = 0; i < fundings.length; i += 100) {
    await app.orm.em.fork().transactional(async (em) => {
      for (const f of fundings.slice(i, i + 100)) {
        await app.use(accrualsModule).accruals.apply(
          em,
          { payee: { kind: 'CLIENT', id: f.clientId }, account: 'payout', amount: f.amount, currency: f.currency, reference: `seed-${f.currency}`, occurredAt: new Date() },
          'MANUAL',
        );
      }
    });
  }
  const clients = [...new Set(fundings.map((f) => f.clientId))];
  const requests = shuffle(
    clients.flatMap((clientId) => Array.from({ length: perClient }, (_, n) => ({ clientId, key: `burst-${n}` }))),
    rng,
  );
  for (let i = 0; i < requests.length; i += 100) {
    await app.orm.em.fork().transactional(async (em) => {
      for (const r of requests.slice(i, i + 100)) {
        await app.use(requestsModule).requests.record(em, { clientId: r.clientId, idempotencyKey: r.key, actor: 'test' });
      }
    });
  }
}

async function count(app: App, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await app.orm.em.fork().execute<{ n: string }[]>(sql, params);
  return Number(row!.n);
}

const requestsIn = (app: App, status: string) => count(app, 'SELECT count(*) AS n FROM payout_request WHERE status = ?', [status]);
const payoutsIn = (app: App, status: string) => count(app, 'SELECT count(*) AS n FROM payout WHERE status = ?', [status]);

/**
 * What must hold once the gates are done, however they got there: every request DONE exactly
 * once; one payout per funded client and currency, for the whole balance, made by one of that
 * client's requests; every payout SENT once, with one cash-payment fact, one erp.payouts outbox
 * message and one SENT transfer; the ledger's invariants.
 */
async function expectSettledOnce(app: App, fundings: Funding[], requests: number): Promise<void> {
  const em = () => app.orm.em.fork();
  const statuses = await em().execute<{ status: string; n: string }[]>('SELECT status, count(*) AS n FROM payout_request GROUP BY status');
  const failures = await em().execute<{ error: string }[]>("SELECT error FROM payout_request WHERE status = 'ERROR' LIMIT 5");
  expect(failures.map((f) => f.error)).toEqual([]);
  expect(Object.fromEntries(statuses.map((s) => [s.status, Number(s.n)]))).toEqual({ DONE: requests });
  expect(await count(app, 'SELECT count(*) AS n FROM payout_request WHERE attempts <> 1 OR processed_at IS NULL')).toBe(0);

  const payouts = await em().execute<{ payee_id: string; currency: string; n: string; total: string }[]>(
    'SELECT payee_id, currency, count(*) AS n, sum(amount)::text AS total FROM payout GROUP BY payee_id, currency',
  );
  const made = new Map(payouts.map((p) => [`${p.payee_id}/${p.currency.trim()}`, { n: Number(p.n), total: BigInt(p.total) }]));
  const expected = new Map(fundings.map((f) => [`${f.clientId}/${f.currency}`, { n: 1, total: f.amount }]));
  expect(made).toEqual(expected);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM payout p LEFT JOIN payout_request r ON r.id::text = p.source_ref
        WHERE p.source <> 'REQUEST' OR r.client_id IS DISTINCT FROM p.payee_id OR r.status <> 'DONE'`,
    ),
  ).toBe(0);

  const payoutCount = fundings.length;
  expect(await payoutsIn(app, 'SENT')).toBe(payoutCount);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM payout p
        WHERE (SELECT string_agg(status, ',' ORDER BY sequence) FROM payout_status_change WHERE payout_id = p.id) <> 'CREATED,SENT'`,
    ),
  ).toBe(0);
  expect(await count(app, 'SELECT count(*) AS n FROM cash_payment_fact')).toBe(payoutCount);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM payout p
        WHERE NOT EXISTS (SELECT 1 FROM cash_payment_fact f
                           JOIN ledger_transfer t ON t.id = f.transfer_id
                          WHERE f.payout_id = p.id AND f.amount = p.amount AND t.idempotency_key = 'payout:' || p.id || ':SENT')`,
    ),
  ).toBe(0);
  const erpTopic = app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS;
  expect(await count(app, 'SELECT count(*) AS n FROM outbox_message WHERE topic = ?', [erpTopic])).toBe(payoutCount);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM payout p
        WHERE (SELECT count(*) FROM outbox_message o WHERE o.topic = ? AND o.key = p.id::text) <> 1`,
      [erpTopic],
    ),
  ).toBe(0);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM outbox_message o JOIN cash_payment_fact f ON f.payout_id::text = o.key
        WHERE o.topic = ? AND (o.value::jsonb ->> 'cashPaymentFactId') IS DISTINCT FROM f.id::text`,
      [erpTopic],
    ),
  ).toBe(0);
  expect(
    await count(
      app,
      "SELECT count(*) AS n FROM ledger_account WHERE owner_kind = 'CLIENT' AND type IN ('payout', 'payout-reserved') AND balance <> 0",
    ),
  ).toBe(0);
  expect(await app.checkLedger(em())).toEqual([]);
}

describe('two workers racing over the same queues', () => {
  let first: TestApp;
  let second: App;
  beforeAll(async () => {
    first = await createTestApp();
    second = await appOn(first.env.DATABASE_URL!);
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it(`settles every request once and sends every payout once (SEED=${SEED})`, { timeout: 180_000 }, async () => {
    const rng = seeded();
    const fundings: Funding[] = [];
    for (let i = 0; i < 100; i++) {
      fundings.push({ clientId: `race-${i}`, currency: 'RUB', amount: BigInt(1_000 + i) });
      if (i % 3 === 0) fundings.push({ clientId: `race-${i}`, currency: 'USD', amount: BigInt(500 + i) });
    }
    await seed(first.app, fundings, 5, rng);
    expect(await requestsIn(first.app, 'NEW')).toBe(500);

    const apps = [first.app, second];
    const taken = [0, 0];
    const sent = [0, 0];
    const deadline = Date.now() + 120_000;
    let processing = true;

    // Both workers run both gates at once, in small batches, until the queues are empty.
    const processLoop = async (i: number) => {
      while (Date.now() < deadline) {
        const n = await apps[i]!.use(requestsModule).requests.processBatch(20);
        taken[i]! += n;
        if (n === 0) {
          if ((await requestsIn(apps[i]!, 'NEW')) === 0) return;
          await sleep(5); // the rest is locked by the other worker
        }
      }
    };
    const sendLoop = async (i: number) => {
      while (Date.now() < deadline) {
        const result = await apps[i]!.use(erpModule).gateway.sendBatch(15);
        sent[i]! += result.sent;
        if (result.sent === 0) {
          if (!processing && (await payoutsIn(apps[i]!, 'CREATED')) === 0) return;
          await sleep(5);
        }
      }
    };
    const requestGates = Promise.all([processLoop(0), processLoop(1)]).finally(() => {
      processing = false;
    });
    await Promise.all([requestGates, sendLoop(0), sendLoop(1)]);

    // Each request was taken by exactly one of them, each payout sent by exactly one of them.
    expect(taken[0]! + taken[1]!).toBe(500);
    expect(sent[0]! + sent[1]!).toBe(fundings.length);
    // The premise: both really worked the queues.
    expect(taken[0]).toBeGreaterThan(0);
    expect(taken[1]).toBeGreaterThan(0);
    await expectSettledOnce(first.app, fundings, 500);
  });
});

describe('a sending ceiling (PAYOUT_SEND_RATE) with several workers', () => {
  it('lets one worker send at a time, so the ceiling is the ERP’s; without a ceiling they send side by side', async () => {
    const ceiling = { PAYOUT_SEND_RATE: '50' };
    const one = await createTestApp({ env: ceiling });
    const other = await appOn(one.env.DATABASE_URL!, ceiling);
    const uncapped = await appOn(one.env.DATABASE_URL!);
    try {
      let acquired!: () => void;
      let finish!: () => void;
      const sending = new Promise<void>((resolve) => (acquired = resolve));
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const drain = one.app.use(erpModule).gateway.exclusively(async () => {
        acquired();
        await finished;
        return 'drained by one';
      });
      await sending;
      // While one drains, another worker with the ceiling gives up at once; one without it goes ahead.
      expect(await other.use(erpModule).gateway.exclusively(async () => 'drained by other')).toBeNull();
      expect(await uncapped.use(erpModule).gateway.exclusively(async () => 'drained uncapped')).toBe('drained uncapped');
      finish();
      expect(await drain).toBe('drained by one');
      // Once it is done (or its process gone), the next may drain.
      expect(await other.use(erpModule).gateway.exclusively(async () => 'drained by other')).toBe('drained by other');
    } finally {
      await uncapped.close();
      await other.close();
      await one.close();
    }
  });
});

describe('a worker process killed mid-batch', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: App;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
    database = await createTestDatabase();
    app = await appOn(database.url);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await app?.close();
    await database?.drop();
  });

  const workerEnv = () => ({
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: '',
    WORKER_PORT: '0',
    PAYOUT_REQ_GATE_INTERVAL: '100ms',
    PAYOUT_OEBS_GATE_INTERVAL: '100ms',
    PAYOUT_REQUEST_LIMIT: '50',
    PAYOUT_SENDER_LIMIT: '50',
  });

  /**
   * A transaction of another session (the worker's) that has written payouts and not yet
   * committed: a gate's batch or a send in progress, not graphile-worker's own bookkeeping. Its
   * id, to ask afterwards what became of it.
   */
  async function payoutTransactionInProgress(): Promise<string | null> {
    const [row] = await app.orm.em.fork().execute<{ xid: string }[]>(
      `SELECT a.backend_xid::text AS xid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.relation = 'payout'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted
          AND a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_xid IS NOT NULL
        LIMIT 1`,
    );
    return row?.xid ?? null;
  }

  /** What became of a transaction: committed, aborted or still in progress (the server has not yet seen its client go). */
  async function transactionStatus(xid: string): Promise<string> {
    // A test database's cluster has not wrapped its transaction ids, so the 32-bit id is the full one.
    const [row] = await app.orm.em.fork().execute<{ status: string }[]>('SELECT txid_status(?::bigint) AS status', [xid]);
    return row!.status;
  }

  function startWorker(): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }>; output: () => string } {
    const child = spawn(process.execPath, [BIN, 'worker'], { cwd: ROOT, env: workerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, exited, output: () => output };
  }

  it('loses nothing and repeats nothing when a new worker takes over', { timeout: 300_000 }, async () => {
    const fundings: Funding[] = [];
    for (let i = 0; i < 1000; i++) {
      fundings.push({ clientId: `kill-${i}`, currency: 'RUB', amount: BigInt(10_000 + i) });
      if (i % 4 === 0) fundings.push({ clientId: `kill-${i}`, currency: 'EUR', amount: BigInt(700 + i) });
    }
    await seed(app, fundings, 3, seeded());
    const total = 3000;
    expect(await requestsIn(app, 'NEW')).toBe(total);

    // Kill a worker once it has settled something and is inside a payout's transaction (written,
    // not committed). The transaction may commit in the moment before the signal lands: then
    // another worker is started and killed the same way, until one is killed inside.
    const victims: string[] = [];
    let interrupted: string | null = null;
    for (let attempt = 1; attempt <= 5 && !interrupted; attempt++) {
      const victim = startWorker();
      const killBy = Date.now() + 60_000;
      let caught: string | null = null;
      while (Date.now() < killBy && victim.child.exitCode === null && !caught) {
        if ((await requestsIn(app, 'DONE')) > 0) caught = await payoutTransactionInProgress();
        if (!caught) await sleep(2);
      }
      victim.child.kill('SIGKILL');
      expect(await victim.exited, victim.output()).toEqual({ code: null, signal: 'SIGKILL' });
      expect(caught, `no payout transaction in progress was seen: ${victim.output()}`).not.toBeNull();
      const status = await waitFor(() => transactionStatus(caught!), (s) => s !== 'in progress');
      victims.push(`${caught}: ${status}`);
      if (status === 'aborted') interrupted = caught;
    }
    expect(interrupted, `every kill came after its payout transaction committed (${victims.join(', ')})`).not.toBeNull();
    const doneAtKill = await requestsIn(app, 'DONE');
    expect(doneAtKill, 'the worker finished before it could be killed: nothing was interrupted').toBeLessThan(total);

    // A new worker picks up where the dead one stopped.
    const heir = startWorker();
    const finishBy = Date.now() + 180_000;
    let left = { requests: -1, payouts: -1 };
    while (Date.now() < finishBy) {
      left = { requests: await requestsIn(app, 'NEW'), payouts: await payoutsIn(app, 'CREATED') };
      if (left.requests === 0 && left.payouts === 0) break;
      await sleep(100);
    }
    expect(left, heir.output()).toEqual({ requests: 0, payouts: 0 });
    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });

    await expectSettledOnce(app, fundings, total);
    const check = spawnSync(process.execPath, [BIN, 'ledger', 'check'], { cwd: ROOT, env: workerEnv(), encoding: 'utf8' });
    expect(check.stdout).toContain('ledger ok');
    expect(check.status).toBe(0);
  });
});
