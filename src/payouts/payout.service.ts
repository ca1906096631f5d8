import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, InvalidInputError, NotFoundError } from '../platform/errors';
import type { Topics } from '../platform/config';
import { toWireJson, writeToOutbox, type OutboxMessage } from '../platform/outbox/outbox';
import { payeeId, type Payee } from '../platform/payee';
import { SYSTEM_OWNER, type AccountKey, type LedgerService } from '../ledger/ledger.service';
import {
  PayoutAccount,
  decideTransition,
  movementFor,
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

/** The ledger transfer a step made, and the account the money left. */
export interface MoneyMoved {
  transferId: string;
  fromAccountId: string;
}

/** What sending needs from the ERP side: record the cash-payment fact, build the `erp.payouts` message. */
export interface SentPayoutRecorder {
  recordSent(em: EntityManager, payout: PayoutRow, moved: MoneyMoved): Promise<OutboxMessage>;
}

/**
 * Told of every step in the step's own transaction, so another domain's bookkeeping commits with
 * it (a scheduled payout's operations become unpaid again when its money comes back).
 */
export type PayoutStepListener = (em: EntityManager, payout: PayoutRow) => Promise<void>;

export class InvalidTransitionError extends ConflictError {
  constructor(from: PayoutStatus, to: PayoutStatus) {
    super(`A payout in status ${from} cannot become ${to}`, { from, to });
  }
}

/**
 * One payout lifecycle for every source. Each method is one step and must run inside the
 * caller's transaction (`em.transactional`): the status, its history entry, the ledger movement
 * and the outbox messages commit together or not at all.
 */
export class PayoutService {
  private readonly stepListeners: PayoutStepListener[] = [];

  constructor(
    private readonly ledger: LedgerService,
    private readonly topics: Pick<Topics, 'payoutEvents'>,
    private readonly erp: SentPayoutRecorder,
  ) {}

  /**
   * Creates a payout and reserves its amount from the payee's available balance. One statement
   * inserts the payout, its first history entry and its `payouts.events` message and posts the
   * reservation (`ledger_post`), so the hot path costs one round trip inside the transaction.
   */
  async create(em: EntityManager, input: CreatePayoutInput): Promise<PayoutChange> {
    if (input.amount <= 0n) throw new InvalidInputError('A payout amount must be positive');
    const owner = { kind: input.payee.kind, id: payeeId(input.payee) };
    const [available, reserved] = await this.ledger.accountIds(em, [
      this.accountKeyFor(owner, input.currency, 'available'),
      this.accountKeyFor(owner, input.currency, 'reserved'),
    ]);
    const shop = input.payee.kind === 'SHOP' ? input.payee : null;
    const now = new Date();
    const row: PayoutRow = {
      id: randomUUID(),
      payee_kind: input.payee.kind,
      payee_id: owner.id,
      account_id: available,
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
    };
    const event = this.lifecycleMessage(row);
    let inserted: { id: string }[];
    try {
      inserted = await em.execute<{ id: string }[]>(
        `WITH created AS (
           INSERT INTO payout (id, payee_kind, payee_id, party_id, shop_id, account_id, amount, currency, status, source,
                               source_ref, idempotency_key, cutoff, payout_tool_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'CREATED', ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, amount, currency, created_at),
         history AS (
           INSERT INTO payout_status_change (payout_id, sequence, status, actor, occurred_at)
           SELECT id, 1, 'CREATED', ?, created_at FROM created),
         reservation AS (
           SELECT posted.transfer_id FROM created,
             LATERAL ledger_post('payout:' || created.id || ':CREATED', ?, ?, created.amount, created.currency,
                                 'payout_created', created.id::text) posted),
         event AS (
           INSERT INTO outbox_message (topic, key, value) SELECT ?, id::text, ? FROM created)
         SELECT id, (SELECT transfer_id FROM reservation) AS reservation FROM created`,
        [
          row.id,
          row.payee_kind,
          row.payee_id,
          shop?.partyId ?? null,
          shop?.shopId ?? null,
          available,
          row.amount,
          row.currency,
          row.source,
          row.source_ref,
          input.idempotencyKey,
          row.cutoff,
          row.payout_tool_id,
          now,
          now,
          input.actor ?? null,
          available,
          reserved,
          event.topic,
          toWireJson(event.value),
        ],
      );
    } catch (error) {
      throw this.ledger.translateError(error);
    }
    if (!inserted[0]) return { payout: await this.sameRequestAgain(em, input, available), changed: false };
    return { payout: row, changed: true };
  }

  onStep(listener: PayoutStepListener): void {
    this.stepListeners.push(listener);
  }

  async send(em: EntityManager, payoutId: string, input: TransitionInput = {}): Promise<PayoutChange> {
    return this.transition(em, payoutId, 'SENT', input);
  }

  async cancel(em: EntityManager, payoutId: string, input: TransitionInput = {}): Promise<PayoutChange> {
    return this.transition(em, payoutId, 'CANCELLED', input);
  }

  /**
   * Sends a CREATED payout unless another worker holds it: null when it is locked elsewhere or is
   * no longer CREATED. Lets a gate skip busy payouts instead of queueing behind them.
   */
  async sendIfFree(em: EntityManager, payoutId: string, input: TransitionInput = {}): Promise<PayoutChange | null> {
    const [current] = await em.execute<PayoutRow[]>(
      `SELECT * FROM payout WHERE id = ? AND status = 'CREATED' FOR UPDATE SKIP LOCKED`,
      [payoutId],
    );
    return current ? this.apply(em, current, 'SENT', input) : null;
  }

  /** Moves a payout to `to` if the lifecycle allows it; repeats and late news change nothing. */
  async transition(em: EntityManager, payoutId: string, to: PayoutStatus, input: TransitionInput = {}): Promise<PayoutChange> {
    const locked = await em.execute<PayoutRow[]>('SELECT * FROM payout WHERE id = ? FOR UPDATE', [payoutId]);
    const current = locked[0];
    if (!current) throw new NotFoundError(`Payout ${payoutId} not found`, { payoutId });
    return this.apply(em, current, to, input);
  }

  /** The step itself, on a payout row this transaction has locked. */
  private async apply(em: EntityManager, current: PayoutRow, to: PayoutStatus, input: TransitionInput): Promise<PayoutChange> {
    const payoutId = current.id;
    const from = current.status as PayoutStatus;
    const decision = decideTransition(from, to);
    if (decision === 'ignore') return { payout: current, changed: false };
    if (decision === 'refuse') throw new InvalidTransitionError(from, to);

    const moved = await this.moveMoney(em, current, from, to);
    const updated = await em.execute<PayoutRow[]>(
      `WITH changed AS (
         UPDATE payout SET status = ?, sequence = sequence + 1, updated_at = clock_timestamp()
          WHERE id = ? RETURNING *),
       history AS (
         INSERT INTO payout_status_change (payout_id, sequence, status, reason, actor, occurred_at)
         SELECT id, sequence, status, ?, ?, updated_at FROM changed)
       SELECT * FROM changed`,
      [to, payoutId, input.reason ?? null, input.actor ?? null],
    );
    const row = updated[0]!;
    const messages: OutboxMessage[] = [this.lifecycleMessage(row)];
    // Sending is handing the payout to the ERP: the same transaction records what moved and the message.
    if (to === 'SENT') messages.push(await this.erp.recordSent(em, row, moved!));
    await writeToOutbox(em, messages);
    for (const listener of this.stepListeners) await listener(em, row);
    return { payout: row, changed: true };
  }

  private async moveMoney(em: EntityManager, row: PayoutRow, from: PayoutStatus, to: PayoutStatus): Promise<MoneyMoved | null> {
    const movement = movementFor(from, to);
    if (!movement) return null;
    const payee = { kind: row.payee_kind, id: row.payee_id };
    const currency = row.currency.trim();
    const [fromAccountId, toAccountId] = await this.ledger.accountIds(em, [
      this.accountKeyFor(payee, currency, movement.from),
      this.accountKeyFor(payee, currency, movement.to),
    ]);
    const posted = await this.ledger.post(em, {
      idempotencyKey: `payout:${row.id}:${to}`,
      debitAccountId: fromAccountId,
      creditAccountId: toAccountId,
      amount: BigInt(row.amount),
      currency,
      kind: `payout_${to.toLowerCase()}`,
      reference: row.id,
    });
    return { transferId: posted.transferId, fromAccountId };
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

  private accountKeyFor(owner: { kind: string; id: string }, currency: string, role: PayoutAccountRole): AccountKey {
    if (role === 'world') return { owner: SYSTEM_OWNER, type: PayoutAccount.world, currency };
    return { owner, type: PayoutAccount[role], currency };
  }
}
