import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { InsufficientFundsError, type LedgerService } from '../ledger/ledger.service';
import type { PayoutRow } from '../payouts/payout-messages';
import { queryBound } from '../platform/bound-query';
import { DomainError, NotFoundError } from '../platform/errors';
import type { StatementRecord } from '../platform/graphql/context';
import { plainArray, textArray } from '../platform/sql-arrays';
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

/** What `fleet_instant_press` answers: the outcome, the facts the rules read, and the payout (absent when none). */
type PressRow = Partial<PayoutRow> & {
  outcome: 'OK' | 'NOT_FOUND' | InstantRefusal['code'];
  park_status: 'ACTIVE' | 'DISABLED' | null;
  instant_enabled: boolean | null;
  /** Text: timestamps come back as the database writes them. */
  last_instant_at: string | null;
  cooldown_hours: number | null;
  limit_minor: string | null;
  balance: string | null;
  created: boolean;
};

/**
 * Instant payouts: the dispatcher's button. One press is one statement, so one transaction and one
 * round trip: `fleet_instant_press` takes the park's instant-payout row (two presses at the same
 * moment, on any number of API processes, take turns), answers an idempotency key that paid before
 * with its payout, applies the rules and creates the payout with its reservation and message; the
 * same statement writes the press's audit entry with its outcome, refused or paid.
 */
export class InstantPayouts {
  constructor(
    private readonly ledger: Pick<LedgerService, 'translateError'>,
    private readonly payoutEventsTopic: string,
    private readonly rules: PayoutRulesStore,
    private readonly onPaid: (payout: PayoutRow) => void = () => {},
  ) {}

  /**
   * Pays the park now, or refuses with the first rule it breaks. The same idempotency key returns
   * the payout it made, whatever happened since (a cooldown, an empty balance, a disabled park).
   * The press is one statement on `em`: a transaction of its own when `em` is in none (the API's
   * case), else part of `em`'s. `record` is the mutation's audit entry, written by that statement
   * with the press's outcome (`NOT_RECORDED` for none).
   */
  async request(em: EntityManager, input: InstantPayoutInput, record: StatementRecord): Promise<PayoutRow> {
    const now = new Date();
    const defaults = this.rules.environmentDefaults();
    let row: PressRow;
    try {
      [row] = (await queryBound<PressRow>(
        em,
        `SELECT p.outcome, p.park_status, p.instant_enabled, p.last_instant_at, p.cooldown_hours, p.limit_minor::text AS limit_minor,
                p.balance::text AS balance, p.created, (p.paid).*, ${record.sql('p.outcome')} AS recorded
           FROM fleet_instant_press(?, ?::bigint, ?, ?, ?, ?::timestamptz, ?::uuid, ?::integer, ?::text[], ?::bigint[], ?) p`,
        [
          ...record.values,
          input.parkId,
          input.amount,
          idempotencyKeyOf(input.parkId, input.idempotencyKey),
          input.idempotencyKey,
          input.actor,
          now,
          randomUUID(),
          defaults.cooldownHours,
          textArray([...defaults.limits.keys()]),
          plainArray([...defaults.limits.values()]),
          this.payoutEventsTopic,
        ],
        { name: `fleet_instant_press${record.key}` },
      )) as [PressRow];
    } catch (error) {
      const translated = this.ledger.translateError(error);
      // The balance went down between the rules' read and the reservation: the ledger refused.
      if (translated instanceof InsufficientFundsError) {
        throw new InstantPayoutRefused({ code: 'INSUFFICIENT_FUNDS', message: 'The park has less than that to pay out', balance: null });
      }
      throw translated;
    }
    record.written(row.outcome);
    if (row.outcome === 'NOT_FOUND') throw new NotFoundError(`Park ${input.parkId} not found`, { parkId: input.parkId });
    if (row.outcome !== 'OK') throw new InstantPayoutRefused(this.refusalOf(row, input, now));
    const payout = row as PressRow & PayoutRow;
    if (row.created) this.onPaid(payout);
    return payout;
  }

  /** The refusal the database decided, with its message and details, from the facts it read. */
  private refusalOf(row: PressRow, input: InstantPayoutInput, now: Date): InstantRefusal {
    const decision = decideInstant({
      parkStatus: row.park_status!,
      instantEnabled: row.instant_enabled!,
      lastInstantAt: row.last_instant_at === null ? null : new Date(row.last_instant_at),
      cooldownHours: row.cooldown_hours!,
      limit: BigInt(row.limit_minor!),
      balance: BigInt(row.balance!),
      requested: input.amount,
      now,
    });
    if (!('refuse' in decision) || decision.refuse.code !== row.outcome) {
      throw new Error(`the database refused a press with ${row.outcome}, the rules say ${JSON.stringify(decision, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    }
    return decision.refuse;
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
      return refusal.balance === null ? {} : { available: refusal.balance.toString() };
    default:
      return {};
  }
}
