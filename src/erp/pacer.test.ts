import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer } from './pacer';

describe('Pacer', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  it('lets one through every 1/rate seconds, evenly, never in a burst', async () => {
    const limiter = new Pacer(10);
    const passed: number[] = [];
    const start = performance.now();
    for (let i = 0; i < 5; i += 1) void limiter.take().then(() => passed.push(performance.now() - start));
    await vi.advanceTimersByTimeAsync(0);
    expect(passed).toEqual([0]);
    await vi.advanceTimersByTimeAsync(250);
    expect(passed).toEqual([0, 100, 200]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(passed).toEqual([0, 100, 200, 300, 400]);
  });

  it('lets n through at once and the next ones n/rate seconds later', async () => {
    const limiter = new Pacer(10);
    const passed: number[] = [];
    const start = performance.now();
    void limiter.take(3).then(() => passed.push(performance.now() - start));
    void limiter.take(2).then(() => passed.push(performance.now() - start));
    void limiter.take(1).then(() => passed.push(performance.now() - start));
    await vi.advanceTimersByTimeAsync(1000);
    expect(passed).toEqual([0, 300, 500]);
  });

  it('has no ceiling at 0', async () => {
    const limiter = new Pacer(0);
    const passed: number[] = [];
    for (let i = 0; i < 100; i += 1) void limiter.take().then(() => passed.push(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(passed).toHaveLength(100);
  });
});
