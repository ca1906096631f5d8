import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import { InsufficientFundsError } from '../ledger/ledger.service';
import { parkPayoutAccount } from '../parks/park';
import type { PayoutRow } from '../payouts/payout-messages';
import type { PayoutLifecycle } from '../payouts/payout-lifecycle';
import type { PayoutQueries } from '../payouts/payout.queries';
import { queryBound } from '../platform/bound-query';
import { ConflictError, DomainError, NotFoundError } from '../platform/errors';
import { decideInstant, type InstantRefusal } from './instant-decision';
import type { FleetPayoutSettings } from './settings';

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

/** What the park's lock reads, in the one statement that takes it. */
interface LockedPark {
  status: 'ACTIVE' | 'DISABLED' | null;
  currency: string | null;
  instant_enabled: boolean;
  last_instant_at: string | null;
  cooldown_hours: number | null;
  limit_minor: string | null;
  db_now: string;
}

/**
 * Instant payouts: the dispatcher's button. Everything is decided inside the caller's
 * transaction, under a lock on the park's instant-payout row: two presses at the same moment, on
 * any number of API processes, take turns, and the second sees the first's payout (COOLDOWN).
 */
export class InstantPayouts {
  constructor(
    private readonly ledger: LedgerService,
    private readonly lifecycle: PayoutLifecycle,
    private readonly payouts: PayoutQueries,
    private readonly defaults: FleetPayoutSettings,
    private readonly onPaid: (payout: PayoutRow) => void = () => {},
  ) {}

  /**
   * Pays the park now, or refuses with the first rule it breaks. The same idempotency key returns
   * the payout it made, whatever happened since (a cooldown, an empty balance, a disabled park).
   */
  async request(em: EntityManager, input: InstantPayoutInput): Promise<PayoutRow> {
    const key = idempotencyKeyOf(input.parkId, input.idempotencyKey);
    const park = await this.lock(em, input.parkId);
    const currency = park.currency!;
    const [account] = await this.ledger.balancesOf(em, [parkPayoutAccount(input.parkId, currency)]);
    const decision = decideInstant({
      parkStatus: park.status!,
      instantEnabled: park.instant_enabled,
      lastInstantAt: park.last_instant_at ? new Date(park.last_instant_at) : null,
      cooldownHours: park.cooldown_hours ?? this.defaults.FLEET_INSTANT_COOLDOWN,
      limit: park.limit_minor !== null ? BigInt(park.limit_minor) : (this.defaults.FLEET_INSTANT_LIMIT.get(currency) ?? 0n),
      balance: account?.balance ?? 0n,
      requested: input.amount,
      now: new Date(park.db_now),
    });
    if ('refuse' in decision) return this.madeBefore(em, key, new InstantPayoutRefused(decision.refuse));
    let payout: PayoutRow;
    try {
      const { payout: created, changed } = await this.lifecycle.create(em, {
        payee: { kind: 'PARK', id: input.parkId },
        amount: decision.pay,
        currency,
        source: 'INSTANT',
        sourceRef: input.idempotencyKey,
        idempotencyKey: key,
        actor: input.actor,
      });
      if (!changed) return created;
      payout = created;
    } catch (error) {
      // The key made a payout of another amount before: that one is the answer.
      if (error instanceof ConflictError && !(error instanceof InsufficientFundsError)) return this.madeBefore(em, key, error);
      if (error instanceof InsufficientFundsError) {
        throw new InstantPayoutRefused({ code: 'INSUFFICIENT_FUNDS', message: 'The park has less than that to pay out', balance: account?.balance ?? 0n });
      }
      throw error;
    }
    await queryBound(
      em,
      'UPDATE fleet_park_payouts SET last_instant_at = ?, last_instant_payout_id = ? WHERE park_id = ?',
      [payout.created_at, payout.id, input.parkId],
      { name: 'fleet_instant_paid' },
    );
    this.onPaid(payout);
    return payout;
  }

  /**
   * Locks the park's instant-payout row (made on first use) and reads, in the same statement, the
   * park's status and currency and the rules in force. Unknown park: NOT_FOUND.
   */
  private async lock(em: EntityManager, parkId: string): Promise<LockedPark> {
    const [row] = await queryBound<LockedPark>(
      em,
      `WITH state AS (
         INSERT INTO fleet_park_payouts AS s (park_id) VALUES (?)
         ON CONFLICT (park_id) DO UPDATE SET park_id = s.park_id
         RETURNING s.instant_enabled, s.last_instant_at)
       SELECT p.status, p.currency, state.instant_enabled, state.last_instant_at, now() AS db_now,
              (SELECT instant_cooldown_hours FROM fleet_payout_settings) AS cooldown_hours,
              (SELECT limit_minor::text FROM fleet_instant_limit l WHERE l.currency = p.currency) AS limit_minor
         FROM state, park_payable(?) p`,
      [parkId, parkId],
      { name: 'fleet_instant_lock' },
    );
    if (!row || row.status === null) throw new NotFoundError(`Park ${parkId} not found`, { parkId });
    return { ...row, currency: row.currency!.trim() };
  }

  /** A refused press whose key made a payout before gets that payout; otherwise the refusal stands. */
  private async madeBefore(em: EntityManager, key: string, refusal: Error): Promise<PayoutRow> {
    const existing = await this.payouts.byIdempotencyKey(em, key);
    if (existing) return existing;
    throw refusal;
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
