import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PayoutStatusChange } from '../../payouts/entities';

/** Per-request batch loaders: a list of payouts asks for all their histories in one query. */
export function createLoaders(em: EntityManager) {
  return {
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
