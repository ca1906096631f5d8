import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { createLogger } from '../src/platform/logger';
import { PayoutAccount } from '../src/payouts/lifecycle';
import { payoutEvent, type PayoutRow } from '../src/payouts/payout-messages';
import { BENCH_JWT_SECRET, BENCH_WALLET_KEYS } from './lib/database';
import type { BenchmarkResult } from './lib/report';
import { percentile, round, runConcurrently } from './lib/stats';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { accrualsModule } from '../src/accruals/module';

export interface PayoutWritesOptions {
  /** Payouts created by each of the two paths in the measured run. */
  payouts: number;
  /** Payees per path; payouts are spread over them round-robin. */
  payees: number;
  /** Callers at once, and connections in each path's pool. */
  concurrency: number;
  /** Payouts created by each path before measuring (JIT, caches, connections). */
  warmup: number;
}

const CURRENCY = 'RUB';
const AMOUNT = 100_00n;
const TOPIC = 'payouts.events';

type Path = 'svc' | 'sql';
const payeeIdOf = (path: Path, n: number) => `bench-${path}-${n}`;

/** A service configured as the benchmark runs it: the pool as large as the number of callers. */
export async function benchApp(databaseUrl: string, poolMax: number): Promise<App> {
  const settings = loadAppSettings({
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: String(poolMax),
    LOG_LEVEL: 'warn',
    JWT_SECRET: BENCH_JWT_SECRET,
    WALLET_KEYS: BENCH_WALLET_KEYS,
  });
  return createApp({ settings, logger: createLogger('warn'), databaseUrl });
}

/** Credits every payee of both paths through the accrual service, enough for all their payouts. */
async function fundPayees(app: App, options: PayoutWritesOptions): Promise<number> {
  // Each phase starts again at payee 0, so round up per phase; +1 for the statement sample.
  const phases = [options.warmup, options.payouts];
  const perPayee = AMOUNT * BigInt(phases.reduce((sum, n) => sum + Math.ceil(n / options.payees), 1));
  const payees = (['svc', 'sql'] as const).flatMap((path) => Array.from({ length: options.payees }, (_, n) => payeeIdOf(path, n)));
  const { elapsedMs } = await runConcurrently(payees.length, options.concurrency, (i) =>
    app.orm.em.fork().transactional((em) =>
      app.use(accrualsModule).accruals.apply(
        em,
        {
          payee: { kind: 'CLIENT', id: payees[i]! },
          account: PayoutAccount.available,
          amount: perPayee,
          currency: CURRENCY,
          reference: `bench-funding-${payees[i]}`,
          occurredAt: new Date(),
          actor: 'bench',
        },
        'MANUAL',
      ),
    ),
  );
  // Open the reserved accounts now, so neither path measures opening an account.
  await runConcurrently(payees.length, options.concurrency, (i) =>
    app.orm.em.fork().transactional((em) =>
      app.use(ledgerModule).ledger.accountId(em, { owner: { kind: 'CLIENT', id: payees[i]! }, type: PayoutAccount.reserved, currency: CURRENCY }),
    ),
  );
  return (payees.length / elapsedMs) * 1000;
}

/** The service's way: `PayoutService.create` in its own ORM transaction, as every caller does it. */
function createThroughService(app: App, payees: number, label: string) {
  return (i: number) =>
    app.orm.em.fork().transactional((em) =>
      app.use(payoutsModule).lifecycle.create(em, {
        payee: { kind: 'CLIENT', id: payeeIdOf('svc', i % payees) },
        amount: AMOUNT,
        currency: CURRENCY,
        source: 'MANUAL',
        idempotencyKey: `bench-svc-${label}-${i}`,
        actor: 'bench',
      }),
    );
}

/**
 * The least SQL with the same effect: one transaction that posts the reservation, inserts the
 * payout and its first history entry, and writes the same `payouts.events` message to the outbox.
 * Account ids are looked up once beforehand, as the service caches them.
 */
async function createBySql(pool: Pool, payees: number) {
  const accounts = await pool.query<{ owner_id: string; type: string; id: string }>(
    `SELECT owner_id, type, id FROM ledger_account WHERE owner_kind = 'CLIENT' AND owner_id LIKE 'bench-sql-%' AND currency = $1`,
    [CURRENCY],
  );
  const accountIds = new Map(accounts.rows.map((r) => [`${r.owner_id}/${r.type}`, r.id]));
  const account = (payee: string, type: string) => {
    const id = accountIds.get(`${payee}/${type}`);
    if (!id) throw new Error(`no ${type} account for ${payee}`);
    return id;
  };

  return async (i: number, label: string) => {
    const payee = payeeIdOf('sql', i % payees);
    const id = randomUUID();
    const client: PoolClient = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT transfer_id FROM ledger_post($1, $2, $3, $4, $5, $6, $7)', [
        `payout:${id}:CREATED`,
        account(payee, PayoutAccount.available),
        account(payee, PayoutAccount.reserved),
        AMOUNT.toString(),
        CURRENCY,
        'payout_created',
        id,
      ]);
      const inserted = await client.query<PayoutRow>(
        `INSERT INTO payout (id, payee_kind, payee_id, account_id, amount, currency, status, source, idempotency_key)
         VALUES ($1, 'CLIENT', $2, $3, $4, $5, 'CREATED', 'MANUAL', $6) RETURNING *`,
        [id, payee, account(payee, PayoutAccount.available), AMOUNT.toString(), CURRENCY, `bench-sql-${label}-${i}`],
      );
      const row = inserted.rows[0]!;
      await client.query(
        `INSERT INTO payout_status_change (payout_id, sequence, status, actor, occurred_at) VALUES ($1, 1, 'CREATED', 'bench', $2)`,
        [id, row.created_at],
      );
      await client.query('INSERT INTO outbox_message (topic, key, value) VALUES ($1, $2, $3)', [
        TOPIC,
        id,
        JSON.stringify(payoutEvent(row, new Date(row.updated_at))),
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
}

interface PathResult {
  perSecond: number;
  elapsedMs: number;
  /** This process's CPU time per payout (the database's is not included). */
  cpuMsPerPayout: number;
  latencyMs: { p50: number; p99: number; max: number };
}

const STATEMENT_SAMPLE = 20;
/** Rounds each measured run is split into, alternating the two paths. */
const ROUNDS = 4;

/** Statements the service sends per payout, from knex's query events over a few payouts. */
async function statementsPerPayout(app: App, payees: number): Promise<{ perPayout: number; statements: string[] }> {
  const knex = app.orm.em.getConnection().getKnex();
  const seen: string[] = [];
  const listener = (query: { sql: string }) => seen.push(query.sql.replace(/\s+/g, ' ').slice(0, 40));
  knex.on('query', listener);
  const sample = STATEMENT_SAMPLE;
  try {
    await runConcurrently(sample, 1, createThroughService(app, payees, 'count'));
  } finally {
    knex.removeListener('query', listener);
  }
  return { perPayout: seen.length / sample, statements: seen.slice(0, Math.round(seen.length / sample)) };
}

interface Sample {
  count: number;
  elapsedMs: number;
  cpuMs: number;
  latenciesMs: number[];
}

async function sample(count: number, concurrency: number, work: (i: number) => Promise<unknown>): Promise<Sample> {
  const cpuBefore = process.cpuUsage();
  const { elapsedMs, latenciesMs } = await runConcurrently(count, concurrency, work);
  const cpu = process.cpuUsage(cpuBefore);
  return { count, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000, latenciesMs };
}

function summarize(samples: Sample[]): PathResult {
  const count = samples.reduce((sum, s) => sum + s.count, 0);
  const elapsedMs = samples.reduce((sum, s) => sum + s.elapsedMs, 0);
  const latenciesMs = samples.flatMap((s) => s.latenciesMs);
  return {
    perSecond: round((count / elapsedMs) * 1000, 0),
    elapsedMs: round(elapsedMs, 0),
    cpuMsPerPayout: round(samples.reduce((sum, s) => sum + s.cpuMs, 0) / count, 3),
    latencyMs: {
      p50: round(percentile(latenciesMs, 50), 2),
      p99: round(percentile(latenciesMs, 99), 2),
      max: round(latenciesMs.reduce((a, b) => Math.max(a, b), 0), 2),
    },
  };
}

interface Step {
  key: string;
  /** Payouts over all rounds. */
  total: number;
  work: (i: number) => Promise<unknown>;
}

/**
 * Runs the steps in alternating rounds (service, SQL, service, SQL, …), so whatever else the
 * machine does meanwhile, and the tables growing, weigh on every step alike.
 */
async function measureInRounds(rounds: number, concurrency: number, steps: Step[]): Promise<Record<string, PathResult>> {
  const samples = new Map<string, Sample[]>(steps.map((step) => [step.key, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const step of steps) {
      const perRound = Math.ceil(step.total / rounds);
      const start = round * perRound;
      const count = Math.min(perRound, step.total - start);
      if (count <= 0) continue;
      samples.get(step.key)!.push(await sample(count, concurrency, (i) => step.work(start + i)));
    }
  }
  return Object.fromEntries([...samples].map(([key, list]) => [key, summarize(list)]));
}

/** Both paths wrote what they should, and the ledger's invariants hold over everything. */
async function verify(app: App, expected: Record<Path, number>) {
  const em = app.orm.em.fork();
  // One pass over each table, joined to the payouts it belongs to (the outbox has no index on key).
  const counts = await em.execute<{ path: string; payouts: string; history: string; outbox: string; transfers: string }[]>(
    `WITH p AS (SELECT id, split_part(payee_id, '-', 2) AS path FROM payout WHERE payee_id LIKE 'bench-%'),
          h AS (SELECT p.path, count(*) AS n FROM payout_status_change s JOIN p ON p.id = s.payout_id GROUP BY 1),
          o AS (SELECT p.path, count(*) AS n FROM outbox_message m JOIN p ON p.id::text = m.key GROUP BY 1),
          t AS (SELECT p.path, count(*) AS n FROM ledger_transfer x JOIN p ON x.idempotency_key = 'payout:' || p.id || ':CREATED' GROUP BY 1)
     SELECT p.path, count(*) AS payouts, min(h.n) AS history, min(o.n) AS outbox, min(t.n) AS transfers
       FROM p JOIN h USING (path) JOIN o USING (path) JOIN t USING (path) GROUP BY 1 ORDER BY 1`,
  );
  if (counts.length !== 2) throw new Error(`expected payouts of both paths, found ${JSON.stringify(counts)}`);
  for (const row of counts) {
    for (const column of ['payouts', 'history', 'outbox', 'transfers'] as const) {
      const want = expected[row.path as Path];
      if (Number(row[column]) !== want) throw new Error(`${row.path}: ${row[column]} ${column}, expected ${want}`);
    }
  }
  const violations = await app.checkLedger(em);
  if (violations.length > 0) throw new Error(`ledger invariants broken: ${JSON.stringify(violations.slice(0, 5))}`);
  return { payouts: expected, ledgerCheck: 'ok' };
}

export async function benchPayoutWrites(databaseUrl: string, options: PayoutWritesOptions): Promise<BenchmarkResult> {
  const app = await benchApp(databaseUrl, options.concurrency);
  const pool = new Pool({ connectionString: databaseUrl, max: options.concurrency });
  try {
    const fundingPerSecond = await fundPayees(app, options);
    // Fill the service's account-id cache, as a running service has it after its first payouts.
    for (let n = 0; n < options.payees; n += 1) {
      for (const type of [PayoutAccount.available, PayoutAccount.reserved]) {
        await app.use(ledgerModule).ledger.accountId(app.orm.em.fork(), { owner: { kind: 'CLIENT', id: payeeIdOf('svc', n) }, type, currency: CURRENCY });
      }
    }
    const bySql = await createBySql(pool, options.payees);

    await runConcurrently(options.warmup, options.concurrency, createThroughService(app, options.payees, 'warmup'));
    await runConcurrently(options.warmup, options.concurrency, (i) => bySql(i, 'warmup'));

    const statements = await statementsPerPayout(app, options.payees);

    const steps: Step[] = [
      { key: 'service', total: options.payouts, work: createThroughService(app, options.payees, 'run') },
      { key: 'sql', total: options.payouts, work: (i) => bySql(i, 'run') },
    ];
    const measured = await measureInRounds(ROUNDS, options.concurrency, steps);
    const [service, sql] = [measured.service!, measured.sql!];
    const ratio = service.perSecond / sql.perSecond;
    const created = options.warmup + options.payouts;
    const verification = await verify(app, { svc: created + STATEMENT_SAMPLE, sql: created });

    return {
      name: 'payouts',
      figures: [
        {
          key: 'payouts.service',
          label: 'Payouts created per second, through the service',
          value: service.perSecond,
          unit: '/s',
          target: { op: '>=', value: 1000 },
          note: `${options.payouts.toLocaleString('en-US')} payouts, ${options.concurrency} at once; p99 ${service.latencyMs.p99} ms each; ${service.cpuMsPerPayout} ms of Node.js CPU each`,
        },
        {
          key: 'payouts.sql',
          label: 'Payouts created per second, hand-written SQL',
          value: sql.perSecond,
          unit: '/s',
          note: `same writes, plain pg pool; p99 ${sql.latencyMs.p99} ms each; ${sql.cpuMsPerPayout} ms of Node.js CPU each`,
        },
        { key: 'payouts.ratio', label: 'Service ÷ hand-written SQL', value: round(ratio, 2), unit: '×' },
      ],
      details: {
        options,
        poolMax: options.concurrency,
        fundingAccrualsPerSecond: round(fundingPerSecond, 0),
        serviceStatementsPerPayout: statements,
        sqlStatementsPerPayout: 6,
        service,
        sql,
        verification,
      },
      notes: [
        `Payouts: each payout is one transaction — the reservation (ledger_post), the payout row, its first history entry and a payouts.events outbox message — ${options.concurrency} callers at once over ${options.payees} payees per path, DATABASE_POOL_MAX=${options.concurrency}; ${options.warmup} warm-up payouts per path first, then the paths alternate in ${ROUNDS} rounds; afterwards every row is counted and the ledger invariants are checked.`,
      ],
    };
  } finally {
    await pool.end();
    await app.close();
  }
}

/** Fills an empty database with payouts (for `npm run bench -- graphql` alone). */
export async function seedPayouts(databaseUrl: string, count: number): Promise<void> {
  const app = await benchApp(databaseUrl, 8);
  try {
    const options = { payouts: count, payees: 50, concurrency: 8, warmup: 0 };
    await fundPayees(app, options);
    await runConcurrently(count, 8, createThroughService(app, options.payees, 'seed'));
  } finally {
    await app.close();
  }
}
