import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { textArray } from '../platform/sql-arrays';
import { withDates } from '../platform/rows';

/** A recorded period of a park, with its lines summed: what the park's page shows. */
export interface SignalqPeriodRow {
  park_id: string;
  period_start: string;
  period_end: string;
  lines: number;
  active_days: number;
  currency: string | null;
  amount: string;
  /** Of `amount`, what CREATED lines paid. */
  paid: string;
  /** Lines not CREATED yet. */
  open_lines: number;
  recorded_at: Date;
}

/** How many of its latest periods a park's page shows. */
export const SHOWN_PERIODS = 6;

/** The latest recorded periods of each park, newest first, in one query for many parks. */
export async function latestPeriods(em: EntityManager, parkIds: readonly string[], limit = SHOWN_PERIODS): Promise<Map<string, SignalqPeriodRow[]>> {
  const rows = await queryBound<SignalqPeriodRow>(
    em,
    `SELECT r.park_id, r.period_start::text, r.period_end::text, r.lines, r.recorded_at,
            coalesce(s.active_days, 0)::int AS active_days, s.currency, coalesce(s.amount, 0)::text AS amount,
            coalesce(s.paid, 0)::text AS paid, coalesce(s.open_lines, 0)::int AS open_lines
       FROM unnest(?::text[]) AS k(park_id)
      CROSS JOIN LATERAL (SELECT * FROM signalq_period p WHERE p.park_id = k.park_id ORDER BY p.period_start DESC LIMIT ?) r
       LEFT JOIN LATERAL (SELECT sum(l.active_days) AS active_days, min(l.currency) AS currency, sum(l.amount) AS amount,
                                 sum(l.amount) FILTER (WHERE l.payment_progress = 'CREATED') AS paid,
                                 count(*) FILTER (WHERE l.payment_progress <> 'CREATED') AS open_lines
                            FROM signalq_payment l WHERE l.park_id = r.park_id AND l.period_start = r.period_start) s ON true
      ORDER BY r.park_id, r.period_start DESC`,
    [textArray(parkIds), limit],
  );
  const byPark = new Map<string, SignalqPeriodRow[]>(parkIds.map((id) => [id, []]));
  for (const row of rows) byPark.get(row.park_id)?.push({ ...withDates(row, ['recorded_at']), currency: row.currency?.trim() ?? null });
  return byPark;
}
