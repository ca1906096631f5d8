import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CashPaymentFactRow, CashPaymentFacts } from '../../erp/cash-payment-facts';
import { Payout, PayoutStatusChange } from '../../payouts/entities';

/** Per-request batch loaders: a list of payouts asks for all their histories in one query. */
export function createLoaders(em: EntityManager, facts: CashPaymentFacts) {
  return {
    cashPaymentFact: new DataLoader<string, CashPaymentFactRow | null>(async (payoutIds) => {
      const rows = await facts.forPayouts(em, payoutIds);
      const byPayout = new Map(rows.map((row) => [row.payout_id, row]));
      return payoutIds.map((id) => byPayout.get(id) ?? null);
    }),
    payoutsOfRequest: new DataLoader<string, Payout[]>(async (requestIds) => {
      const rows = await em.find(
        Payout,
        { source: 'REQUEST', sourceRef: { $in: [...requestIds] } },
        { orderBy: { currency: 'asc' } },
      );
      return requestIds.map((id) => rows.filter((row) => row.sourceRef === id));
    }),
    statusHistory: new DataLoader<string, PayoutStatusChange[]>(async (payoutIds) => {
      const rows = await em.find(
        PayoutStatusChange,
        { payoutId: { $in: [...payoutIds] } },
        { orderBy: { payoutId: 'asc', sequence: 'asc' } },
      );
      const byPayout = new Map<string, PayoutStatusChange[]>();
      for (const row of rows) {
        const list = byPayout.get(row.payoutId) ?? [];
        list.push(row);
        byPayout.set(row.payoutId, list);
      }
      return payoutIds.map((id) => byPayout.get(id) ?? []);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
