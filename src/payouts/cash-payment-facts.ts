import type { EntityManager } from '@mikro-orm/postgresql';

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
 * The cash-payment facts: what moved, from which account, when, recorded by the step that marks
 * a payout SENT (`payout_step`), in its own transaction. The message to the payer names the fact.
 */
export class CashPaymentFacts {
  async forPayouts(em: EntityManager, payoutIds: readonly string[]): Promise<CashPaymentFactRow[]> {
    if (payoutIds.length === 0) return [];
    return em.execute<CashPaymentFactRow[]>('SELECT * FROM cash_payment_fact WHERE payout_id IN (?)', [[...payoutIds]]);
  }
}
