/** Small numeric helpers shared by the benchmarks. */

/** The p-th percentile (0–100) of some samples, by nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work(i)` for i in [0, total) with at most `concurrency` calls in flight, like a service
 * handling that many requests at once. Returns each call's latency in milliseconds.
 */
export async function runConcurrently(
  total: number,
  concurrency: number,
  work: (i: number) => Promise<unknown>,
): Promise<{ elapsedMs: number; latenciesMs: number[] }> {
  const latenciesMs = new Array<number>(total);
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const begin = performance.now();
      await work(i);
      latenciesMs[i] = performance.now() - begin;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  return { elapsedMs: performance.now() - started, latenciesMs };
}

/** Reads an integer setting of the benchmark itself (not of the service) from the environment. */
export function intFromEnv(name: string, fallback: number, zeroAllowed = false): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) {
    throw new Error(`${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} integer, not "${text}"`);
  }
  return value;
}

/** Milliseconds per item (3 decimals); null stays null (a figure that could not be measured). */
export const perItem = (ms: number | null, count: number) => (ms === null ? null : round(ms / Math.max(1, count), 3));
