/** A typed slice of autocannon's programmatic API (the package ships no types). */
interface Histogram {
  average: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

interface AutocannonResult {
  requests: Histogram & { total: number; sent: number };
  latency: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  '2xx': number;
}

interface AutocannonOptions {
  url: string;
  method: 'POST';
  connections: number;
  duration: number;
  headers: Record<string, string>;
  body: string;
  timeout: number;
  verifyBody?: (body: string) => boolean;
  /** Each request in turn; `setupRequest` may rewrite it (e.g. a new body every time). */
  requests?: { setupRequest?: (request: { body?: string }) => { body?: string } }[];
}

const autocannon = require('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

export interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Transport errors, timeouts, non-2xx answers and answers carrying GraphQL `errors`. */
  failures: { errors: number; timeouts: number; non2xx: number; graphqlErrors: number };
  durationS: number;
}

/**
 * POSTs one GraphQL document at a fixed number of connections for `durationS` seconds against
 * 127.0.0.1; an answer with an `errors` member counts as a failure, not as a served request.
 */
export async function graphqlLoad(options: {
  url: string;
  token: string;
  query: string;
  connections: number;
  durationS: number;
  /** Variables for each request in turn (e.g. a fresh idempotency key); the same body every time if absent. */
  variables?: () => Record<string, unknown>;
}): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1[:/]/.test(options.url)) throw new Error('the load generator targets 127.0.0.1 only');
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    duration: options.durationS,
    timeout: 10,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
    body: JSON.stringify({ query: options.query }),
    verifyBody: (body) => !body.includes('"errors"'),
    ...(options.variables
      ? {
          requests: [
            {
              setupRequest: (request) => ({ ...request, body: JSON.stringify({ query: options.query, variables: options.variables!() }) }),
            },
          ],
        }
      : {}),
  });
  // Only good answers count towards the rate; the failures are reported beside it.
  const served = result.requests.total - result.non2xx - result.mismatches;
  return {
    requestsPerSecond: served / result.duration,
    requests: result.requests.total,
    latencyMs: {
      mean: result.latency.mean,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    failures: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, graphqlErrors: result.mismatches },
    durationS: result.duration,
  };
}
