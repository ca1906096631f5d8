import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { toWireJson } from '../platform/outbox/outbox';
import { plainArray, textArray } from '../platform/sql-arrays';
import { movementFor } from './lifecycle';
import type { PayoutRow } from './payout-messages';
import type { PayoutSteps, TransitionInput } from './payout-steps';

/**
 * The sender's hot path: CREATED payouts handed over (SENT) one transaction each, without a
 * transaction around them, so a busy payout is skipped instead of waited for. Used by whatever
 * module hands payouts to the payer (the ERP gateway).
 */
export class PayoutSender {
  constructor(private readonly steps: PayoutSteps) {}

  /** Up to `limit` CREATED payouts, oldest first: the queue to send. */
  async queue(em: EntityManager, limit: number): Promise<PayoutRow[]> {
    return em.execute<PayoutRow[]>(`SELECT * FROM payout WHERE status = 'CREATED' ORDER BY created_at, id LIMIT ?`, [limit]);
  }

  /**
   * Opens and remembers the accounts sending these payouts moves money between, in one round trip
   * for the lot. Called outside a transaction, so `sendIfFree` then needs no look-up of its own.
   */
  async prepareToSend(em: EntityManager, payouts: readonly PayoutRow[]): Promise<void> {
    const movement = movementFor('CREATED', 'SENT')!;
    await this.steps.ledger.accountIds(
      em,
      payouts.flatMap((row) => [this.steps.accountOf(row, movement.from), this.steps.accountOf(row, movement.to)]),
    );
  }

  /**
   * Sends a CREATED payout (as read, at its sequence) unless it has moved on or another
   * transaction holds it: then null, and nothing changes. Outside a transaction the send is one
   * statement and its own transaction, so a gate skips busy payouts instead of queueing behind them.
   */
  async sendIfFree(em: EntityManager, current: PayoutRow, input: TransitionInput = {}): Promise<PayoutRow | null> {
    if (current.status !== 'CREATED') return null;
    return this.steps.write(em, current, 'SENT', input);
  }

  /**
   * Sends CREATED payouts (as read, at their sequences) in one call, each payout still a
   * transaction of its own: `payout_step_each`, a procedure that commits after every payout, does
   * what `sendIfFree` does for one without a round trip per payout. Must be called outside a
   * transaction. Returns, per payout, whether this call sent it (false: it had moved on or another
   * transaction held it). If one fails, the payouts before it stay sent and the call throws.
   */
  async sendEach(em: EntityManager, payouts: readonly PayoutRow[], input: TransitionInput = {}): Promise<boolean[]> {
    if (em.isInTransaction()) throw new Error('sendEach commits per payout: call it outside a transaction');
    const sendable = payouts.filter((row) => row.status === 'CREATED');
    if (sendable.length === 0) return payouts.map(() => false);
    const steps = sendable.map((row) => this.steps.describe(row, 'SENT'));
    const movement = steps[0]!.movement!;
    const accounts = await this.steps.ledger.accountIds(
      em,
      sendable.flatMap((row) => [this.steps.accountOf(row, movement.from), this.steps.accountOf(row, movement.to)]),
    );
    let stepped: boolean[];
    try {
      const [result] = await queryBound<{ p_stepped: boolean[] }>(
        em,
        `CALL payout_step_each(?::uuid[], 'CREATED', ?::integer[], 'SENT', ?::timestamptz[], ?, ?, ?::text[], ?::bigint[], ?::bigint[],
                               ?, ?::uuid[], ?::text[], ?::text[], NULL)`,
        [
          textArray(sendable.map((row) => row.id)),
          plainArray(sendable.map((row) => row.sequence)),
          textArray(steps.map((step) => step.next.updated_at.toISOString())),
          input.reason ?? null,
          input.actor ?? null,
          textArray(steps.map((step) => step.transferKey)),
          plainArray(sendable.map((_row, i) => accounts[2 * i]!)),
          plainArray(sendable.map((_row, i) => accounts[2 * i + 1]!)),
          steps[0]!.transferKind,
          textArray(steps.map((step) => step.factId)),
          textArray(steps[0]!.messages.map((message) => message.topic)),
          textArray(steps.flatMap((step) => step.messages.map((message) => toWireJson(message.value)))),
        ],
        { name: 'payout_step_each' },
      );
      stepped = result!.p_stepped;
    } catch (error) {
      throw this.steps.ledger.translateError(error);
    }
    const byId = new Map(sendable.map((row, i) => [row.id, stepped[i] === true]));
    return payouts.map((row) => byId.get(row.id) ?? false);
  }
}
