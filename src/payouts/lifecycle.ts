/**
 * The payout state machine (contracts.md, "Payout lifecycle") and the ledger movement each step
 * makes. Pure: no I/O, so every rule is unit-tested on its own.
 */
export const PAYOUT_STATUSES = ['CREATED', 'SENT', 'ACCEPTED', 'PAID', 'REJECTED', 'RETURNED', 'CANCELLED'] as const;
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

export const PAYOUT_SOURCES = ['SCHEDULE', 'REQUEST', 'INSTANT', 'PERIODIC', 'SIGNALQ', 'MANUAL'] as const;
export type PayoutSource = (typeof PAYOUT_SOURCES)[number];

/** The payee's accounts a payout moves money between; `world` is outside the ledger's payees. */
export const PayoutAccount = {
  available: 'payout',
  reserved: 'payout-reserved',
  inFlight: 'payout-sent',
  world: 'world',
} as const;
export type PayoutAccountRole = keyof typeof PayoutAccount;

const NEXT: Record<PayoutStatus, readonly PayoutStatus[]> = {
  CREATED: ['SENT', 'CANCELLED'],
  // The money feed can report PAID before the document feed's ACCEPTED arrives.
  SENT: ['ACCEPTED', 'PAID', 'REJECTED'],
  ACCEPTED: ['PAID', 'REJECTED'],
  PAID: ['RETURNED'],
  REJECTED: [],
  RETURNED: [],
  CANCELLED: [],
};

/** Statuses a payout has certainly passed once it is in the key status: late news of them is no news. */
const ALREADY_PASSED: Record<PayoutStatus, readonly PayoutStatus[]> = {
  CREATED: [],
  SENT: ['CREATED'],
  ACCEPTED: ['CREATED', 'SENT'],
  PAID: ['CREATED', 'SENT', 'ACCEPTED'],
  REJECTED: ['CREATED', 'SENT', 'ACCEPTED'],
  RETURNED: ['CREATED', 'SENT', 'ACCEPTED', 'PAID'],
  CANCELLED: ['CREATED'],
};

/**
 * News of a status that says an earlier step happened, though its own news has not arrived: a
 * return means the money was paid (the money feed can send RETURNED before its PAID).
 */
const IMPLIES: Partial<Record<PayoutStatus, PayoutStatus>> = { RETURNED: 'PAID' };

export type TransitionDecision = 'apply' | 'ignore' | 'refuse';

/**
 * `apply` real news: a step, or a status that implies a step first (RETURNED before its PAID);
 * `ignore` a repeat or late message (same status, or one the payout is already past, e.g.
 * ACCEPTED after PAID); `refuse` anything else.
 */
export function decideTransition(from: PayoutStatus, to: PayoutStatus): TransitionDecision {
  if (stepsTo(from, to).length > 0) return 'apply';
  if (from === to || ALREADY_PASSED[from].includes(to)) return 'ignore';
  return 'refuse';
}

/**
 * The steps, each one the state machine allows, that news of `to` makes from `from`: `[to]`, or
 * the implied step and then `to` (`SENT` told `RETURNED` → `PAID`, `RETURNED`). Empty when the
 * news is not applied.
 */
export function stepsTo(from: PayoutStatus, to: PayoutStatus): PayoutStatus[] {
  if (isStep(from, to)) return [to];
  const implied = IMPLIES[to];
  if (implied && isStep(from, implied) && isStep(implied, to)) return [implied, to];
  return [];
}

/** Whether the state machine goes from `from` to `to` in one step. */
export function isStep(from: PayoutStatus, to: PayoutStatus): boolean {
  return NEXT[from].includes(to);
}

export interface Movement {
  from: PayoutAccountRole;
  to: PayoutAccountRole;
}

/** The ledger movement that makes a step true in money, or null when the step moves nothing. */
export function movementFor(from: PayoutStatus, to: PayoutStatus): Movement | null {
  switch (to) {
    case 'CREATED':
      return { from: 'available', to: 'reserved' };
    case 'SENT':
      return { from: 'reserved', to: 'inFlight' };
    case 'ACCEPTED':
      return null;
    case 'PAID':
      return { from: 'inFlight', to: 'world' };
    case 'REJECTED':
      return { from: 'inFlight', to: 'available' };
    case 'RETURNED':
      return { from: 'world', to: 'available' };
    case 'CANCELLED':
      return { from: 'reserved', to: 'available' };
  }
  throw new Error(`no movement from ${from} to ${to}`);
}

/** The statuses that give the payout's money back to the payee's account: the payout will not be paid. */
export const MONEY_BACK_STATUSES: readonly PayoutStatus[] = ['CANCELLED', 'REJECTED', 'RETURNED'];

export function returnsMoney(status: PayoutStatus): boolean {
  return MONEY_BACK_STATUSES.includes(status);
}

export function isPayoutStatus(value: unknown): value is PayoutStatus {
  return PAYOUT_STATUSES.includes(value as PayoutStatus);
}
