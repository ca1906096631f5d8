import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from '../platform/graphql/pagination';
import { withDates } from '../platform/rows';
import { textArray } from '../platform/sql-arrays';
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

/** Scopes of one kind that a batch reads together: the same page size, cursor and filter. */
export type ScopeBatch = { kind: 'payout'; payoutIds: string[] } | { kind: 'shop'; shops: { partyId: string; shopId: string }[]; unpaidOnly: boolean };

/**
 * Read side of operations, newest recorded first, keyset-paged on the id (the shop's primary-key
 * order). The pages of many scopes of one kind in one statement (a list of payouts or shops each asking
 * for its operations): each key's page by a lateral subquery, as a single page would be read.
 */
export async function pagesOf(em: EntityManager, batch: ScopeBatch, size: number, afterId: string | null): Promise<Page<OperationRow>[]> {
  const { keys, params, where, count } = lateralOf(batch);
  const keyset = afterId ? ' AND o.id < ?' : '';
  const rows = await em.execute<(OperationRow & { key_index: string })[]>(
    `SELECT k.i AS key_index, o.* FROM ${keys}
       CROSS JOIN LATERAL (SELECT * FROM shop_operation o WHERE ${where}${keyset} ORDER BY o.id DESC LIMIT ?) o`,
    [...params, ...(afterId ? [afterId] : []), size + 1],
  );
  const pages: OperationRow[][] = Array.from({ length: count }, () => []);
  for (const { key_index: index, ...row } of rows) pages[Number(index) - 1]!.push(withDates(row as OperationRow, ['occurred_at']));
  return pages.map((found) => ({ rows: found.slice(0, size), hasNextPage: found.length > size }));
}

/** How many operations each scope holds, in one statement. */
export async function countsOf(em: EntityManager, batch: ScopeBatch): Promise<number[]> {
  const { keys, params, where, count } = lateralOf(batch);
  const rows = await em.execute<{ key_index: string; n: string }[]>(
    `SELECT k.i AS key_index, (SELECT count(*) FROM shop_operation o WHERE ${where}) AS n FROM ${keys}`,
    params,
  );
  const counts = Array.from({ length: count }, () => 0);
  for (const row of rows) counts[Number(row.key_index) - 1] = Number(row.n);
  return counts;
}

function lateralOf(batch: ScopeBatch): { keys: string; params: unknown[]; where: string; count: number } {
  if (batch.kind === 'payout') {
    return {
      keys: 'unnest(?::uuid[]) WITH ORDINALITY AS k(payout_id, i)',
      params: [textArray(batch.payoutIds)],
      // A payout that gave its money back still lists the operations it held.
      where: `(o.payout_id = k.payout_id OR (o.released_from <> '{}' AND o.released_from @> ARRAY[k.payout_id]))`,
      count: batch.payoutIds.length,
    };
  }
  return {
    keys: 'unnest(?::text[], ?::text[]) WITH ORDINALITY AS k(party_id, shop_id, i)',
    params: [textArray(batch.shops.map((s) => s.partyId)), textArray(batch.shops.map((s) => s.shopId))],
    where: `o.party_id = k.party_id AND o.shop_id = k.shop_id${batch.unpaidOnly ? ' AND o.payout_id IS NULL' : ''}`,
    count: batch.shops.length,
  };
}
