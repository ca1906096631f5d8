import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Topics } from '../platform/config';
import type { OutboxMessage } from '../platform/outbox/outbox';
import { payoutSnapshot, type PayoutRow } from '../payouts/payout-messages';
import type { MoneyMoved, SentPayoutRecorder } from '../payouts/payout.service';

export interface CashPaymentFactRow {
  id: string;
  payout_id: string;
  account_id: string;
  transfer_id: string;
  amount: string;
  currency: string;
  created_at: Date;
}

/**
 * The ERP's side of sending a payout: the cash-payment fact (what moved, from which account,
 * when) and the `erp.payouts` message that carries its id. Both are written in the transaction
 * that marks the payout SENT.
 */
export class CashPaymentFacts implements SentPayoutRecorder {
  constructor(private readonly topics: Pick<Topics, 'erpPayouts'>) {}

  async recordSent(em: EntityManager, payout: PayoutRow, moved: MoneyMoved): Promise<OutboxMessage> {
    const [fact] = await em.execute<CashPaymentFactRow[]>(
      `INSERT INTO cash_payment_fact (id, payout_id, account_id, transfer_id, amount, currency, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [randomUUID(), payout.id, moved.fromAccountId, moved.transferId, payout.amount, payout.currency, payout.updated_at],
    );
    return { topic: this.topics.erpPayouts, key: payout.id, value: erpPayoutMessage(payout, fact!) };
  }

  async forPayouts(em: EntityManager, payoutIds: readonly string[]): Promise<CashPaymentFactRow[]> {
    if (payoutIds.length === 0) return [];
    return em.execute<CashPaymentFactRow[]>('SELECT * FROM cash_payment_fact WHERE payout_id IN (?)', [[...payoutIds]]);
  }
}

/** The `erp.payouts` message (contracts.md): what the ERP needs to pay. */
export function erpPayoutMessage(payout: PayoutRow, fact: CashPaymentFactRow) {
  const snapshot = payoutSnapshot(payout);
  return {
    payoutId: payout.id,
    payee: snapshot.payee,
    accountId: snapshot.accountId,
    amount: snapshot.amount,
    currency: snapshot.currency,
    ...(payout.payout_tool_id ? { payoutToolId: payout.payout_tool_id } : {}),
    cashPaymentFactId: fact.id,
    createdAt: snapshot.createdAt,
    sentAt: new Date(fact.created_at).toISOString(),
  };
}
