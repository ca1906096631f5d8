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
  method: 'GET' | 'POST';
  connections: number;
  duration: number;
  headers?: Record<string, string>;
  body?: string;
  timeout: number;
  verifyBody?: (body: string) => boolean;
  /** Each request in turn; `setupRequest` may rewrite it (e.g. a new body or path every time). */
  requests?: { setupRequest?: (request: AutocannonRequest) => AutocannonRequest }[];
}

interface AutocannonRequest {
  body?: string;
  path?: string;
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
  const result = await httpLoad({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    durationS: options.durationS,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
    body: JSON.stringify({ query: options.query }),
    verifyBody: (body) => !body.includes('"errors"'),
    ...(options.variables ? { next: () => ({ body: JSON.stringify({ query: options.query, variables: options.variables!() }) }) } : {}),
  });
  return { ...result, failures: { errors: result.failures.errors, timeouts: result.failures.timeouts, non2xx: result.failures.non2xx, graphqlErrors: result.failures.wrongAnswers } };
}

export type HttpLoadResult = Omit<LoadResult, 'failures'> & { failures: { errors: number; timeouts: number; non2xx: number; wrongAnswers: number } };

/**
 * Any HTTP request at a fixed number of connections for `durationS` seconds against 127.0.0.1: the
 * same one every time, or each from `next` (a new path or body). An answer `verifyBody` refuses
 * counts as a failure (`wrongAnswers`), not as a served request.
 */
export async function httpLoad(options: {
  url: string;
  method: 'GET' | 'POST';
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  body?: string;
  verifyBody?: (body: string) => boolean;
  next?: () => AutocannonRequest;
}): Promise<HttpLoadResult> {
  if (!/^http:\/\/127\.0\.0\.1[:/]/.test(options.url)) throw new Error('the load generator targets 127.0.0.1 only');
  const next = options.next;
  const result = await autocannon({
    url: options.url,
    method: options.method,
    connections: options.connections,
    duration: options.durationS,
    timeout: 10,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.verifyBody ? { verifyBody: options.verifyBody } : {}),
    ...(next ? { requests: [{ setupRequest: (request) => ({ ...request, ...next() }) }] } : {}),
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
    failures: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, wrongAnswers: result.mismatches },
    durationS: result.duration,
  };
}
