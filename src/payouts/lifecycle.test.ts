import { describe, expect, it } from 'vitest';
import {
  PAYOUT_STATUSES,
  decideTransition,
  isPayoutStatus,
  isStep,
  movementFor,
  stepsTo,
  type PayoutAccountRole,
  type PayoutStatus,
  type TransitionDecision,
} from './lifecycle';

const S = PAYOUT_STATUSES;
const [a, i, r] = ['apply', 'ignore', 'refuse'] as const;

/**
 * The whole state machine written out, from contracts.md ("Payout lifecycle"): rows are the
 * current status, columns the status asked for. Late or repeated news of a status the payout has
 * already passed is ignored; a RETURNED before its PAID is applied (as PAID, then RETURNED);
 * everything else not allowed is refused.
 */
const EXPECTED: Record<PayoutStatus, TransitionDecision[]> = {
  //        CREATED SENT ACCEPTED PAID REJECTED RETURNED CANCELLED
  CREATED:   [i,    a,   r,       r,   r,       r,       a],
  SENT:      [i,    i,   a,       a,   a,       a,       r],
  ACCEPTED:  [i,    i,   i,       a,   a,       a,       r],
  PAID:      [i,    i,   i,       i,   r,       a,       r],
  REJECTED:  [i,    i,   i,       r,   i,       r,       r],
  RETURNED:  [i,    i,   i,       i,   r,       i,       r],
  CANCELLED: [i,    r,   r,       r,   r,       r,       i],
};

describe('decideTransition', () => {
  const pairs = S.flatMap((from) => S.map((to, column) => [from, to, EXPECTED[from][column]!] as const));

  it.each(pairs)('%s → %s: %s', (from, to, expected) => {
    expect(decideTransition(from, to)).toBe(expected);
  });

  it('leaves no way out of a final status', () => {
    for (const final of ['REJECTED', 'RETURNED', 'CANCELLED'] as const) {
      expect(S.filter((to) => decideTransition(final, to) === 'apply')).toEqual([]);
    }
  });
});

describe('stepsTo', () => {
  it('is the one step for news the state machine allows directly', () => {
    for (const from of S) for (const to of S.filter((s) => isStep(from, s))) expect(stepsTo(from, to)).toEqual([to]);
  });

  it('applies a RETURNED before its PAID as PAID, then RETURNED: a return means the money was paid', () => {
    expect(stepsTo('SENT', 'RETURNED')).toEqual(['PAID', 'RETURNED']);
    expect(stepsTo('ACCEPTED', 'RETURNED')).toEqual(['PAID', 'RETURNED']);
    expect(stepsTo('PAID', 'RETURNED')).toEqual(['RETURNED']);
    // Never sent, or already given back: nothing was paid, so nothing can come back.
    for (const from of ['CREATED', 'REJECTED', 'CANCELLED', 'RETURNED'] as const) expect(stepsTo(from, 'RETURNED')).toEqual([]);
  });

  it('gives steps for exactly the news that is applied, each a step the state machine allows, ending at the news', () => {
    for (const from of S) {
      for (const to of S) {
        const steps = stepsTo(from, to);
        expect(steps.length > 0, `${from} → ${to}`).toBe(decideTransition(from, to) === 'apply');
        if (steps.length === 0) continue;
        expect(steps.at(-1)).toBe(to);
        let at = from;
        for (const step of steps) {
          expect(isStep(at, step), `${from} → ${to}: ${at} → ${step}`).toBe(true);
          at = step;
        }
      }
    }
  });
});

describe('movementFor', () => {
  it.each([
    ['CREATED', 'CREATED', { from: 'available', to: 'reserved' }],
    ['CREATED', 'SENT', { from: 'reserved', to: 'inFlight' }],
    ['CREATED', 'CANCELLED', { from: 'reserved', to: 'available' }],
    ['SENT', 'ACCEPTED', null],
    ['SENT', 'PAID', { from: 'inFlight', to: 'world' }],
    ['SENT', 'REJECTED', { from: 'inFlight', to: 'available' }],
    ['ACCEPTED', 'PAID', { from: 'inFlight', to: 'world' }],
    ['ACCEPTED', 'REJECTED', { from: 'inFlight', to: 'available' }],
    ['PAID', 'RETURNED', { from: 'world', to: 'available' }],
  ] as const)('%s → %s moves %j', (from, to, expected) => {
    expect(movementFor(from, to)).toEqual(expected);
  });

  /** Every path the lifecycle allows from creation, each applied step moving its money. */
  function paths(): PayoutStatus[][] {
    const done: PayoutStatus[][] = [];
    const walk = (path: PayoutStatus[]) => {
      const next = S.filter((to) => isStep(path.at(-1)!, to));
      if (next.length === 0) done.push(path);
      for (const to of next) walk([...path, to]);
    };
    walk(['CREATED']);
    return done;
  }

  /** Where a payout's money is while it is in each status. */
  const HELD_IN: Record<PayoutStatus, PayoutAccountRole> = {
    CREATED: 'reserved',
    SENT: 'inFlight',
    ACCEPTED: 'inFlight',
    PAID: 'world',
    REJECTED: 'available',
    RETURNED: 'available',
    CANCELLED: 'available',
  };

  it('keeps the money exactly where each status says on every path the lifecycle allows', () => {
    const all = paths();
    expect(all.map((p) => p.join('>'))).toEqual([
      'CREATED>SENT>ACCEPTED>PAID>RETURNED',
      'CREATED>SENT>ACCEPTED>REJECTED',
      'CREATED>SENT>PAID>RETURNED',
      'CREATED>SENT>REJECTED',
      'CREATED>CANCELLED',
    ]);
    for (const path of all) {
      const balance: Record<PayoutAccountRole, number> = { available: 100, reserved: 0, inFlight: 0, world: 0 };
      let from: PayoutStatus = 'CREATED';
      for (const to of path) {
        const movement = movementFor(from, to);
        if (movement) {
          balance[movement.from] -= 100;
          balance[movement.to] += 100;
        }
        const expected = { available: 0, reserved: 0, inFlight: 0, world: 0, [HELD_IN[to]]: 100 };
        expect(balance, `${path.join('>')} at ${to}`).toEqual(expected);
        from = to;
      }
    }
  });

  it('keeps the money where the news says once every step it makes is applied', () => {
    for (const from of S) {
      for (const to of S.filter((s) => decideTransition(from, s) === 'apply')) {
        const balance: Record<PayoutAccountRole, number> = { available: 0, reserved: 0, inFlight: 0, world: 0, [HELD_IN[from]]: 100 };
        let at = from;
        for (const step of stepsTo(from, to)) {
          const movement = movementFor(at, step);
          if (movement) {
            balance[movement.from] -= 100;
            balance[movement.to] += 100;
          }
          at = step;
        }
        expect(balance, `${from} → ${to}`).toEqual({ available: 0, reserved: 0, inFlight: 0, world: 0, [HELD_IN[to]]: 100 });
      }
    }
  });
});

describe('isPayoutStatus', () => {
  it('knows the seven statuses and nothing else', () => {
    expect(S.every(isPayoutStatus)).toBe(true);
    expect(['created', 'PENDING', '', null, 1].some(isPayoutStatus)).toBe(false);
  });
});
