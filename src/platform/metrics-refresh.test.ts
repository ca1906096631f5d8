import { describe, expect, it, vi } from 'vitest';
import { boundedRefresh } from './metrics-refresh';

/** A refresh that counts its runs and finishes (or fails) only when the test says so. */
function gatedRefresh() {
  let runs = 0;
  let finish: (error?: Error) => void = () => {};
  const refresh = () => {
    runs += 1;
    return new Promise<void>((resolve, reject) => {
      finish = (error) => (error ? reject(error) : resolve());
    });
  };
  return { refresh, runs: () => runs, finish: (error?: Error) => finish(error) };
}

function setup(minIntervalMs = 5000) {
  let clock = 1_000;
  const gate = gatedRefresh();
  const logger = { warn: vi.fn() };
  const scrape = boundedRefresh(gate.refresh, { minIntervalMs, logger, now: () => clock });
  return { gate, logger, scrape, advance: (ms: number) => (clock += ms) };
}

describe('boundedRefresh', () => {
  it('runs one refresh for many concurrent scrapes, and they all wait for it', async () => {
    const { gate, scrape } = setup();
    let answered = 0;
    const scrapes = Array.from({ length: 50 }, () => scrape().then(() => (answered += 1)));
    await Promise.resolve();
    expect(gate.runs()).toBe(1);
    expect(answered).toBe(0);
    gate.finish();
    await Promise.all(scrapes);
    expect(answered).toBe(50);
    expect(gate.runs()).toBe(1);
  });

  it('serves a scrape within the interval without refreshing, and refreshes again after it', async () => {
    const { gate, scrape, advance } = setup(5000);
    const first = scrape();
    gate.finish();
    await first;
    advance(4999);
    await scrape();
    expect(gate.runs()).toBe(1);
    advance(1);
    const second = scrape();
    expect(gate.runs()).toBe(2);
    gate.finish();
    await second;
  });

  it('never starts a second refresh while one runs, even past the interval', async () => {
    const { gate, scrape, advance } = setup(10);
    const first = scrape();
    advance(60_000);
    const waiting = scrape();
    expect(gate.runs()).toBe(1);
    gate.finish();
    await Promise.all([first, waiting]);
    const next = scrape();
    expect(gate.runs()).toBe(2);
    gate.finish();
    await next;
  });

  it('logs a failed refresh once, answers its scrapes, and tries again after the interval', async () => {
    const { gate, logger, scrape, advance } = setup(5000);
    const failing = [scrape(), scrape(), scrape()];
    const error = new Error('database unreachable');
    gate.finish(error);
    await expect(Promise.all(failing)).resolves.toEqual([undefined, undefined, undefined]);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith({ err: error }, 'metrics refresh failed');

    // Within the interval the failure counts as the attempt: the database is not asked again at once.
    await scrape();
    expect(gate.runs()).toBe(1);
    advance(5000);
    const retry = scrape();
    expect(gate.runs()).toBe(2);
    gate.finish();
    await retry;
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it('recovers from a refresh that throws before returning a promise', async () => {
    const logger = { warn: vi.fn() };
    let runs = 0;
    const scrape = boundedRefresh(
      () => {
        runs += 1;
        throw new Error('thrown at once');
      },
      { minIntervalMs: 0, logger },
    );
    await scrape();
    await scrape();
    expect(runs).toBe(2);
    expect(logger.warn).toHaveBeenCalledTimes(2);
  });

  it('refreshes on every scrape with an interval of 0, still one at a time', async () => {
    const { gate, scrape } = setup(0);
    const [a, b] = [scrape(), scrape()];
    expect(gate.runs()).toBe(1);
    gate.finish();
    await Promise.all([a, b]);
    const c = scrape();
    expect(gate.runs()).toBe(2);
    gate.finish();
    await c;
  });
});
