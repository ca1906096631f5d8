import type { EntityManager } from '@mikro-orm/postgresql';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { queryBound } from '../platform/bound-query';
import { ForbiddenError, InvalidInputError } from '../platform/errors';
import type { Page, SqlWhere } from '../platform/graphql/pagination';
import { isUuid } from '../platform/ids';
import { parseMinor } from '../platform/money';
import { textArray } from '../platform/sql-arrays';
import { toTransactionRow, type TransactionRow, type TransactionStatus } from './transaction';

/** What a transaction list or export is narrowed to (GraphQL's TransactionFilter, validated; JSON-safe for an export job). */
export interface TransactionCriteria {
  parkId?: string | null;
  driverId?: string | null;
  paymentSystem?: string[] | null;
  walletId?: string | null;
  status?: TransactionStatus[] | null;
  from?: string | null;
  to?: string | null;
  minAmount?: string | null;
  maxAmount?: string | null;
}

/** Who may see what: admins and services everything, dispatchers their parks, a driver himself. */
export interface TransactionScope {
  all: boolean;
  parks: string[];
  /** `parkId/driverId` */
  drivers: string[];
}

export function scopeOf(principal: Principal): TransactionScope {
  if (seesEverything(principal)) return { all: true, parks: [], drivers: [] };
  const payees = scopedPayees(principal);
  return {
    all: false,
    parks: payees.flatMap((p) => (p.kind === 'PARK' ? [p.id] : [])),
    drivers: payees.flatMap((p) => (p.kind === 'DRIVER' ? [p.id] : [])),
  };
}

/** Validates a filter into criteria; a park or driver outside the caller's scope is FORBIDDEN. */
export function criteriaOf(filter: Record<string, unknown> | null | undefined, scope: TransactionScope): TransactionCriteria {
  const f = (filter ?? {}) as Record<string, any>;
  if (f.walletId && !isUuid(f.walletId)) throw new InvalidInputError('walletId must be an id this API returned', { field: 'walletId' });
  if (f.driverId && !f.parkId) throw new InvalidInputError('driverId needs parkId', { field: 'driverId' });
  const criteria: TransactionCriteria = {
    parkId: f.parkId ?? null,
    driverId: f.driverId ?? null,
    paymentSystem: f.paymentSystem?.length ? f.paymentSystem : null,
    walletId: f.walletId ?? null,
    status: f.status?.length ? f.status : null,
    from: f.from ? new Date(f.from).toISOString() : null,
    to: f.to ? new Date(f.to).toISOString() : null,
    minAmount: f.minAmount != null ? parseMinor(f.minAmount, 'minAmount').toString() : null,
    maxAmount: f.maxAmount != null ? parseMinor(f.maxAmount, 'maxAmount').toString() : null,
  };
  if (!scope.all) {
    if (scope.parks.length === 0 && scope.drivers.length === 0) throw new ForbiddenError('This token may not see any transaction');
    if (criteria.parkId) {
      const driverSeen = criteria.driverId && scope.drivers.includes(`${criteria.parkId}/${criteria.driverId}`);
      if (!scope.parks.includes(criteria.parkId) && !driverSeen) throw new ForbiddenError(`Not allowed to see park ${criteria.parkId}`);
    }
  }
  return criteria;
}

/** The SQL of criteria within a scope. */
export function whereOf(criteria: TransactionCriteria, scope: TransactionScope): SqlWhere {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (condition: string, ...values: unknown[]) => {
    conditions.push(condition);
    params.push(...values);
  };
  if (criteria.parkId) add('park_id = ?', criteria.parkId);
  if (criteria.driverId) add('driver_id = ?', criteria.driverId);
  if (criteria.paymentSystem) add('payment_system = ANY (?::text[])', textArray(criteria.paymentSystem));
  if (criteria.walletId) add('wallet_id = ?::uuid', criteria.walletId);
  if (criteria.status) add('status = ANY (?::text[])', textArray(criteria.status));
  if (criteria.from) add('created_at >= ?::timestamptz', criteria.from);
  if (criteria.to) add('created_at < ?::timestamptz', criteria.to);
  if (criteria.minAmount) add('amount >= ?::bigint', criteria.minAmount);
  if (criteria.maxAmount) add('amount <= ?::bigint', criteria.maxAmount);
  if (!scope.all) {
    add(
      `(park_id = ANY (?::text[]) OR (park_id || '/' || driver_id) = ANY (?::text[]))`,
      textArray(scope.parks),
      textArray(scope.drivers),
    );
  }
  return { sql: conditions.length ? conditions.join(' AND ') : 'true', params };
}

/** Keyset pages, newest first: by id, which grows with every insert (a timestamp's microseconds would not survive a JS Date). */
export class TransactionQueries {
  async page(em: EntityManager, where: SqlWhere, size: number, afterId: string | null): Promise<Page<TransactionRow>> {
    const keyset = afterId ? ' AND id < ?::bigint' : '';
    const rows = await queryBound<TransactionRow>(
      em,
      `SELECT * FROM topup_transaction WHERE ${where.sql}${keyset} ORDER BY id DESC LIMIT ?`,
      [...where.params, ...(afterId ? [afterId] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map(toTransactionRow), hasNextPage: rows.length > size };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await queryBound<{ n: string }>(em, `SELECT count(*) AS n FROM topup_transaction WHERE ${where.sql}`, where.params);
    return Number(row!.n);
  }

  async sums(em: EntityManager, where: SqlWhere): Promise<{ currency: string; total: bigint }[]> {
    const rows = await queryBound<{ currency: string; total: string }>(
      em,
      `SELECT currency, sum(amount) AS total FROM topup_transaction WHERE ${where.sql} GROUP BY currency ORDER BY currency`,
      where.params,
    );
    return rows.map((row) => ({ currency: row.currency.trim(), total: BigInt(row.total) }));
  }

  /**
   * Every matching row, newest first, a page at a time (keyset): for the export, whose memory must
   * not grow with the number of rows.
   */
  async *stream(em: EntityManager, where: SqlWhere, pageSize = 5000): AsyncGenerator<TransactionRow[]> {
    let afterId: string | null = null;
    for (;;) {
      const keyset = afterId ? ' AND id < ?::bigint' : '';
      const rows: TransactionRow[] = await queryBound<TransactionRow>(
        em,
        `SELECT id, wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status, reason, created_at, processed_at
           FROM topup_transaction WHERE ${where.sql}${keyset} ORDER BY id DESC LIMIT ?`,
        [...where.params, ...(afterId ? [afterId] : []), pageSize],
      );
      if (rows.length === 0) return;
      afterId = String(rows[rows.length - 1]!.id);
      yield rows.map(toTransactionRow);
      if (rows.length < pageSize) return;
    }
  }
}
