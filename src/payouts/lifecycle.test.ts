import { describe, expect, it } from 'vitest';
import {
  PAYOUT_STATUSES,
  decideTransition,
  isPayoutStatus,
  movementFor,
  type PayoutAccountRole,
  type PayoutStatus,
  type TransitionDecision,
} from './lifecycle';

const S = PAYOUT_STATUSES;
const [a, i, r] = ['apply', 'ignore', 'refuse'] as const;

/**
 * The whole state machine written out, from contracts.md ("Payout lifecycle"): rows are the
 * current status, columns the status asked for. Late or repeated news of a status the payout has
 * already passed is ignored; everything else not allowed is refused.
 */
const EXPECTED: Record<PayoutStatus, TransitionDecision[]> = {
  //        CREATED SENT ACCEPTED PAID REJECTED RETURNED CANCELLED
  CREATED:   [i,    a,   r,       r,   r,       r,       a],
  SENT:      [i,    i,   a,       a,   a,       r,       r],
  ACCEPTED:  [i,    i,   i,       a,   a,       r,       r],
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
      const next = S.filter((to) => decideTransition(path.at(-1)!, to) === 'apply');
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
});

describe('isPayoutStatus', () => {
  it('knows the seven statuses and nothing else', () => {
    expect(S.every(isPayoutStatus)).toBe(true);
    expect(['created', 'PENDING', '', null, 1].some(isPayoutStatus)).toBe(false);
  });
});
