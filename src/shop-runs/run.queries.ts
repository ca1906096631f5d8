import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from '../platform/graphql/pagination';
import type { ShopKey } from '../shops/shop';
import { toRunRow, type RunRow } from './shop-payout-run';

/** Read side of a shop's runs, latest cut-off first. */
export class RunQueries {
  async runs(em: EntityManager, shop: ShopKey, size: number, afterCutoff: Date | null): Promise<Page<RunRow>> {
    const rows = await em.execute<RunRow[]>(
      `SELECT * FROM shop_payout_run WHERE party_id = ? AND shop_id = ? ${afterCutoff ? 'AND cutoff < ?' : ''}
        ORDER BY cutoff DESC LIMIT ?`,
      [shop.partyId, shop.shopId, ...(afterCutoff ? [afterCutoff] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map(toRunRow), hasNextPage: rows.length > size };
  }

  async countRuns(em: EntityManager, shop: ShopKey): Promise<number> {
    const [row] = await em.execute<{ count: string }[]>('SELECT count(*) AS count FROM shop_payout_run WHERE party_id = ? AND shop_id = ?', [
      shop.partyId,
      shop.shopId,
    ]);
    return Number(row!.count);
  }
}
