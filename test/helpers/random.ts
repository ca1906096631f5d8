import { randomInt } from 'node:crypto';

/**
 * A small seeded pseudo-random generator (the mulberry32 mixing function), so a failing
 * randomized run can be replayed from its seed. Not for anything that needs real randomness.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bigint(min: number, max: number): bigint {
    return BigInt(this.int(min, max));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** One of the choices, each as likely as its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [choice, weight] of choices) {
      roll -= weight;
      if (roll < 0) return choice;
    }
    return choices.at(-1)![0];
  }
}

/** The seed from `SEED` when set (to replay a run), otherwise a fresh one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  if (env.SEED === undefined || env.SEED === '') return randomInt(1, 2 ** 31);
  const seed = Number(env.SEED);
  if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be an integer, got "${env.SEED}"`);
  return seed;
}
