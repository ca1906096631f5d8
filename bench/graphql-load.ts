import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { BENCH_JWT_SECRET, withClient } from './lib/database';
import { cpuTimeMs, memoryOf, sampleRss, spawnService, waitReady, apiEnv } from './lib/child';
import { graphqlLoad, type LoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';
import { seedPayouts } from './payout-writes';

export interface GraphqlLoadOptions {
  connections: number;
  durationS: number;
  warmupS: number;
}

/** A page of 20 payouts with the fields a payout list shows. */
export const PAYOUTS_QUERY = `query BenchPayouts {
  payouts(first: 20) {
    edges { cursor node { id status source amount { minor amount currency } payee { kind id } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
/** The same server's floor: HTTP, auth, context and Apollo without any resolver work. */
export const TRIVIAL_QUERY = '{ __typename }';

const MIN_PAYOUTS = 1000;

async function ensurePayouts(databaseUrl: string): Promise<number> {
  const count = async () =>
    withClient(databaseUrl, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM payout')).rows[0]!.n));
  if ((await count()) < MIN_PAYOUTS) await seedPayouts(databaseUrl, 2 * MIN_PAYOUTS);
  return count();
}

/** One request made by hand first: the load is only worth measuring if the answer is right. */
async function checkAnswer(url: string, token: string): Promise<void> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: PAYOUTS_QUERY }),
  });
  const body = (await response.json()) as { data?: { payouts?: { edges?: unknown[] } }; errors?: unknown };
  if (response.status !== 200 || body.errors || body.data?.payouts?.edges?.length !== 20) {
    throw new Error(`the payouts query does not answer 20 payouts: ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
  }
}

interface QueryRun {
  load: LoadResult;
  maxRssMb: number;
  /** The API process's CPU time per answered request: what bounds it on a busy or small machine. */
  cpuMsPerRequest: number;
}

export async function benchGraphql(databaseUrl: string, options: GraphqlLoadOptions): Promise<BenchmarkResult> {
  const payoutsInDatabase = await ensurePayouts(databaseUrl);
  const env = await apiEnv(databaseUrl, BENCH_JWT_SECRET);
  const poolMax = env.DATABASE_POOL_MAX;
  const token = new TokenService(BENCH_JWT_SECRET, claimsPolicy).sign({ subject: 'bench', role: 'admin', ttl: '1h' });
  const api = spawnService('api', env);
  try {
    const readyMs = await waitReady(api, performance.now());
    await sleep(1000);
    const idleRssMb = memoryOf(api.pid)!.rssMb;
    await checkAnswer(api.url, token);

    const run = async (query: string): Promise<QueryRun> => {
      const target = { url: `${api.url}/graphql`, token, query, connections: options.connections };
      await graphqlLoad({ ...target, durationS: options.warmupS });
      const sampler = sampleRss(api.pid);
      const cpuBefore = cpuTimeMs(api.pid);
      const load = await graphqlLoad({ ...target, durationS: options.durationS });
      const cpuMs = cpuTimeMs(api.pid) - cpuBefore;
      return { load, maxRssMb: sampler.stop(), cpuMsPerRequest: round(cpuMs / Math.max(1, load.requests), 3) };
    };
    const trivial = await run(TRIVIAL_QUERY);
    const payouts = await run(PAYOUTS_QUERY);

    await sleep(2000);
    const after = memoryOf(api.pid)!;
    const stopped = await api.stop();
    if (stopped.code !== 0) throw new Error(`the API did not exit cleanly: ${JSON.stringify(stopped)}\n${api.output().slice(-4000)}`);

    const failures = (r: LoadResult) => r.failures.errors + r.failures.non2xx + r.failures.graphqlErrors;
    if (failures(trivial.load) + failures(payouts.load) > 0) {
      throw new Error(`requests failed under load: ${JSON.stringify({ trivial: trivial.load.failures, payouts: payouts.load.failures })}`);
    }
    const loadedRssMb = Math.max(trivial.maxRssMb, payouts.maxRssMb, after.peakRssMb);
    const load = `${options.connections} connections, ${options.durationS} s after ${options.warmupS} s warm-up`;
    return {
      name: 'graphql',
      figures: [
        {
          key: 'graphql.payouts.rps',
          label: 'GraphQL payouts(first: 20), requests per second',
          value: round(payouts.load.requestsPerSecond, 0),
          unit: '/s',
          target: { op: '>=', value: 1000 },
          note: load,
        },
        {
          key: 'graphql.payouts.p99',
          label: 'GraphQL payouts(first: 20), p99 latency',
          value: payouts.load.latencyMs.p99,
          unit: 'ms',
          target: { op: '<=', value: 100 },
          note: `p50 ${payouts.load.latencyMs.p50} ms; the API used ${payouts.cpuMsPerRequest} ms of CPU per request`,
        },
        {
          key: 'graphql.trivial.rps',
          label: 'GraphQL { __typename }, requests per second',
          value: round(trivial.load.requestsPerSecond, 0),
          unit: '/s',
          note: `same server, same run; ${trivial.cpuMsPerRequest} ms of CPU per request`,
        },
        { key: 'graphql.trivial.p99', label: 'GraphQL { __typename }, p99 latency', value: trivial.load.latencyMs.p99, unit: 'ms' },
        {
          key: 'graphql.ratio',
          label: 'payouts ÷ trivial (requests per second)',
          value: round(payouts.load.requestsPerSecond / trivial.load.requestsPerSecond, 2),
          unit: '×',
        },
        {
          key: 'memory.api.idle',
          label: 'RSS of `payouts api`, idle after start',
          value: round(idleRssMb, 0),
          unit: 'MB',
          target: { op: '<=', value: 300 },
        },
        {
          key: 'memory.api.loaded',
          label: 'RSS of `payouts api`, highest under load',
          value: round(loadedRssMb, 0),
          unit: 'MB',
          target: { op: '<=', value: 300 },
          note: `${round(after.rssMb, 0)} MB 2 s after the load`,
        },
      ],
      details: {
        options,
        payoutsInDatabase,
        apiPoolMax: poolMax ?? 'service default',
        apiReadyMs: round(readyMs, 0),
        trivial,
        payouts,
        rss: { idleMb: round(idleRssMb, 1), afterLoadMb: round(after.rssMb, 1), peakMb: round(after.peakRssMb, 1) },
        stop: stopped,
      },
      notes: [
        `GraphQL: \`payouts api\` runs in its own process (NODE_ENV=production, LOG_LEVEL=warn, DATABASE_POOL_MAX=${poolMax ?? 'default'}); autocannon in the benchmark process sends the same admin-token POST on ${options.connections} connections; any non-2xx answer or GraphQL error fails the run. The database holds ${payoutsInDatabase.toLocaleString('en-US')} payouts. RSS is the API process's VmRSS from /proc, sampled every 200 ms.`,
      ],
    };
  } finally {
    await api.stop(5000);
  }
}
