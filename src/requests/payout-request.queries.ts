import { payeeId } from '../access/payee';
import { isUuid } from '../platform/ids';
import type { EntityManager } from '@mikro-orm/postgresql';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { ForbiddenError, InvalidInputError } from '../platform/errors';
import type { PayoutRequestRow } from './payout-request.service';
import type { PayoutRequestFilter } from './payout-request.types';
import type { SqlWhere } from '../platform/graphql/pagination';

/** Read side of payout requests: filtered, limited to the caller's clients, keyset-paged newest first. */
export class PayoutRequestQueries {
  where(filter: PayoutRequestFilter | null | undefined, principal: Principal): SqlWhere {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter?.clientId) {
      clauses.push('client_id = ?');
      params.push(filter.clientId);
    }
    if (filter?.status?.length) {
      clauses.push('status IN (?)');
      params.push(filter.status);
    }
    if (!seesEverything(principal)) {
      const clients = scopedPayees(principal, 'CLIENT').map((client) => payeeId(client));
      if (clients.length === 0) throw new ForbiddenError('This token may not see any client');
      clauses.push('client_id IN (?)');
      params.push(clients);
    }
    return { sql: clauses.length ? clauses.join(' AND ') : 'TRUE', params };
  }

  async page(em: EntityManager, where: SqlWhere, first: number, afterId: string | null) {
    let keyset = '';
    const params = [...where.params];
    if (afterId) {
      if (!isUuid(afterId)) throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
      keyset = ' AND (created_at, id) < (SELECT c.created_at, c.id FROM payout_request c WHERE c.id = ?)';
      params.push(afterId);
    }
    const rows = await em.execute<PayoutRequestRow[]>(
      `SELECT * FROM payout_request WHERE ${where.sql}${keyset} ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, first + 1],
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await em.execute<{ n: string }[]>(`SELECT count(*) AS n FROM payout_request WHERE ${where.sql}`, where.params);
    return Number(row!.n);
  }

  async byId(em: EntityManager, id: string): Promise<PayoutRequestRow | null> {
    if (!isUuid(id)) return null;
    const [row] = await em.execute<PayoutRequestRow[]>('SELECT * FROM payout_request WHERE id = ?', [id]);
    return row ?? null;
  }
}
