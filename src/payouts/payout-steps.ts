import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { SYSTEM_OWNER, type AccountKey, type LedgerService } from '../ledger/ledger.service';
import { queryBound } from '../platform/bound-query';
import { toWireJson, type OutboxMessage } from '../platform/outbox/outbox';
import { textArray } from '../platform/sql-arrays';
import { PayoutAccount, movementFor, type Movement, type PayoutAccountRole, type PayoutStatus } from './lifecycle';
import { payoutEvent, type PayoutRow } from './payout-messages';

export interface TransitionInput {
  reason?: string | null;
  actor?: string | null;
}

/**
 * The message a payout's SENT step carries to whoever pays it (the ERP module's `erp.payouts`),
 * naming the cash-payment fact the step records.
 */
export type SentMessage = (sent: PayoutRow, cashPaymentFactId: string) => OutboxMessage;

/** What a step writes besides the ledger accounts. */
export interface StepDescription {
  next: PayoutRow & { updated_at: Date };
  /** The accounts the step moves money between, if it moves any. */
  movement: Movement | null;
  transferKey: string | null;
  transferKind: string | null;
  factId: string | null;
  messages: OutboxMessage[];
}

/**
 * How a payout step is written, shared by the lifecycle (every source) and the sender (the hot
 * path): which accounts it moves money between, the messages it carries, and the one statement
 * (`payout_step`) that writes it all.
 */
export class PayoutSteps {
  private readonly sentMessages: SentMessage[] = [];

  constructor(
    readonly ledger: LedgerService,
    /** Where every step's lifecycle message goes (`payouts.events`). */
    readonly payoutEventsTopic: string,
  ) {}

  /** Adds a message to every SENT step (the module that hands payouts over registers it). */
  onSent(message: SentMessage): void {
    this.sentMessages.push(message);
  }

  /**
   * What a step writes besides the ledger accounts: the payout after it, the transfer's key and
   * kind (when money moves), the cash-payment fact (when sending) and the messages, which name the
   * step's sequence and time and so are built here.
   */
  describe(current: PayoutRow, to: PayoutStatus): StepDescription {
    const movement = movementFor(current.status as PayoutStatus, to);
    const next: PayoutRow & { updated_at: Date } = { ...current, status: to, sequence: current.sequence + 1, updated_at: new Date() };
    const messages = [this.lifecycleMessage(next)];
    const factId = to === 'SENT' ? randomUUID() : null;
    if (factId) for (const message of this.sentMessages) messages.push(message(next, factId));
    return {
      next,
      movement,
      transferKey: movement ? transferKey(current.id, to) : null,
      transferKind: movement ? `payout_${to.toLowerCase()}` : null,
      factId,
      messages,
    };
  }

  /**
   * Writes one step the lifecycle allows (`payout_step`, one statement): the ledger movement, the
   * status and history, the cash-payment fact when sending, and the messages. Null when the payout
   * is no longer as `current` says or another transaction holds it.
   */
  async write(em: EntityManager, current: PayoutRow, to: PayoutStatus, input: TransitionInput): Promise<PayoutRow | null> {
    const step = this.describe(current, to);
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
   * Before a payout takes more than one step in a transaction (RETURNED with its implied PAID),
   * locks every account those steps move money between, in the ledger's order: each step's own
   * transfer would otherwise lock its pair after the previous pair, and could deadlock with a
   * concurrent single step of the same payee (a REJECTED between the same accounts).
   */
  async lockAccountsOfSteps(em: EntityManager, current: PayoutRow, steps: readonly PayoutStatus[]): Promise<void> {
    const roles = new Set<PayoutAccountRole>();
    let transfers = 0;
    let from = current.status as PayoutStatus;
    for (const to of steps) {
      const movement = movementFor(from, to);
      if (movement) {
        roles.add(movement.from).add(movement.to);
        transfers += 1;
      }
      from = to;
    }
    if (transfers < 2) return;
    const ids = await this.ledger.accountIds(em, [...roles].map((role) => this.accountOf(current, role)));
    await this.ledger.lockAccounts(em, ids);
  }

  lifecycleMessage(row: PayoutRow): OutboxMessage {
    return { topic: this.payoutEventsTopic, key: row.id, value: payoutEvent(row, new Date(row.updated_at)) };
  }

  accountOf(row: PayoutRow, role: PayoutAccountRole): AccountKey {
    return this.accountKeyFor({ kind: row.payee_kind, id: row.payee_id }, row.currency.trim(), role);
  }

  accountKeyFor(owner: { kind: string; id: string }, currency: string, role: PayoutAccountRole): AccountKey {
    if (role === 'world') return { owner: SYSTEM_OWNER, type: PayoutAccount.world, currency };
    return { owner, type: PayoutAccount[role], currency };
  }
}

/** The idempotency key of the ledger transfer a payout's step makes: one per payout and status. */
export function transferKey(payoutId: string, to: PayoutStatus): string {
  return `payout:${payoutId}:${to}`;
}
