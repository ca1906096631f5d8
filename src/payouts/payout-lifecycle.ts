import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { payeeId, type Payee } from '../access/payee';
import { queryBound } from '../platform/bound-query';
import { ConflictError, InvalidInputError, NotFoundError } from '../platform/errors';
import { toWireJson } from '../platform/outbox/outbox';
import { plainArray, textArray } from '../platform/sql-arrays';
import { decideTransition, returnsMoney, stepsTo, type PayoutSource, type PayoutStatus } from './lifecycle';
import type { PayoutRow } from './payout-messages';
import { transferKey, type PayoutSteps, type TransitionInput } from './payout-steps';

export type { TransitionInput };

/** Batches up to this size use the prepared `payout_create_many`; larger ones are planned each time. */
const PREPARED_BATCH_MAX = 16;

export interface CreatePayoutInput {
  payee: Payee;
  amount: bigint;
  currency: string;
  source: PayoutSource;
  /** Makes creation retry-safe: the same key returns the same payout and reserves nothing more. */
  idempotencyKey: string;
  sourceRef?: string | null;
  cutoff?: Date | null;
  payoutToolId?: string | null;
  actor?: string | null;
}

export interface PayoutChange {
  payout: PayoutRow;
  /** False when nothing changed: a repeated request, a duplicate or a late status. */
  changed: boolean;
}

/**
 * Told when a payout's money comes back (CANCELLED, REJECTED, RETURNED), in that step's own
 * transaction, so another module's bookkeeping commits with it (a scheduled payout's operations
 * become unpaid again).
 */
export type MoneyBackListener = (em: EntityManager, payout: PayoutRow) => Promise<void>;

export class InvalidTransitionError extends ConflictError {
  constructor(from: PayoutStatus, to: PayoutStatus) {
    super(`A payout in status ${from} cannot become ${to}`, { from, to });
  }
}

/**
 * The payout lifecycle every source uses: create (reserving the amount), and every later step
 * (sent, accepted, paid, rejected, returned, cancelled). Each runs inside the caller's transaction
 * (`em.transactional`): the status, its history entry, the ledger movement and the outbox messages
 * commit together or not at all. The ERP sender's hot path is `PayoutSender`.
 */
export class PayoutLifecycle {
  private readonly moneyBackListeners: MoneyBackListener[] = [];

  constructor(private readonly steps: PayoutSteps) {}

  /** Creates a payout and reserves its amount from the payee's available balance (see `createMany`). */
  async create(em: EntityManager, input: CreatePayoutInput, at?: Date): Promise<PayoutChange> {
    const [change] = await this.createMany(em, [input], at);
    return change!;
  }

  /**
   * Creates payouts and reserves their amounts, all in one statement. `at` is their creation time
   * (now unless given: a caller that recorded the time elsewhere in the transaction passes it).
   */
  async createMany(em: EntityManager, inputs: readonly CreatePayoutInput[], at?: Date): Promise<PayoutChange[]> {
    if (inputs.some((input) => input.amount <= 0n)) throw new InvalidInputError('A payout amount must be positive');
    if (inputs.length === 0) return [];
    const owners = inputs.map((input) => ({ kind: input.payee.kind, id: payeeId(input.payee) }));
    const accounts = await this.steps.ledger.accountIds(
      em,
      inputs.flatMap((input, i) => [
        this.steps.accountKeyFor(owners[i]!, input.currency, 'available'),
        this.steps.accountKeyFor(owners[i]!, input.currency, 'reserved'),
      ]),
    );
    const now = at ?? new Date();
    const rows: PayoutRow[] = inputs.map((input, i) => ({
      id: randomUUID(),
      payee_kind: input.payee.kind,
      payee_id: owners[i]!.id,
      account_id: accounts[2 * i]!,
      amount: input.amount.toString(),
      currency: input.currency,
      status: 'CREATED',
      source: input.source,
      source_ref: input.sourceRef ?? null,
      cutoff: input.cutoff ?? null,
      payout_tool_id: input.payoutToolId ?? null,
      sequence: 1,
      created_at: now,
      updated_at: now,
    }));
    const shops = inputs.map((input) => (input.payee.kind === 'SHOP' ? input.payee : null));
    let created: { id: string }[];
    try {
      created = await queryBound<{ id: string }>(
        em,
        `WITH input AS (
           SELECT * FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[],
                                ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[])
             AS i(id, payee_kind, payee_id, party_id, shop_id, account_id, reserved_id, amount, currency, source, source_ref,
                  idempotency_key, cutoff, payout_tool_id, actor, transfer_key, event)),
         created AS (
           INSERT INTO payout (id, payee_kind, payee_id, party_id, shop_id, account_id, amount, currency, status, source,
                               source_ref, idempotency_key, cutoff, payout_tool_id, created_at, updated_at)
           SELECT id, payee_kind, payee_id, party_id, shop_id, account_id, amount, currency, 'CREATED', source,
                  source_ref, idempotency_key, cutoff, payout_tool_id, ?, ? FROM input
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id),
         history AS (
           INSERT INTO payout_status_change (payout_id, sequence, status, actor, occurred_at)
           SELECT id, 1, 'CREATED', i.actor, ? FROM created JOIN input i USING (id)),
         event AS (
           INSERT INTO outbox_message (topic, key, value)
           SELECT ?, id::text, i.event FROM created JOIN input i USING (id)),
         reservation AS (
           SELECT ledger_post_many(array_agg(i.transfer_key), array_agg(i.account_id), array_agg(i.reserved_id),
                                   array_agg(i.amount), array_agg(i.currency), array_agg('payout_created'::text), array_agg(id::text)) AS posted
             FROM created JOIN input i USING (id))
         SELECT id, (SELECT posted FROM reservation) AS posted FROM created`,
        [
          textArray(rows.map((row) => row.id)),
          textArray(rows.map((row) => row.payee_kind)),
          textArray(rows.map((row) => row.payee_id)),
          textArray(shops.map((shop) => shop?.partyId ?? null)),
          textArray(shops.map((shop) => shop?.shopId ?? null)),
          plainArray(rows.map((row) => row.account_id)),
          plainArray(rows.map((_row, i) => accounts[2 * i + 1]!)),
          plainArray(rows.map((row) => row.amount)),
          textArray(rows.map((row) => row.currency)),
          textArray(rows.map((row) => row.source)),
          textArray(rows.map((row) => row.source_ref)),
          textArray(inputs.map((input) => input.idempotencyKey)),
          textArray(rows.map((row) => row.cutoff?.toISOString() ?? null)),
          textArray(rows.map((row) => row.payout_tool_id)),
          textArray(inputs.map((input) => input.actor ?? null)),
          textArray(rows.map((row) => transferKey(row.id, 'CREATED'))),
          textArray(rows.map((row) => toWireJson(this.steps.lifecycleMessage(row).value))),
          now,
          now,
          now,
          this.steps.payoutEventsTopic,
        ],
        // Prepared once per connection for a few rows, where planning these CTEs costs more than
        // running them. Not for a batch: a prepared plan assumes a hundred rows per array, and joins
        // the CTEs of hundreds row by row; planned with the arrays at hand, it hashes them.
        inputs.length <= PREPARED_BATCH_MAX ? { name: 'payout_create_many' } : {},
      );
    } catch (error) {
      throw this.steps.ledger.translateError(error);
    }
    const isNew = new Set(created.map((row) => row.id));
    const changes: PayoutChange[] = [];
    for (const [i, row] of rows.entries()) {
      if (isNew.has(row.id)) changes.push({ payout: row, changed: true });
      else changes.push({ payout: await this.sameRequestAgain(em, inputs[i]!, row.account_id), changed: false });
    }
    return changes;
  }

  onMoneyBack(listener: MoneyBackListener): void {
    this.moneyBackListeners.push(listener);
  }

  async send(em: EntityManager, payoutId: string, input: TransitionInput = {}): Promise<PayoutChange> {
    return this.transition(em, payoutId, 'SENT', input);
  }

  async cancel(em: EntityManager, payoutId: string, input: TransitionInput = {}): Promise<PayoutChange> {
    return this.transition(em, payoutId, 'CANCELLED', input);
  }

  /**
   * Moves a payout to `to` if the lifecycle allows it; repeats and late news change nothing. News
   * that implies an earlier step (RETURNED before its PAID) writes that step first, each with its
   * own history entry, money and message.
   */
  async transition(em: EntityManager, payoutId: string, to: PayoutStatus, input: TransitionInput = {}): Promise<PayoutChange> {
    const [current] = await em.execute<PayoutRow[]>('SELECT * FROM payout WHERE id = ? FOR UPDATE', [payoutId]);
    if (!current) throw new NotFoundError(`Payout ${payoutId} not found`, { payoutId });
    const from = current.status as PayoutStatus;
    const decision = decideTransition(from, to);
    if (decision === 'ignore') return { payout: current, changed: false };
    if (decision === 'refuse') throw new InvalidTransitionError(from, to);
    const steps = stepsTo(from, to);
    await this.steps.lockAccountsOfSteps(em, current, steps);
    let payout = current;
    for (const step of steps) {
      const implied = step !== to;
      const next = await this.steps.write(em, payout, step, implied ? { actor: input.actor, reason: `implied by ${to}` } : input);
      // This transaction holds the row, so the step cannot find it elsewhere or moved on.
      if (!next) throw new Error(`payout ${payoutId} changed under its lock`);
      payout = next;
    }
    if (returnsMoney(to)) for (const listener of this.moneyBackListeners) await listener(em, payout);
    return { payout, changed: true };
  }

  private async sameRequestAgain(em: EntityManager, input: CreatePayoutInput, accountId: string): Promise<PayoutRow> {
    const rows = await em.execute<PayoutRow[]>('SELECT * FROM payout WHERE idempotency_key = ?', [input.idempotencyKey]);
    const existing = rows[0]!;
    if (String(existing.account_id) !== accountId || BigInt(existing.amount) !== input.amount) {
      throw new ConflictError('This idempotency key was already used for a different payout', {
        payoutId: existing.id,
      });
    }
    return existing;
  }
}
