import type { EntityManager } from '@mikro-orm/postgresql';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { ForbiddenError } from '../platform/errors';
import type { Page, SqlWhere } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import { toParkRow, type ParkRow } from './park';
import type { ParkFilter } from './park.types';

/** Read side of parks: filtered, limited to the caller's parks, keyset-paged by id. */
export class ParkQueries {
  where(filter: ParkFilter | null | undefined, principal: Principal): SqlWhere {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, ...values: unknown[]) => {
      conditions.push(condition);
      params.push(...values);
    };
    if (filter?.status?.length) add('status = ANY (?::text[])', textArray(filter.status));
    if (filter?.currency) add('currency = ?', filter.currency);
    if (filter?.namePrefix) add(`lower(name) LIKE ? ESCAPE '\\'`, `${escapeLike(filter.namePrefix.toLowerCase())}%`);
    if (!seesEverything(principal)) {
      const parks = scopedPayees(principal, 'PARK').map((payee) => (payee.kind === 'PARK' ? payee.id : ''));
      if (parks.length === 0) throw new ForbiddenError('This token may not see any park');
      add('id = ANY (?::text[])', textArray(parks));
    }
    return { sql: conditions.length ? conditions.join(' AND ') : 'true', params };
  }

  async page(em: EntityManager, where: SqlWhere, size: number, afterId: string | null): Promise<Page<ParkRow>> {
    const keyset = afterId !== null ? ' AND id > ?' : '';
    const rows = await em.execute<ParkRow[]>(
      `SELECT * FROM park WHERE ${where.sql}${keyset} ORDER BY id LIMIT ?`,
      [...where.params, ...(afterId !== null ? [afterId] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map(toParkRow), hasNextPage: rows.length > size };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await em.execute<{ count: string }[]>(`SELECT count(*) AS count FROM park WHERE ${where.sql}`, where.params);
    return Number(row!.count);
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
