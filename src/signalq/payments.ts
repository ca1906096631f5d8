import type { EntityManager } from '@mikro-orm/postgresql';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { queryBound } from '../platform/bound-query';
import { ForbiddenError } from '../platform/errors';
import type { Page, SqlWhere } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import { withDates } from '../platform/rows';

export const PAYMENT_PROGRESS = ['NOT_CREATED', 'IN_PROGRESS', 'CREATED'] as const;
export type PaymentProgress = (typeof PAYMENT_PROGRESS)[number];

export interface SignalqPaymentRow {
  id: string;
  park_id: string;
  device_id: string;
  period_start: string;
  period_end: string;
  active_days: number;
  amount: string;
  currency: string;
  payment_progress: PaymentProgress;
  payout_id: string | null;
  error: string | null;
  attempts: number;
  needs_manual: boolean;
  updated_at: Date;
}

export interface PaymentFilter {
  parkId?: string | null;
  deviceId?: string | null;
  periodStart?: string | null;
  progress?: PaymentProgress | null;
}

const COLUMNS = `id::text, park_id, device_id, period_start::text, period_end::text, active_days, amount::text, currency,
                 payment_progress, payout_id::text, error, attempts,
                 (payment_progress <> 'CREATED' AND failing_since <= now() - interval '1 day') AS needs_manual, updated_at`;

/** Read side of the payment lines: filtered, limited to the caller's parks, latest period first. */
export class SignalqPayments {
  where(filter: PaymentFilter | null | undefined, principal: Principal): SqlWhere {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, ...values: unknown[]) => {
      conditions.push(condition);
      params.push(...values);
    };
    if (filter?.parkId) add('park_id = ?', filter.parkId);
    if (filter?.deviceId) add('device_id = ?', filter.deviceId);
    if (filter?.periodStart) add('period_start = ?::date', filter.periodStart);
    if (filter?.progress) add('payment_progress = ?', filter.progress);
    if (!seesEverything(principal)) {
      const parks = scopedPayees(principal, 'PARK').map((payee) => (payee.kind === 'PARK' ? payee.id : ''));
      if (parks.length === 0) throw new ForbiddenError('This token may not see any park');
      if (filter?.parkId && !parks.includes(filter.parkId)) throw new ForbiddenError('Not your park');
      add('park_id = ANY (?::text[])', textArray(parks));
    }
    return { sql: conditions.length ? conditions.join(' AND ') : 'true', params };
  }

  /** Keyset page by (period_start DESC, id DESC). */
  async page(em: EntityManager, where: SqlWhere, size: number, after: { periodStart: string; id: string } | null): Promise<Page<SignalqPaymentRow>> {
    const keyset = after ? ' AND (period_start, id) < (?::date, ?::bigint)' : '';
    const rows = await queryBound<SignalqPaymentRow>(
      em,
      `SELECT ${COLUMNS} FROM signalq_payment WHERE ${where.sql}${keyset} ORDER BY period_start DESC, id DESC LIMIT ?`,
      [...where.params, ...(after ? [after.periodStart, after.id] : []), size + 1],
    );
    return { rows: rows.slice(0, size).map(toRow), hasNextPage: rows.length > size };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await queryBound<{ count: string }>(em, `SELECT count(*) AS count FROM signalq_payment WHERE ${where.sql}`, where.params);
    return Number(row!.count);
  }

  /** For the gauge: lines not CREATED, by whether they are failing (error set) or waiting for an admin. */
  async openCounts(em: EntityManager): Promise<{ inProgress: number; failing: number; manual: number }> {
    const [row] = await queryBound<{ in_progress: number; failing: number; manual: number }>(
      em,
      `SELECT count(*) FILTER (WHERE payment_progress = 'IN_PROGRESS')::int AS in_progress,
              count(*) FILTER (WHERE error IS NOT NULL)::int AS failing,
              count(*) FILTER (WHERE failing_since <= now() - interval '1 day')::int AS manual
         FROM signalq_payment WHERE payment_progress <> 'CREATED'`,
      [],
    );
    return { inProgress: row!.in_progress, failing: row!.failing, manual: row!.manual };
  }
}

function toRow(row: SignalqPaymentRow): SignalqPaymentRow {
  return { ...withDates(row, ['updated_at']), currency: row.currency.trim() };
}
