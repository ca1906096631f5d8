import type { EntityManager } from '@mikro-orm/postgresql';
import { MONEY_BACK_STATUSES } from '../payouts/lifecycle';
import type { PayoutQueries, PayoutSummary } from '../payouts/payout.queries';
import type { Invariant } from '../platform/modules';

/**
 * What a scheduled payout pays, checked against the payouts module through its read side: an
 * operation marked paid belongs to a live scheduled payout of its own shop, and a live scheduled
 * payout is exactly the sum of the operations marked with it.
 */
export function operationInvariants(payouts: PayoutQueries): Invariant[] {
  return [
    {
      rule: 'a marked operation belongs to a live scheduled payout of its shop',
      violations: async (em) => {
        const marked = await em.execute<{ payout_id: string; party_id: string; shop_id: string; operations: string }[]>(
          `SELECT payout_id, party_id, shop_id, count(*) AS operations FROM shop_operation
            WHERE payout_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        );
        const payoutsById = await summariesById(em, payouts, marked.map((m) => m.payout_id));
        return marked.filter((m) => {
          const payout = payoutsById.get(m.payout_id);
          return !payout || payout.source !== 'SCHEDULE' || payout.party_id !== m.party_id || payout.shop_id !== m.shop_id || MONEY_BACK_STATUSES.includes(payout.status);
        });
      },
    },
    {
      rule: 'a live scheduled payout pays exactly the sum of its operations',
      violations: async (em) => {
        const live = await payouts.live(em, 'SCHEDULE');
        if (live.length === 0) return [];
        const sums = await em.execute<{ payout_id: string; total: string }[]>(
          `SELECT payout_id, sum(payable)::text AS total FROM shop_operation WHERE payout_id IN (?) GROUP BY 1`,
          [live.map((p) => p.id)],
        );
        const paid = new Map(sums.map((row) => [row.payout_id, BigInt(row.total)]));
        return live
          .filter((p) => BigInt(p.amount) !== (paid.get(p.id) ?? 0n))
          .map((p) => ({ id: p.id, amount: p.amount, operations: String(paid.get(p.id) ?? 0n) }));
      },
    },
  ];
}

async function summariesById(em: EntityManager, payouts: PayoutQueries, ids: readonly string[]): Promise<Map<string, PayoutSummary>> {
  const unique = [...new Set(ids)];
  return new Map((await payouts.summaries(em, unique)).map((summary) => [summary.id, summary]));
}
