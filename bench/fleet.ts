import { claimsPolicy } from '../src/access/principals';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { auditModule } from '../src/audit/module';
import { fleetPayoutsModule } from '../src/fleet-payouts/module';
import { TokenService } from '../src/platform/auth';
import { createLogger } from '../src/platform/logger';
import { countStatements, statementProfile } from './lib/statements';
import { apiEnv, cpuTimeMs, sampleRss, spawnService, waitReady } from './lib/child';
import { BENCH_JWT_SECRET, BENCH_WALLET_KEYS, gatherStatistics, postgresCpu, withClient } from './lib/database';
import { fundPayees } from './lib/funding';
import { graphqlLoad, type LoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { perItem, round, sleep } from './lib/stats';
import { TRIVIAL_QUERY } from './graphql-load';

/**
 * Issue 12's figures: the periodic run over many parks beside hand-written SQL making the same
 * payouts, and the instant-payout button under load beside a trivial query on the same server.
 */

const CURRENCY = 'RUB';
/**
 * `count` active parks `prefix0…`, each with `amount` on its payout account (credited as the
 * accruals topic would) and its reserved account opened.
 */
async function seedParks(databaseUrl: string, prefix: string, count: number, amount: bigint): Promise<number> {
  const ms = await fundPayees(databaseUrl, {
    kind: 'PARK',
    prefix,
    count,
    amount,
    currency: CURRENCY,
    extraTypes: ['payout-reserved'],
    beforeEach: (db, from, to) =>
      db.query(
        `INSERT INTO park (id, name, currency, timezone, status, version_at)
         SELECT $1 || n, 'Park ' || n, $4, 'Europe/Moscow', 'ACTIVE', now() FROM generate_series($2::int, $3::int) n`,
        [prefix, from, to, CURRENCY],
      ),
  });
  await gatherStatistics(databaseUrl);
  return ms;
}

/**
 * The same periodic payouts as the service makes, by hand: per batch of parks, one statement locks
 * the due parks' accounts, creates the payouts with their history and `payouts.events` message
 * and reserves their amounts with ledger_post_many.
 */
async function periodicBySql(databaseUrl: string, batch: number, periodicDays: number): Promise<{ payouts: number; ms: number }> {
  const began = performance.now();
  let payouts = 0;
  await withClient(databaseUrl, async (db) => {
    for (let after = ''; ; ) {
      const parks = await db.query<{ id: string }>(`SELECT id FROM park WHERE status = 'ACTIVE' AND id > $1 ORDER BY id LIMIT $2`, [after, batch]);
      if (parks.rows.length === 0) break;
      after = parks.rows[parks.rows.length - 1]!.id;
      await db.query('BEGIN');
      const made = await db.query<{ n: string }>(
        `WITH accounts AS (
           SELECT a.id, a.owner_id, a.balance FROM ledger_account a
            WHERE a.owner_kind = 'PARK' AND a.owner_id = ANY ($1::text[]) AND a.type = 'payout' AND a.currency = $3 AND a.balance > 0
            ORDER BY a.id FOR NO KEY UPDATE),
         due AS (
           SELECT * FROM accounts a WHERE NOT EXISTS (
             SELECT 1 FROM payout p WHERE p.payee_kind = 'PARK' AND p.payee_id = a.owner_id
                AND p.status NOT IN ('CANCELLED', 'REJECTED') AND p.created_at > now() - make_interval(days => $2))),
         created AS (
           INSERT INTO payout (id, payee_kind, payee_id, account_id, amount, currency, status, source, source_ref, idempotency_key, created_at, updated_at)
           SELECT gen_random_uuid(), 'PARK', owner_id, id, balance, $3, 'CREATED', 'PERIODIC', 'sql', 'periodic-sql:' || owner_id, now(), now() FROM due
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, payee_id, account_id, amount, created_at),
         history AS (
           INSERT INTO payout_status_change (payout_id, sequence, status, actor, occurred_at) SELECT id, 1, 'CREATED', 'bench', created_at FROM created),
         event AS (
           INSERT INTO outbox_message (topic, key, value)
           SELECT 'payouts.events', id::text, json_build_object('payoutId', id, 'sequence', 1, 'status', 'CREATED', 'occurredAt', created_at,
                    'payout', json_build_object('id', id, 'payee', json_build_object('kind', 'PARK', 'id', payee_id), 'amount', amount::text, 'currency', $3))::text
             FROM created),
         reservation AS (
           SELECT ledger_post_many(array_agg('payout:' || c.id || ':CREATED'), array_agg(c.account_id), array_agg(r.id), array_agg(c.amount),
                                   array_agg($3::text), array_agg('payout_created'::text), array_agg(c.id::text)) AS posted
             FROM created c JOIN ledger_account r ON r.owner_kind = 'PARK' AND r.owner_id = c.payee_id AND r.type = 'payout-reserved' AND r.currency = $3)
         SELECT count(*)::text AS n FROM created, reservation`,
        [parks.rows.map((p) => p.id), periodicDays, CURRENCY],
      );
      await db.query('COMMIT');
      payouts += Number(made.rows[0]!.n);
    }
  });
  return { payouts, ms: performance.now() - began };
}

async function fleetApp(databaseUrl: string, env: Record<string, string> = {}): Promise<App> {
  const settings = loadAppSettings({ NODE_ENV: 'production', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', JWT_SECRET: BENCH_JWT_SECRET, WALLET_KEYS: BENCH_WALLET_KEYS, ...env });
  return createApp({ settings, logger: createLogger('warn'), databaseUrl });
}

export interface FleetPeriodicOptions {
  parks: number;
  batch: number;
}

/** The periodic run over `parks` parks with money (rate limit off), beside hand-written SQL on a database of its own. */
export async function benchFleetPeriodic(serviceUrl: string, sqlUrl: string, options: FleetPeriodicOptions): Promise<BenchmarkResult> {
  const seedMs = await seedParks(serviceUrl, 'bp-', options.parks, 123_45n);
  await seedParks(sqlUrl, 'bp-', options.parks, 123_45n);

  const sqlPostgres = await postgresCpu(sqlUrl);
  const sqlPgBefore = sqlPostgres();
  const sql = await periodicBySql(sqlUrl, options.batch, 7);
  const sqlPgMs = perItemDelta(sqlPgBefore, sqlPostgres(), sql.payouts);

  const app = await fleetApp(serviceUrl, { FLEET_PERIODIC_RATE: '0', FLEET_PERIODIC_BATCH: String(options.batch), FLEET_PERIODIC_DAYS: '7' });
  const postgres = await postgresCpu(serviceUrl);
  let run;
  let cpuMs: number;
  let pgPerPark: number | null;
  try {
    const [cpuBefore, pgBefore] = [process.cpuUsage(), postgres()];
    run = await app.use(fleetPayoutsModule).periodic.run();
    const used = process.cpuUsage(cpuBefore);
    cpuMs = (used.user + used.system) / 1000;
    pgPerPark = perItemDelta(pgBefore, postgres(), run.payoutsCreated);
    const violations = await app.checkLedger();
    if (violations.length > 0) throw new Error(`the ledger check fails after the run: ${JSON.stringify(violations.slice(0, 5))}`);
  } finally {
    await app.close();
  }
  if (run.payoutsCreated !== options.parks || sql.payouts !== options.parks) {
    throw new Error(`expected ${options.parks} payouts each, the service made ${run.payoutsCreated} and the SQL ${sql.payouts}`);
  }
  const serviceRate = run.payoutsCreated / (run.durationMs / 1000);
  const sqlRate = sql.payouts / (sql.ms / 1000);
  const parks = options.parks.toLocaleString('en-US');
  return {
    name: 'fleet-periodic',
    figures: [
      {
        key: 'fleet.periodic.rate',
        label: 'periodic run, parks paid per second',
        value: round(serviceRate, 0),
        unit: '/s',
        note: `${parks} parks with money, rate limit off, batches of ${options.batch}`,
      },
      { key: 'fleet.periodic.sqlRate', label: 'periodic payouts by hand-written SQL, per second', value: round(sqlRate, 0), unit: '/s', note: 'the same payouts, one statement per batch' },
      {
        key: 'fleet.periodic.ratio',
        label: 'periodic run ÷ hand-written SQL (parks per second)',
        value: round(serviceRate / sqlRate, 2),
        unit: '×',
        target: { op: '>=', value: 0.5 },
      },
      {
        key: 'fleet.periodic.duration',
        label: `periodic run over ${parks} parks, whole run`,
        value: round(run.durationMs / 1000, 1),
        unit: 's',
        target: { op: '<=', value: 120 },
      },
      {
        key: 'fleet.periodic.cpu',
        label: 'periodic run, CPU per park: service',
        value: round(cpuMs / run.payoutsCreated, 3),
        unit: 'ms',
        note: `PostgreSQL ${pgPerPark ?? '?'} ms per park (hand-written SQL: ${sqlPgMs ?? '?'} ms)`,
      },
    ],
    details: { options, seedMs: round(seedMs, 0), service: { ...run, totals: Object.fromEntries([...run.totals].map(([c, v]) => [c, v.toString()])) }, sql },
    notes: [
      `fleet-periodic: ${parks} active parks, each with money and never paid, on two identical databases; the service's PeriodicPayouts.run() in this process (FLEET_PERIODIC_RATE=0) beside a hand-written statement per batch doing the same (lock the due accounts, insert payouts, history and payouts.events messages, ledger_post_many). Both made one payout per park; the ledger check passes after the service's run.`,
    ],
  };
}

function perItemDelta(before: number | null, after: number | null, count: number): number | null {
  return before === null || after === null ? null : perItem(after - before, count);
}

export interface FleetInstantOptions {
  parks: number;
  connections: number;
  durationS: number;
  warmupS: number;
}

/** What one press sends to the database, BEGIN and COMMIT included, from the service code in this process, its audit entry with it. */
async function statementsPerPress(databaseUrl: string, parks: number) {
  const app = await fleetApp(databaseUrl, { FLEET_INSTANT_COOLDOWN: '0h', FLEET_INSTANT_LIMIT: 'RUB:100000000' });
  try {
    const sample = 20;
    const statements = await countStatements(app, async () => {
      for (let i = 0; i < sample; i += 1) {
        const input = { parkId: `bi-${i % parks}`, amount: 100n, idempotencyKey: `sample-${i}`, actor: 'bench' };
        const entry = app.use(auditModule).audit.inStatement({
          subject: 'bench',
          role: 'admin',
          operation: 'requestInstantPayout',
          arguments: { input: { ...input, amount: '100' } },
          requestId: `sample-${i}`,
        });
        await app.use(fleetPayoutsModule).instant.request(app.orm.em.fork(), input, { key: '_recorded', ...entry, written: () => {} });
      }
    });
    return statementProfile(statements, sample);
  } finally {
    await app.close();
  }
}

export const REQUEST_INSTANT_PAYOUT = `mutation BenchInstantPayout($input: InstantPayoutInput!) {
  requestInstantPayout(input: $input) { id status amount { minor } }
}`;

/** `requestInstantPayout` at `connections` connections next to `{ __typename }` on the same `payouts api`. */
export async function benchFleetInstant(databaseUrl: string, options: FleetInstantOptions): Promise<BenchmarkResult> {
  await seedParks(databaseUrl, 'bi-', options.parks, 1_000_000_000n);
  const pressStatements = await statementsPerPress(databaseUrl, options.parks);
  // No cooldown, so every press pays (100 kopecks), parks in turn: the whole path, lock included.
  const env = { ...(await apiEnv(databaseUrl, BENCH_JWT_SECRET)), FLEET_INSTANT_COOLDOWN: '0h', FLEET_INSTANT_LIMIT: 'RUB:100000000' };
  const token = new TokenService(BENCH_JWT_SECRET, claimsPolicy).sign({ subject: 'bench', role: 'admin', ttl: '1h' });
  const postgres = await postgresCpu(databaseUrl);
  const api = spawnService('api', env);
  try {
    await waitReady(api, performance.now());
    await sleep(500);
    let counter = 0;
    const variables = (phase: string) => () => {
      const n = counter++;
      return { input: { parkId: `bi-${n % options.parks}`, idempotencyKey: `${phase}-${n}`, amount: '100' } };
    };
    const run = async (query: string, phase: string | null) => {
      const target = { url: `${api.url}/graphql`, token, query, connections: options.connections };
      await graphqlLoad({ ...target, durationS: options.warmupS, ...(phase ? { variables: variables(`${phase}-warmup`) } : {}) });
      // The warm-up made the first payouts of this database (the API planned their lookups on an empty table).
      if (phase) await gatherStatistics(databaseUrl);
      const sampler = sampleRss(api.pid);
      const [cpuBefore, pgBefore] = [cpuTimeMs(api.pid), postgres()];
      const load = await graphqlLoad({ ...target, durationS: options.durationS, ...(phase ? { variables: variables(phase) } : {}) });
      return {
        load,
        maxRssMb: sampler.stop(),
        cpuMsPerRequest: perItem(cpuTimeMs(api.pid) - cpuBefore, load.requests)!,
        postgresMsPerRequest: perItemDelta(pgBefore, postgres(), load.requests),
      };
    };
    const trivial = await run(TRIVIAL_QUERY, null);
    const instant = await run(REQUEST_INSTANT_PAYOUT, 'press');
    const failures = (r: LoadResult) => r.failures.errors + r.failures.non2xx + r.failures.graphqlErrors;
    if (failures(trivial.load) + failures(instant.load) > 0) {
      throw new Error(`requests failed under load: ${JSON.stringify({ trivial: trivial.load.failures, instant: instant.load.failures })}`);
    }
    const made = await withClient(databaseUrl, async (db) =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM payout WHERE source = 'INSTANT' AND source_ref LIKE 'press-%'`)).rows[0]!.n),
    );
    if (made < instant.load.requests) throw new Error(`${instant.load.requests} answers but ${made} instant payouts`);
    const load = `${options.connections} connections, ${options.durationS} s after ${options.warmupS} s warm-up`;
    return {
      name: 'fleet-instant',
      figures: [
        {
          key: 'fleet.instant.rps',
          label: 'requestInstantPayout, requests per second',
          value: round(instant.load.requestsPerSecond, 0),
          unit: '/s',
          note: `${load}; each press pays, ${options.parks.toLocaleString('en-US')} parks in turn`,
        },
        { key: 'fleet.instant.p99', label: 'requestInstantPayout, p99 latency', value: instant.load.latencyMs.p99, unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${instant.load.latencyMs.p50} ms` },
        {
          key: 'fleet.instant.ratio',
          label: 'requestInstantPayout ÷ trivial (requests per second)',
          value: round(instant.load.requestsPerSecond / trivial.load.requestsPerSecond, 2),
          unit: '×',
          target: { op: '>=', value: 0.15 },
          note: `{ __typename } ${round(trivial.load.requestsPerSecond, 0)}/s, p99 ${trivial.load.latencyMs.p99} ms`,
        },
        {
          key: 'fleet.instant.cpu',
          label: 'requestInstantPayout, CPU per request: API process',
          value: instant.cpuMsPerRequest,
          unit: 'ms',
          note: `PostgreSQL ${instant.postgresMsPerRequest ?? '?'} ms; { __typename } ${trivial.cpuMsPerRequest} ms`,
        },
      ],
      details: { options, trivial, instant, payoutsMade: made, statementsPerPress: pressStatements },
      notes: [
        `fleet-instant: \`payouts api\` in its own process with no cooldown (FLEET_INSTANT_COOLDOWN=0h), so every press of an admin token pays 1.00 RUB from the next of ${options.parks.toLocaleString('en-US')} funded parks: lock, rules, payout, reservation and its messages each time; any error fails the run.`,
      ],
    };
  } finally {
    await api.stop(5000);
  }
}
