import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import type { ShopKey } from '../shops/shop';
import { toRunRow, type RunRow } from './shop-payout-run';

const SHOPS = 'unnest(?::text[], ?::text[]) WITH ORDINALITY AS k(party_id, shop_id, i)';
const shopParams = (shops: readonly ShopKey[]) => [textArray(shops.map((s) => s.partyId)), textArray(shops.map((s) => s.shopId))];

/**
 * Read side of shops' runs, latest cut-off first: the pages (and counts) of many shops in one
 * statement, each shop's by a lateral subquery, so a list of shops asking for its runs is one query.
 */
export async function runPagesOf(em: EntityManager, shops: readonly ShopKey[], size: number, afterCutoff: Date | null): Promise<Page<RunRow>[]> {
  const rows = await em.execute<(RunRow & { key_index: string })[]>(
    `SELECT k.i AS key_index, r.* FROM ${SHOPS}
       CROSS JOIN LATERAL (SELECT * FROM shop_payout_run r WHERE r.party_id = k.party_id AND r.shop_id = k.shop_id
                            ${afterCutoff ? 'AND r.cutoff < ?' : ''} ORDER BY r.cutoff DESC LIMIT ?) r`,
    [...shopParams(shops), ...(afterCutoff ? [afterCutoff] : []), size + 1],
  );
  const pages: RunRow[][] = shops.map(() => []);
  for (const { key_index: index, ...row } of rows) pages[Number(index) - 1]!.push(toRunRow(row as RunRow));
  return pages.map((found) => ({ rows: found.slice(0, size), hasNextPage: found.length > size }));
}

export async function runCountsOf(em: EntityManager, shops: readonly ShopKey[]): Promise<number[]> {
  const rows = await em.execute<{ key_index: string; n: string }[]>(
    `SELECT k.i AS key_index, (SELECT count(*) FROM shop_payout_run r WHERE r.party_id = k.party_id AND r.shop_id = k.shop_id) AS n FROM ${SHOPS}`,
    shopParams(shops),
  );
  const counts = shops.map(() => 0);
  for (const row of rows) counts[Number(row.key_index) - 1] = Number(row.n);
  return counts;
}
