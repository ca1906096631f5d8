import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { InsufficientFundsError, type LedgerService } from '../ledger/ledger.service';
import type { PayoutRow } from '../payouts/payout-messages';
import { queryBound } from '../platform/bound-query';
import { refusedByDatabase } from '../platform/database-errors';
import { DomainError, NotFoundError } from '../platform/errors';
import type { StatementRecord } from '../platform/graphql/context';
import type { Logger } from '../platform/logger';
import { plainArray, textArray } from '../platform/sql-arrays';
import { fulfilled, settled, StatementBatches } from '../platform/statement-batches';
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

/** One press, with what it is stamped with when it arrives. */
interface Press {
  input: InstantPayoutInput;
  now: Date;
  payoutId: string;
  record: StatementRecord;
}

/** The press's answer and the facts the rules read, then the payout's columns. */
const PRESS_COLUMNS = `p.outcome, p.park_status, p.instant_enabled, p.last_instant_at, p.cooldown_hours, p.limit_minor::text AS limit_minor,
  p.balance::text AS balance, p.created, (p.paid).*`;

/**
 * Instant payouts: the dispatcher's button. One press is one call of `fleet_instant_press`, which
 * takes the park's instant-payout row (two presses at the same moment, on any number of API
 * processes, take turns), answers an idempotency key that paid before with its payout, applies the
 * rules and creates the payout with its reservation and message; the same statement writes the
 * press's audit entry with its outcome, refused or paid.
 *
 * Presses that arrive together share one statement and one commit (`StatementBatches`): most of a
 * lone press's cost in PostgreSQL is the statement and the commit around the function, not the
 * function. The batch calls the function park by park in the order of park ids, so two batches
 * that share parks lock them in the same order. If the database refuses the batch (a press the
 * ledger refuses, a deadlock with the periodic run), nothing of it stays and each press runs alone.
 */
export class InstantPayouts {
  private readonly batchesByRecord = new Map<string, StatementBatches<Press, PressRow>>();

  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: Pick<LedgerService, 'translateError'>,
    private readonly payoutEventsTopic: string,
    private readonly rules: PayoutRulesStore,
    private readonly logger: Logger,
    private readonly onPaid: (payout: PayoutRow) => void = () => {},
  ) {}

  /**
   * Pays the park now, or refuses with the first rule it breaks. The same idempotency key returns
   * the payout it made, whatever happened since (a cooldown, an empty balance, a disabled park).
   * The press is one statement: a transaction of its own (shared with the presses that arrive at
   * the same moment) when `em` is in none (the API's case), else part of `em`'s. `record` is the
   * mutation's audit entry, written by that statement with the press's outcome (`NOT_RECORDED` for none).
   */
  async request(em: EntityManager, input: InstantPayoutInput, record: StatementRecord): Promise<PayoutRow> {
    const press: Press = { input, now: new Date(), payoutId: randomUUID(), record };
    const row =
      em.isInTransaction() || !record.values.every(isText) ? await this.pressAlone(em, press) : await this.batchesOf(record).submit(press);
    record.written(row.outcome);
    if (row.outcome === 'NOT_FOUND') throw new NotFoundError(`Park ${input.parkId} not found`, { parkId: input.parkId });
    if (row.outcome !== 'OK') throw new InstantPayoutRefused(this.refusalOf(row, input, press.now));
    const payout = row as PressRow & PayoutRow;
    if (row.created) this.onPaid(payout);
    return payout;
  }

  /** The presses whose records are written by the same SQL go together. */
  private batchesOf(record: StatementRecord): StatementBatches<Press, PressRow> {
    let batches = this.batchesByRecord.get(record.key);
    if (!batches) {
      batches = new StatementBatches((presses) => this.pressTogether(presses), { maxBatch: 100, maxInFlight: 4 });
      this.batchesByRecord.set(record.key, batches);
    }
    return batches;
  }

  private async pressAlone(em: EntityManager, press: Press): Promise<PressRow> {
    const { input, record } = press;
    const defaults = this.rules.environmentDefaults();
    try {
      const [row] = await queryBound<PressRow>(
        em,
        `SELECT ${PRESS_COLUMNS}, ${record.sql('p.outcome')} AS recorded
           FROM fleet_instant_press(?, ?::bigint, ?, ?, ?, ?::timestamptz, ?::uuid, ?::integer, ?::text[], ?::bigint[], ?) p`,
        [
          ...record.values,
          input.parkId,
          input.amount,
          idempotencyKeyOf(input.parkId, input.idempotencyKey),
          input.idempotencyKey,
          input.actor,
          press.now,
          press.payoutId,
          defaults.cooldownHours,
          textArray([...defaults.limits.keys()]),
          plainArray([...defaults.limits.values()]),
          this.payoutEventsTopic,
        ],
        { name: `fleet_instant_press${record.key}` },
      );
      return row!;
    } catch (error) {
      const translated = this.ledger.translateError(error);
      // The balance went down between the rules' read and the reservation: the ledger refused.
      if (translated instanceof InsufficientFundsError) {
        throw new InstantPayoutRefused({ code: 'INSUFFICIENT_FUNDS', message: 'The park has less than that to pay out', balance: null });
      }
      throw translated;
    }
  }

  /** Presses in one statement, park by park in the order of park ids; alone each if it fails. */
  private async pressTogether(arrived: readonly Press[]): Promise<PromiseSettledResult<PressRow>[]> {
    if (arrived.length === 1) return [await settled(this.pressAlone(this.orm.em.fork(), arrived[0]!))];
    const presses = arrived.map((press, i) => ({ press, i })).sort((a, b) => compareText(a.press.input.parkId, b.press.input.parkId) || a.i - b.i);
    const record = presses[0]!.press.record;
    const recordColumns = record.values.map((_, k) => `i.r${k}`);
    const defaults = this.rules.environmentDefaults();
    let rows: (PressRow & { n: string })[];
    try {
      rows = await queryBound<PressRow & { n: string }>(
        this.orm.em.fork(),
        `SELECT i.n, ${PRESS_COLUMNS}, ${record.sql('p.outcome', recordColumns)} AS recorded
           FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::uuid[]${', ?::text[]'.repeat(recordColumns.length)})
                WITH ORDINALITY AS i(park_id, requested, idempotency_key, source_ref, actor, now, payout_id, ${[...recordColumns.map((c) => c.slice(2)), 'n'].join(', ')})
          CROSS JOIN LATERAL fleet_instant_press(i.park_id, i.requested, i.idempotency_key, i.source_ref, i.actor, i.now, i.payout_id,
                                                 ?::integer, ?::text[], ?::bigint[], ?) p`,
        [
          textArray(presses.map(({ press }) => press.input.parkId)),
          plainArray(presses.map(({ press }) => press.input.amount)),
          textArray(presses.map(({ press }) => idempotencyKeyOf(press.input.parkId, press.input.idempotencyKey))),
          textArray(presses.map(({ press }) => press.input.idempotencyKey)),
          textArray(presses.map(({ press }) => press.input.actor)),
          textArray(presses.map(({ press }) => press.now.toISOString())),
          textArray(presses.map(({ press }) => press.payoutId)),
          ...recordColumns.map((_, k) => textArray(presses.map(({ press }) => press.record.values[k] as string | null))),
          defaults.cooldownHours,
          textArray([...defaults.limits.keys()]),
          plainArray([...defaults.limits.values()]),
          this.payoutEventsTopic,
        ],
        { name: `fleet_instant_presses${record.key}` },
      );
    } catch (error) {
      // A statement the database refused left nothing: each press runs alone, harmlessly. After a
      // connection lost on the way it may have committed; running them again would write their
      // audit entries twice, so their callers get the error, as a lone press's would.
      if (!refusedByDatabase(error)) throw error;
      this.logger.warn({ err: error, presses: arrived.length }, 'a batch of instant payout presses failed; each runs alone');
      return Promise.all(arrived.map((press) => settled(this.pressAlone(this.orm.em.fork(), press))));
    }
    const answers = new Map(rows.map((row) => [presses[Number(row.n) - 1]!.i, row]));
    return arrived.map((_, i) => {
      const row = answers.get(i);
      // fleet_instant_press answers every call with one row: a press without one is a bug, not a refusal.
      return row ? fulfilled(row) : { status: 'rejected', reason: new Error('an instant payout press got no answer from its batch') };
    });
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

const isText = (value: unknown): boolean => value === null || typeof value === 'string';

/** The order every batch locks parks in: their ids' code units, the same in every process. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
