import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CashPaymentFactRow, CashPaymentFacts } from '../../erp/cash-payment-facts';
import { LedgerAccount } from '../../ledger/entities';
import { Payout, PayoutStatusChange } from '../../payouts/entities';
import type { ScheduleRow, ScheduleService } from '../../schedules/schedule.service';

/** Per-request batch loaders: a list of payouts asks for all their histories in one query. */
export function createLoaders(em: EntityManager, facts: CashPaymentFacts, schedules: ScheduleService) {
  return {
    payout: new DataLoader<string, Payout | null>(async (ids) => {
      const rows = await em.find(Payout, { id: { $in: [...ids] } });
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    }),
    schedule: new DataLoader<string, ScheduleRow | null>(async (ids) => {
      const rows = await schedules.schedulesById(em, ids);
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    }),
    /** Accounts by `kind/id/type/currency` of their owner, for many owners in one query. */
    account: new DataLoader<string, LedgerAccount | null>(async (keys) => {
      const wanted = keys.map((key) => key.split('\u0000'));
      const rows = await em.find(LedgerAccount, { $or: wanted.map(([ownerKind, ownerId, type]) => ({ ownerKind, ownerId, type })) });
      return wanted.map(([kind, id, type, currency]) =>
        rows.find((a) => a.ownerKind === kind && a.ownerId === id && a.type === type && a.currency.trim() === currency) ?? null,
      );
    }),
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
