import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Topics } from '../platform/config';
import type { OutboxMessage } from '../platform/outbox/outbox';
import { payoutSnapshot, type PayoutRow } from '../payouts/payout-messages';
import type { SentPayoutRecorder } from '../payouts/payout.service';

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
 * when) and the `erp.payouts` message that carries its id. The payout step that marks the payout
 * SENT writes both, in its own transaction.
 */
export class CashPaymentFacts implements SentPayoutRecorder {
  constructor(private readonly topics: Pick<Topics, 'erpPayouts'>) {}

  prepareSent(sent: PayoutRow): { factId: string; message: OutboxMessage } {
    const factId = randomUUID();
    return { factId, message: { topic: this.topics.erpPayouts, key: sent.id, value: erpPayoutMessage(sent, factId) } };
  }

  async forPayouts(em: EntityManager, payoutIds: readonly string[]): Promise<CashPaymentFactRow[]> {
    if (payoutIds.length === 0) return [];
    return em.execute<CashPaymentFactRow[]>('SELECT * FROM cash_payment_fact WHERE payout_id IN (?)', [[...payoutIds]]);
  }
}

/** The `erp.payouts` message (contracts.md): what the ERP needs to pay. Sent when the payout became SENT. */
export function erpPayoutMessage(sent: PayoutRow, cashPaymentFactId: string) {
  const snapshot = payoutSnapshot(sent);
  return {
    payoutId: sent.id,
    payee: snapshot.payee,
    accountId: snapshot.accountId,
    amount: snapshot.amount,
    currency: snapshot.currency,
    ...(sent.payout_tool_id ? { payoutToolId: sent.payout_tool_id } : {}),
    cashPaymentFactId,
    createdAt: snapshot.createdAt,
    sentAt: snapshot.updatedAt,
  };
}
