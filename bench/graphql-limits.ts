import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { BENCH_JWT_SECRET, withClient } from './lib/database';
import { apiEnv, cpuTimeMs, memoryOf, sampleRss, spawnService, waitReady } from './lib/child';
import { graphqlLoad, type LoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';
import { PAYOUTS_QUERY } from './graphql-load';
import { seedPayouts } from './payout-writes';

export interface GraphqlLimitsOptions {
  connections: number;
  durationS: number;
  warmupS: number;
}

/** Schedules on one calendar: as many as made the issue's nested calendars query answer 110 MB. */
const SCHEDULES = 31;

/**
 * The dearest operations a driver token that sees nothing may still run (each just within the cost
 * limit of 5000 at the defaults): what anyone with a token can make the service do at most.
 */
const WORST_CASES: Record<string, string> = {
  // 1 + 200 × (1 + 1 + 11 × 2) = 4801
  'schedules × upcoming(11)': '{ payoutSchedules { id upcoming(count: 11) { cutoff fireAt } } }',
  // 1 + 30 × (1 + 1 + 50 × (1 + 2)) = 4561
  'calendars × schedules × upcoming(1)': '{ calendars { id schedules { upcoming(count: 1) { cutoff fireAt } } } }',
  // 5 × (50 + 50 + 1 + 100 × (1 + 1 + 1 + 5)) = 4505
  '5 × payouts(first: 100) with totalCount': `{ ${Array.from({ length: 5 }, (_, i) => `p${i}: payouts(first: 100) { totalCount nodes { id status statusHistory { status } } }`).join(' ')} }`,
  // 30 × (50 + 50) = 3000, at the alias limit
  '30 × payouts(first: 0) { totalCount }': `{ ${Array.from({ length: 30 }, (_, i) => `p${i}: payouts(first: 0) { totalCount }`).join(' ')} }`,
};

/** What the issue sent: refused now, before anything runs; its time to be refused is measured. */
const ATTACKS: Record<string, string> = {
  'calendars nested 3 deep, upcoming(50)': '{ calendars { schedules { calendar { schedules { calendar { schedules { upcoming(count: 50) { cutoff fireAt } } } } } } } }',
  '10,001 × payouts(first: 100)': `{ ${Array.from({ length: 10_001 }, (_, i) => `a${i}: payouts(first: 100) { nodes { id } }`).join(' ')} }`,
  '4,999 × payouts(first: 0) { totalCount }': `{ ${Array.from({ length: 4_999 }, (_, i) => `a${i}: payouts(first: 0) { totalCount }`).join(' ')} }`,
};

async function post(url: string, token: string, query: string): Promise<{ status: number; body: { data?: unknown; errors?: { message: string }[] }; bytes: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), bytes: text.length, ms: performance.now() - started };
}

async function seedSchedules(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (c) => {
    await c.query(`INSERT INTO calendar (id, timezone, holidays, weekend_days) VALUES ('bench-cal', 'Europe/Moscow', '{}', '{6,7}') ON CONFLICT (id) DO NOTHING`);
    for (let i = 0; i < SCHEDULES; i++) {
      await c.query(
        `INSERT INTO payout_schedule (id, cron, calendar_id, delay_days) VALUES ($1, $2, 'bench-cal', 1) ON CONFLICT (id) DO NOTHING`,
        [`bench-s-${i}`, `${i} 10 * * *`],
      );
    }
  });
}

interface Measured {
  load: LoadResult;
  peakRssMb: number;
  cpuMsPerRequest: number;
  answerBytes: number;
}

/**
 * `npm run bench -- graphql-limits`: the API process's time and peak RSS for the costliest
 * operations a powerless (driver) token may still run, beside an ordinary `payouts(first: 20)`
 * from an admin, all in one run on one server; and how fast the issue's attacks are refused.
 */
export async function benchGraphqlLimits(databaseUrl: string, options: GraphqlLimitsOptions): Promise<BenchmarkResult> {
  const payoutsInDatabase = await withClient(databaseUrl, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM payout')).rows[0]!.n));
  if (payoutsInDatabase < 1000) await seedPayouts(databaseUrl, 2000);
  await seedSchedules(databaseUrl);
  const env = await apiEnv(databaseUrl, BENCH_JWT_SECRET);
  const tokens = new TokenService(BENCH_JWT_SECRET, claimsPolicy);
  const admin = tokens.sign({ subject: 'bench', role: 'admin', ttl: '1h' });
  const driver = tokens.sign({ subject: 'bench-driver', role: 'driver', scopes: ['DRIVER:bench-park/nobody'], ttl: '1h' });
  const api = spawnService('api', env);
  try {
    await waitReady(api, performance.now());
    await sleep(1000);
    const idleRssMb = memoryOf(api.pid)!.rssMb;

    const run = async (query: string, token: string): Promise<Measured> => {
      const once = await post(api.url, token, query);
      if (once.status !== 200 || once.body.errors) throw new Error(`not answered: ${once.status} ${JSON.stringify(once.body).slice(0, 300)}`);
      const target = { url: `${api.url}/graphql`, token, query, connections: options.connections };
      await graphqlLoad({ ...target, durationS: options.warmupS });
      const sampler = sampleRss(api.pid);
      const cpuBefore = cpuTimeMs(api.pid);
      const load = await graphqlLoad({ ...target, durationS: options.durationS });
      const cpuMs = cpuTimeMs(api.pid) - cpuBefore;
      return { load, peakRssMb: sampler.stop(), cpuMsPerRequest: round(cpuMs / Math.max(1, load.requests), 3), answerBytes: once.bytes };
    };

    const ordinary = await run(PAYOUTS_QUERY, admin);
    const worst: Record<string, Measured> = {};
    for (const [name, query] of Object.entries(WORST_CASES)) worst[name] = await run(query, driver);

    const refusals: Record<string, { status: number; ms: number; message: string }> = {};
    for (const [name, query] of Object.entries(ATTACKS)) {
      const answer = await post(api.url, driver, query);
      if (answer.status !== 400) throw new Error(`${name} was not refused: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
      refusals[name] = { status: answer.status, ms: round(answer.ms, 1), message: answer.body.errors?.[0]?.message ?? '' };
    }
    const peakRssMb = memoryOf(api.pid)!.peakRssMb;
    const stopped = await api.stop();
    if (stopped.code !== 0) throw new Error(`the API did not exit cleanly: ${JSON.stringify(stopped)}\n${api.output().slice(-4000)}`);
    const failures = [ordinary, ...Object.values(worst)].reduce((n, m) => n + m.load.failures.errors + m.load.failures.non2xx + m.load.failures.graphqlErrors, 0);
    if (failures > 0) throw new Error(`requests failed under load: ${failures}`);

    const [slowestName, slowest] = Object.entries(worst).sort(([, a], [, b]) => b.load.latencyMs.p50 - a.load.latencyMs.p50)[0]!;
    const load = `${options.connections} connections, ${options.durationS} s after ${options.warmupS} s warm-up`;
    return {
      name: 'graphql-limits',
      figures: [
        {
          key: 'graphql-limits.ordinary.p50',
          label: 'payouts(first: 20) (admin), p50 latency',
          value: ordinary.load.latencyMs.p50,
          unit: 'ms',
          note: `p99 ${ordinary.load.latencyMs.p99} ms, ${round(ordinary.load.requestsPerSecond, 0)} rps, ${ordinary.cpuMsPerRequest} ms CPU per request; ${load}`,
        },
        {
          key: 'graphql-limits.worst.p50',
          label: `costliest driver operation allowed (${slowestName}), p50 latency`,
          value: slowest.load.latencyMs.p50,
          unit: 'ms',
          note: `p99 ${slowest.load.latencyMs.p99} ms, ${round(slowest.load.requestsPerSecond, 0)} rps, ${slowest.cpuMsPerRequest} ms CPU per request, ${round(slowest.answerBytes / 1024, 1)} KB answer`,
        },
        {
          key: 'graphql-limits.worst.ratio',
          label: 'costliest allowed ÷ payouts(first: 20) (p50 latency)',
          value: round(slowest.load.latencyMs.p50 / Math.max(0.1, ordinary.load.latencyMs.p50), 2),
          unit: '×',
        },
        { key: 'graphql-limits.rss.ordinary', label: 'API peak RSS under payouts(first: 20)', value: round(ordinary.peakRssMb, 0), unit: 'MB', note: `idle ${round(idleRssMb, 0)} MB` },
        {
          key: 'graphql-limits.rss.worst',
          label: 'API peak RSS under the costliest driver operations',
          value: round(Math.max(...Object.values(worst).map((m) => m.peakRssMb)), 0),
          unit: 'MB',
          target: { op: '<=', value: 300 },
          note: `VmHWM over the whole run ${round(peakRssMb, 0)} MB`,
        },
        {
          key: 'graphql-limits.refused.ms',
          label: 'slowest refusal of the issue’s attacks (10,001 aliases, nested calendars)',
          value: Math.max(...Object.values(refusals).map((r) => r.ms)),
          unit: 'ms',
        },
      ],
      details: {
        options,
        payoutsInDatabase,
        schedules: SCHEDULES,
        ordinary,
        worst,
        refusals,
        rss: { idleMb: round(idleRssMb, 1), peakMb: round(peakRssMb, 1) },
      },
      notes: [
        `graphql-limits: \`payouts api\` in its own process with the default limits; each worst case is the dearest shape of its kind a driver token that sees no payee may run within GRAPHQL_MAX_COST=5000, loaded like payouts(first: 20) on the same server (${load}); the database holds ${SCHEDULES} schedules on one calendar. Per case p50/p99: ${Object.entries(worst)
          .map(([name, m]) => `${name} ${m.load.latencyMs.p50}/${m.load.latencyMs.p99} ms, peak RSS ${round(m.peakRssMb, 0)} MB`)
          .join('; ')}. Refused: ${Object.entries(refusals)
          .map(([name, r]) => `${name} in ${r.ms} ms`)
          .join('; ')}.`,
      ],
    };
  } finally {
    await api.stop(5000);
  }
}
