import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, InvalidInputError, NotFoundError } from '../platform/errors';
import type { Topics } from '../platform/config';
import { toWireJson, type OutboxMessage } from '../platform/outbox/outbox';
import { queryBound } from '../platform/bound-query';
import { plainArray, textArray } from '../platform/sql-arrays';
import { payeeId, type Payee } from '../platform/payee';
import { SYSTEM_OWNER, type AccountKey, type LedgerService } from '../ledger/ledger.service';
import {
  PayoutAccount,
  decideTransition,
  movementFor,
  returnsMoney,
  type Movement,
  type PayoutAccountRole,
  type PayoutSource,
  type PayoutStatus,
} from './lifecycle';
import { payoutEvent, type PayoutRow } from './payout-messages';

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

export interface TransitionInput {
  reason?: string | null;
  actor?: string | null;
}

export interface PayoutChange {
  payout: PayoutRow;
  /** False when nothing changed: a repeated request, a duplicate or a late status. */
  changed: boolean;
}

/** What sending needs from the ERP side: the cash-payment fact's id and the `erp.payouts` message naming it. */
export interface SentPayoutRecorder {
  prepareSent(sent: PayoutRow): { factId: string; message: OutboxMessage };
}

/**
 * Told when a payout's money comes back (CANCELLED, REJECTED, RETURNED), in that step's own
 * transaction, so another domain's bookkeeping commits with it (a scheduled payout's operations
 * become unpaid again).
 */
export type MoneyBackListener = (em: EntityManager, payout: PayoutRow) => Promise<void>;

export class InvalidTransitionError extends ConflictError {
  constructor(from: PayoutStatus, to: PayoutStatus) {
    super(`A payout in status ${from} cannot become ${to}`, { from, to });
  }
}

/**
 * One payout lifecycle for every source. Creating and stepping must run inside the caller's
 * transaction (`em.transactional`): the status, its history entry, the ledger movement and the
 * outbox messages commit together or not at all. The one exception is `sendIfFree`, which the
 * ERP sender calls outside a transaction: its single statement is the transaction.
 */
export class PayoutService {
  private readonly moneyBackListeners: MoneyBackListener[] = [];

  constructor(
    private readonly ledger: LedgerService,
    private readonly topics: Pick<Topics, 'payoutEvents'>,
    private readonly erp: SentPayoutRecorder,
  ) {}

  /** Creates a payout and reserves its amount from the payee's available balance (see `createMany`). */
  async create(em: EntityManager, input: CreatePayoutInput): Promise<PayoutChange> {
    const [change] = await this.createMany(em, [input]);
    return change!;
  }

  /**
   * Creates payouts and reserves their amounts, however many, in one statement after the account
   * look-up: the payouts, their first history entries, their `payouts.events` messages and the
   * reservations (`ledger_post_many`). All or nothing: one refused reservation (insufficient
   * funds) fails the call. An idempotency key seen before returns that payout, reserving nothing.
   */
  async createMany(em: EntityManager, inputs: readonly CreatePayoutInput[]): Promise<PayoutChange[]> {
    if (inputs.some((input) => input.amount <= 0n)) throw new InvalidInputError('A payout amount must be positive');
    if (inputs.length === 0) return [];
    const owners = inputs.map((input) => ({ kind: input.payee.kind, id: payeeId(input.payee) }));
    const accounts = await this.ledger.accountIds(
      em,
      inputs.flatMap((input, i) => [
        this.accountKeyFor(owners[i]!, input.currency, 'available'),
        this.accountKeyFor(owners[i]!, input.currency, 'reserved'),
      ]),
    );
    const now = new Date();
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
          textArray(rows.map((row) => toWireJson(this.lifecycleMessage(row).value))),
          now,
          now,
          now,
          this.topics.payoutEvents,
        ],
        // Prepared once per connection: planning these CTEs costs more than running them for a few rows.
        { name: 'payout_create_many' },
      );
    } catch (error) {
      throw this.ledger.translateError(error);
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
   * Opens and remembers the accounts sending these payouts moves money between, in one round trip
   * for the lot. Called outside a transaction, so `sendIfFree` then needs no look-up of its own.
   */
  async prepareToSend(em: EntityManager, payouts: readonly PayoutRow[]): Promise<void> {
    const movement = movementFor('CREATED', 'SENT')!;
    await this.ledger.accountIds(
      em,
      payouts.flatMap((row) => [this.accountOf(row, movement.from), this.accountOf(row, movement.to)]),
    );
  }

  /**
   * Sends a CREATED payout (as read, at its sequence) unless it has moved on or another
   * transaction holds it: then null, and nothing changes. Outside a transaction the send is one
   * statement and its own transaction, so a gate skips busy payouts instead of queueing behind them.
   */
  async sendIfFree(em: EntityManager, current: PayoutRow, input: TransitionInput = {}): Promise<PayoutRow | null> {
    if (current.status !== 'CREATED') return null;
    return this.step(em, current, 'SENT', input);
  }

  /** Moves a payout to `to` if the lifecycle allows it; repeats and late news change nothing. */
  async transition(em: EntityManager, payoutId: string, to: PayoutStatus, input: TransitionInput = {}): Promise<PayoutChange> {
    const [current] = await em.execute<PayoutRow[]>('SELECT * FROM payout WHERE id = ? FOR UPDATE', [payoutId]);
    if (!current) throw new NotFoundError(`Payout ${payoutId} not found`, { payoutId });
    const from = current.status as PayoutStatus;
    const decision = decideTransition(from, to);
    if (decision === 'ignore') return { payout: current, changed: false };
    if (decision === 'refuse') throw new InvalidTransitionError(from, to);
    const next = await this.step(em, current, to, input);
    // This transaction holds the row, so the step cannot find it elsewhere or moved on.
    if (!next) throw new Error(`payout ${payoutId} changed under its lock`);
    if (returnsMoney(to)) for (const listener of this.moneyBackListeners) await listener(em, next);
    return { payout: next, changed: true };
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
    const steps = sendable.map((row) => this.describeStep(row, 'SENT'));
    const movement = steps[0]!.movement!;
    const accounts = await this.ledger.accountIds(
      em,
      sendable.flatMap((row) => [this.accountOf(row, movement.from), this.accountOf(row, movement.to)]),
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
      throw this.ledger.translateError(error);
    }
    const byId = new Map(sendable.map((row, i) => [row.id, stepped[i] === true]));
    return payouts.map((row) => byId.get(row.id) ?? false);
  }

  /**
   * Writes one step the lifecycle allows (`payout_step`, one statement): the ledger movement, the
   * status and history, the cash-payment fact when sending, and the messages. Null when the payout
   * is no longer as `current` says or another transaction holds it.
   */
  private async step(em: EntityManager, current: PayoutRow, to: PayoutStatus, input: TransitionInput): Promise<PayoutRow | null> {
    const step = this.describeStep(current, to);
    const { movement } = step;
    const [debit, credit] = movement
      ? await this.ledger.accountIds(em, [this.accountOf(current, movement.from), this.accountOf(current, movement.to)])
      : [null, null];
    try {
      const [row] = await queryBound<{ stepped: boolean }>(
        em,
        `SELECT payout_step(?::uuid, ?, ?::integer, ?, ?::timestamptz, ?, ?, ?, ?::bigint, ?::bigint, ?, ?::uuid, ?::text[], ?::text[]) AS stepped`,
        [
          current.id,
          current.status,
          current.sequence,
          to,
          step.next.updated_at,
          input.reason ?? null,
          input.actor ?? null,
          step.transferKey,
          debit,
          credit,
          step.transferKind,
          step.factId,
          textArray(step.messages.map((message) => message.topic)),
          textArray(step.messages.map((message) => toWireJson(message.value))),
        ],
        { name: 'payout_step' },
      );
      return row!.stepped ? step.next : null;
    } catch (error) {
      throw this.ledger.translateError(error);
    }
  }

  /**
   * What a step writes besides the ledger accounts: the payout after it, the transfer's key and
   * kind (when money moves), the cash-payment fact (when sending) and the messages, which name the
   * step's sequence and time and so are built here.
   */
  private describeStep(current: PayoutRow, to: PayoutStatus): StepDescription {
    const movement = movementFor(current.status as PayoutStatus, to);
    const next: PayoutRow = { ...current, status: to, sequence: current.sequence + 1, updated_at: new Date() };
    const messages = [this.lifecycleMessage(next)];
    const sent = to === 'SENT' ? this.erp.prepareSent(next) : null;
    if (sent) messages.push(sent.message);
    return {
      next,
      movement,
      transferKey: movement ? transferKey(current.id, to) : null,
      transferKind: movement ? `payout_${to.toLowerCase()}` : null,
      factId: sent?.factId ?? null,
      messages,
    };
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

  private lifecycleMessage(row: PayoutRow): OutboxMessage {
    return { topic: this.topics.payoutEvents, key: row.id, value: payoutEvent(row, new Date(row.updated_at)) };
  }

  private accountOf(row: PayoutRow, role: PayoutAccountRole): AccountKey {
    return this.accountKeyFor({ kind: row.payee_kind, id: row.payee_id }, row.currency.trim(), role);
  }

  private accountKeyFor(owner: { kind: string; id: string }, currency: string, role: PayoutAccountRole): AccountKey {
    if (role === 'world') return { owner: SYSTEM_OWNER, type: PayoutAccount.world, currency };
    return { owner, type: PayoutAccount[role], currency };
  }
}

interface StepDescription {
  next: PayoutRow & { updated_at: Date };
  /** The accounts the step moves money between, if it moves any. */
  movement: Movement | null;
  transferKey: string | null;
  transferKind: string | null;
  factId: string | null;
  messages: OutboxMessage[];
}

/** The idempotency key of the ledger transfer a payout's step makes: one per payout and status. */
function transferKey(payoutId: string, to: PayoutStatus): string {
  return `payout:${payoutId}:${to}`;
}
