import type { EntityManager } from '@mikro-orm/postgresql';
import { withDates } from '../platform/rows';
import type { OperationKind } from './operation';

export interface OperationRow {
  id: string;
  party_id: string;
  shop_id: string;
  business_id: string;
  kind: OperationKind;
  invoice_id: string;
  payment_id: string;
  amount: string;
  fee: string;
  payable: string;
  currency: string;
  occurred_at: Date;
  payout_id: string | null;
  released_from: string[];
}

/** Which operations: a shop's (optionally only the unpaid ones) or a payout's. */
export type OperationScope = { partyId: string; shopId: string; unpaidOnly?: boolean } | { payoutId: string };

/** Read side of operations, newest recorded first, keyset-paged on the id (the shop's primary-key order). */
export class OperationQueries {
  async page(em: EntityManager, scope: OperationScope, size: number, afterId: string | null) {
    const where = whereOf(scope);
    const keyset = afterId ? ' AND id < ?' : '';
    const rows = await em.execute<OperationRow[]>(
      `SELECT * FROM shop_operation WHERE ${where.sql}${keyset} ORDER BY id DESC LIMIT ?`,
      [...where.params, ...(afterId ? [afterId] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map((row) => withDates(row, ['occurred_at'])), hasNextPage: rows.length > size };
  }

  async count(em: EntityManager, scope: OperationScope): Promise<number> {
    const where = whereOf(scope);
    const [row] = await em.execute<{ count: string }[]>(`SELECT count(*) AS count FROM shop_operation WHERE ${where.sql}`, where.params);
    return Number(row!.count);
  }
}

function whereOf(scope: OperationScope): { sql: string; params: unknown[] } {
  // A payout that gave its money back still lists the operations it held.
  if ('payoutId' in scope) {
    return { sql: `(payout_id = ? OR (released_from <> '{}' AND released_from @> ARRAY[?]::uuid[]))`, params: [scope.payoutId, scope.payoutId] };
  }
  return {
    sql: `party_id = ? AND shop_id = ?${scope.unpaidOnly ? ' AND payout_id IS NULL' : ''}`,
    params: [scope.partyId, scope.shopId],
  };
}
