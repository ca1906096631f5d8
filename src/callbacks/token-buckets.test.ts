import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-buckets';

describe('TokenBuckets', () => {
  it('lets a burst through, refuses past it, and refills at the rate', () => {
    let now = 0;
    const limiter = new TokenBuckets(2, 4, 100, () => now);
    expect(Array.from({ length: 6 }, () => limiter.take('a'))).toEqual([true, true, true, true, false, false]);
    // Another key has its own bucket.
    expect(limiter.take('b')).toBe(true);
    now += 500; // one token back at 2 a second
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
    now += 60_000; // never more than the burst
    expect(Array.from({ length: 5 }, () => limiter.take('a'))).toEqual([true, true, true, true, false]);
  });

  it('forgets idle keys instead of growing past maxKeys', () => {
    let now = 0;
    const limiter = new TokenBuckets(1, 2, 10, () => now);
    for (let i = 0; i < 10; i++) limiter.take(`k${i}`);
    now += 5_000;
    limiter.take('new');
    expect(limiter.size).toBe(1);
    // Still-busy keys past the cap: it starts over rather than grow.
    for (let i = 0; i < 20; i++) limiter.take(`busy${i}`);
    expect(limiter.size).toBeLessThanOrEqual(10);
  });
});
