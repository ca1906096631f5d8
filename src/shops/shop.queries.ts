import type { EntityManager } from '@mikro-orm/postgresql';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { ForbiddenError } from '../platform/errors';
import type { Page, SqlWhere } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import { toShopRow, type ShopKey, type ShopRow } from './shop';
import type { ShopFilter } from './shop.types';

/** Read side of shops: filtered, scoped to what the caller may see, keyset-paged. */
export class ShopQueries {
  where(filter: ShopFilter | null | undefined, principal: Principal): SqlWhere {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, ...values: unknown[]) => {
      conditions.push(condition);
      params.push(...values);
    };
    if (filter?.partyId) add('party_id = ?', filter.partyId);
    if (filter?.status?.length) add('status = ANY (?::text[])', textArray(filter.status));
    if (filter?.payoutScheduleId) add('payout_schedule_id = ?', filter.payoutScheduleId);
    if (!seesEverything(principal)) {
      const shops = scopedPayees(principal, 'SHOP').flatMap((p) => (p.kind === 'SHOP' ? [p] : []));
      if (shops.length === 0) throw new ForbiddenError('This token may not see any shop');
      add(
        '(party_id, shop_id) IN (SELECT * FROM unnest(?::text[], ?::text[]))',
        textArray(shops.map((s) => s.partyId)),
        textArray(shops.map((s) => s.shopId)),
      );
    }
    return { sql: conditions.length ? conditions.join(' AND ') : 'true', params };
  }

  async page(em: EntityManager, where: SqlWhere, size: number, after: ShopKey | null): Promise<Page<ShopRow>> {
    const keyset = after ? ' AND (party_id, shop_id) > (?, ?)' : '';
    const rows = await em.execute<ShopRow[]>(
      `SELECT * FROM shop WHERE ${where.sql}${keyset} ORDER BY party_id, shop_id LIMIT ?`,
      [...where.params, ...(after ? [after.partyId, after.shopId] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map(toShopRow), hasNextPage: rows.length > size };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await em.execute<{ count: string }[]>(`SELECT count(*) AS count FROM shop WHERE ${where.sql}`, where.params);
    return Number(row!.count);
  }
}
