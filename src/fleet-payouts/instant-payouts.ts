import type { EntityManager } from '@mikro-orm/postgresql';
import { InsufficientFundsError } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';
import type { PayoutRow } from '../payouts/payout-messages';
import type { PayoutLifecycle } from '../payouts/payout-lifecycle';
import type { PayoutQueries } from '../payouts/payout.queries';
import { queryBound } from '../platform/bound-query';
import { ConflictError, DomainError, NotFoundError } from '../platform/errors';
import { decideInstant, type InstantRefusal } from './instant-decision';
import type { PayoutRulesStore } from './payout-rules';

/** A press of the button refused by the rules: FORBIDDEN, COOLDOWN (with retryAt), LIMIT_EXCEEDED, INSUFFICIENT_FUNDS. */
export class InstantPayoutRefused extends DomainError {
  constructor(readonly refusal: InstantRefusal) {
    super(refusal.code, refusal.message, detailsOf(refusal));
  }
}

export interface InstantPayoutInput {
  parkId: string;
  /** Minor units; null pays everything available, up to the limit. */
  amount: bigint | null;
  idempotencyKey: string;
  actor: string | null;
}

/** What the press's first statement reads, holding the park's row. */
interface PressedPark {
  status: 'ACTIVE' | 'DISABLED' | null;
  currency: string | null;
  instant_enabled: boolean;
  previous_instant_at: string | null;
  cooldown_hours: number | null;
  limit_minor: string | null;
  balance: string | null;
}

/** Ends the press's transaction without its effects: a refusal, or a key that had paid before. */
class RollBack extends Error {
  constructor(readonly answer: { refused: Error } | { payout: PayoutRow }) {
    super('rolled back');
  }
}

/**
 * Instant payouts: the dispatcher's button. One transaction per press, of two statements: the
 * first takes the park's instant-payout row (two presses at the same moment, on any number of API
 * processes, take turns), records this press as the park's latest and reads everything the rules
 * need; the second creates the payout. A press that is refused, or whose key had paid before, rolls
 * the whole transaction back, so only a press that pays moves the cooldown.
 */
export class InstantPayouts {
  constructor(
    private readonly lifecycle: PayoutLifecycle,
    private readonly payouts: PayoutQueries,
    private readonly rules: PayoutRulesStore,
    private readonly onPaid: (payout: PayoutRow) => void = () => {},
  ) {}

  /**
   * Pays the park now, or refuses with the first rule it breaks. The same idempotency key returns
   * the payout it made, whatever happened since (a cooldown, an empty balance, a disabled park).
   * `transaction` runs the work in a transaction of its own (retried on deadlocks).
   */
  async request(
    transaction: <T>(work: (em: EntityManager) => Promise<T>) => Promise<T>,
    input: InstantPayoutInput,
  ): Promise<PayoutRow> {
    const key = idempotencyKeyOf(input.parkId, input.idempotencyKey);
    try {
      const payout = await transaction((em) => this.press(em, input, key));
      this.onPaid(payout);
      return payout;
    } catch (error) {
      if (!(error instanceof RollBack)) throw error;
      if ('payout' in error.answer) return error.answer.payout;
      // Refused: the key's earlier payout, if it made one, is the answer; otherwise the refusal.
      const existing = await transaction((em) => this.payouts.byIdempotencyKey(em, key));
      if (existing) return existing;
      throw error.answer.refused;
    }
  }

  private async press(em: EntityManager, input: InstantPayoutInput, key: string): Promise<PayoutRow> {
    const now = new Date();
    const park = await this.take(em, input.parkId, now);
    const currency = park.currency!;
    const balance = BigInt(park.balance ?? 0);
    const decision = decideInstant({
      parkStatus: park.status!,
      instantEnabled: park.instant_enabled,
      lastInstantAt: park.previous_instant_at ? new Date(park.previous_instant_at) : null,
      cooldownHours: this.rules.cooldownHours(park.cooldown_hours),
      limit: this.rules.limitOf(currency, park.limit_minor === null ? null : BigInt(park.limit_minor)),
      balance,
      requested: input.amount,
      now,
    });
    if ('refuse' in decision) throw new RollBack({ refused: new InstantPayoutRefused(decision.refuse) });
    try {
      const { payout, changed } = await this.lifecycle.create(
        em,
        {
          payee: { kind: 'PARK', id: input.parkId },
          amount: decision.pay,
          currency,
          source: 'INSTANT',
          sourceRef: input.idempotencyKey,
          idempotencyKey: key,
          actor: input.actor,
        },
        now,
      );
      // The same key with the same amount paid before: that payout, and this press changes nothing.
      if (!changed) throw new RollBack({ payout });
      return payout;
    } catch (error) {
      if (error instanceof InsufficientFundsError) {
        throw new RollBack({ refused: new InstantPayoutRefused({ code: 'INSUFFICIENT_FUNDS', message: 'The park has less than that to pay out', balance }) });
      }
      // The key paid another amount before: refused as a conflict, unless that payout is found.
      if (error instanceof ConflictError) throw new RollBack({ refused: error });
      throw error;
    }
  }

  /**
   * Locks the park's instant-payout row (made on first use), records `now` as its latest press and
   * reads, in the same statement, the press before it, the park's status and currency, its balance
   * and the rules in force. Unknown park: NOT_FOUND.
   */
  private async take(em: EntityManager, parkId: string, now: Date): Promise<PressedPark> {
    const [row] = await queryBound<PressedPark>(
      em,
      `WITH state AS (
         INSERT INTO fleet_park_payouts AS s (park_id, last_instant_at) VALUES (?, ?)
         ON CONFLICT (park_id) DO UPDATE SET previous_instant_at = s.last_instant_at, last_instant_at = EXCLUDED.last_instant_at
         RETURNING s.instant_enabled, s.previous_instant_at)
       SELECT p.status, p.currency, state.instant_enabled, state.previous_instant_at,
              (SELECT instant_cooldown_hours FROM fleet_payout_settings) AS cooldown_hours,
              (SELECT limit_minor::text FROM fleet_instant_limit l WHERE l.currency = p.currency) AS limit_minor,
              ledger_balance('PARK', ?, ?, p.currency)::text AS balance
         FROM state, park_payable(?) p`,
      [parkId, now, parkId, PayoutAccount.available, parkId],
      { name: 'fleet_instant_take' },
    );
    if (!row || row.status === null) throw new NotFoundError(`Park ${parkId} not found`, { parkId });
    return { ...row, currency: row.currency!.trim() };
  }
}

/** Keys are the dispatcher's, per park: the same key pressed for two parks makes two payouts. */
export function idempotencyKeyOf(parkId: string, key: string): string {
  return `instant:${parkId}:${key}`;
}

function detailsOf(refusal: InstantRefusal): Record<string, unknown> {
  switch (refusal.code) {
    case 'COOLDOWN':
      return { retryAt: refusal.retryAt.toISOString() };
    case 'LIMIT_EXCEEDED':
      return { limit: refusal.limit.toString() };
    case 'INSUFFICIENT_FUNDS':
      return { available: refusal.balance.toString() };
    default:
      return {};
  }
}
