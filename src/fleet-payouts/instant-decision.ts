/**
 * Whether a park may be paid instantly now, and how much: the rules of `requestInstantPayout`
 * (contracts.md), first match wins. Pure: the caller reads the facts under the park's lock.
 */
export interface InstantFacts {
  parkStatus: 'ACTIVE' | 'DISABLED';
  /** False when instant payouts are switched off for this park. */
  instantEnabled: boolean;
  lastInstantAt: Date | null;
  cooldownHours: number;
  /** The per-withdrawal limit in the park's currency (0: none may be paid). */
  limit: bigint;
  /** The park's available balance. */
  balance: bigint;
  /** What the dispatcher asked for; null is "all, up to the limit". */
  requested: bigint | null;
  now: Date;
}

export type InstantRefusal =
  | { code: 'FORBIDDEN'; message: string }
  | { code: 'COOLDOWN'; message: string; retryAt: Date }
  | { code: 'LIMIT_EXCEEDED'; message: string; limit: bigint }
  /** `balance` is null when the ledger refused the reservation after the rules had read it (it went down meanwhile). */
  | { code: 'INSUFFICIENT_FUNDS'; message: string; balance: bigint | null };

export type InstantDecision = { pay: bigint } | { refuse: InstantRefusal };

export function decideInstant(facts: InstantFacts): InstantDecision {
  if (facts.parkStatus !== 'ACTIVE') return refuse({ code: 'FORBIDDEN', message: 'The park is disabled' });
  if (!facts.instantEnabled) return refuse({ code: 'FORBIDDEN', message: 'Instant payouts are switched off for this park' });
  const retryAt = cooldownEnd(facts);
  if (retryAt && retryAt > facts.now) {
    return refuse({ code: 'COOLDOWN', message: `One instant payout per ${facts.cooldownHours} h: the next one from ${retryAt.toISOString()}`, retryAt });
  }
  if (facts.requested !== null && facts.requested > facts.limit) {
    return refuse({ code: 'LIMIT_EXCEEDED', message: `An instant payout may pay at most ${facts.limit} (minor units)`, limit: facts.limit });
  }
  const amount = facts.requested ?? min(facts.balance, facts.limit);
  if (amount <= 0n || amount > facts.balance) {
    return refuse({ code: 'INSUFFICIENT_FUNDS', message: `The park has ${facts.balance} (minor units) to pay out`, balance: facts.balance });
  }
  return { pay: amount };
}

/** What the park page shows: what a press would pay now (zero when refused) and from when it may. */
export function instantQuote(facts: Omit<InstantFacts, 'requested'>): { available: bigint; nextAvailableAt: Date | null } {
  const retryAt = cooldownEnd(facts);
  const decision = decideInstant({ ...facts, requested: null });
  return {
    available: 'pay' in decision ? decision.pay : 0n,
    nextAvailableAt: retryAt && retryAt > facts.now ? retryAt : null,
  };
}

function cooldownEnd(facts: Pick<InstantFacts, 'lastInstantAt' | 'cooldownHours'>): Date | null {
  if (!facts.lastInstantAt || facts.cooldownHours <= 0) return null;
  return new Date(facts.lastInstantAt.getTime() + facts.cooldownHours * 3_600_000);
}

function refuse(refusal: InstantRefusal): InstantDecision {
  return { refuse: refusal };
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
