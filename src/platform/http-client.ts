import type { Logger } from './logger';

/**
 * JSON over HTTP to a third party's API (a payment system's): each attempt has a time limit;
 * transient failures (network, timeout, 5xx, 429) are tried again with growing pauses; a refusal
 * (any other 4xx) is not, since asking again gets the same answer. Logs name the method, the path
 * and the status, never headers or bodies (they carry keys and customers' data).
 */
export interface HttpClientOptions {
  /** Each attempt's limit. */
  timeoutMs: number;
  /** Attempts in all (1: no retry). */
  attempts: number;
  /** The first pause; each next one doubles, with jitter. */
  backoffMs: number;
  logger: Logger;
}

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** The third party refused the request (4xx other than 429): asking again would not help. */
export class HttpRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what} was refused with HTTP ${status}`);
    this.name = 'HttpRefusedError';
  }
}

/** Every attempt failed transiently: the third party may still have acted on one of them. */
export class HttpUnavailableError extends Error {
  constructor(what: string, readonly lastProblem: string) {
    super(`${what} failed: ${lastProblem}`);
    this.name = 'HttpUnavailableError';
  }
}

export class JsonHttpClient {
  constructor(private readonly options: HttpClientOptions) {}

  /** The answer of a 2xx; throws HttpRefusedError for a refusal, HttpUnavailableError when every attempt failed. */
  async request(request: JsonRequest): Promise<JsonResponse> {
    const what = `${request.method} ${pathOf(request.url)}`;
    let problem = '';
    for (let attempt = 1; attempt <= this.options.attempts; attempt += 1) {
      if (attempt > 1) await pause(this.options.backoffMs * 2 ** (attempt - 2) * (0.5 + Math.random()));
      const started = performance.now();
      try {
        const response = await fetch(request.url, {
          method: request.method,
          headers: { accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }), ...request.headers },
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          signal: AbortSignal.timeout(this.options.timeoutMs),
          redirect: 'error',
        });
        const body = await readJson(response);
        const ms = Math.round(performance.now() - started);
        if (response.ok) {
          this.options.logger.debug({ request: what, status: response.status, ms, attempt }, 'payment-system API answered');
          return { status: response.status, body };
        }
        if (!isTransient(response.status)) {
          this.options.logger.warn({ request: what, status: response.status, ms, attempt }, 'payment-system API refused the request');
          throw new HttpRefusedError(response.status, body, what);
        }
        problem = `HTTP ${response.status}`;
      } catch (error) {
        if (error instanceof HttpRefusedError) throw error;
        problem = problemOf(error);
      }
      this.options.logger.warn({ request: what, problem, attempt, of: this.options.attempts }, 'payment-system API failed transiently');
    }
    throw new HttpUnavailableError(what, problem);
  }
}

export function isTransient(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The URL without its query (which might carry a token) for logs and messages. */
function pathOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(bad URL)';
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function problemOf(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof cause === 'string' ? cause : 'network error';
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
