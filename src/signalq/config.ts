import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { withDates } from '../platform/rows';
import { textArray } from '../platform/sql-arrays';

/** What an admin says about a park's camera billing (`upsertSignalqConfig`). */
export interface SignalqConfigChange {
  parkId: string;
  currency: string;
  /** Minor units paid per active device-day. */
  dailyRate: bigint;
  /** A device-day counts when the camera was online at least this long that local day. */
  minActiveMinutes: number;
  periodDays: number;
  /** The first period's first local day (YYYY-MM-DD). */
  periodStart: string;
  /** IANA time zone the days are counted in. */
  timezone: string;
  enabled: boolean;
  reason: string | null;
}

/** One version of a park's config: it rules the periods from `effective_from` until the next version's. */
export interface SignalqConfigRow {
  id: string;
  park_id: string;
  effective_from: string;
  currency: string;
  daily_rate: string;
  min_active_minutes: number;
  period_days: number;
  period_start: string;
  timezone: string;
  enabled: boolean;
  reason: string | null;
  created_by: string | null;
  created_at: Date;
}

const COLUMNS = `id::text, park_id, effective_from::text, currency, daily_rate::text, min_active_minutes, period_days,
                 period_start::text, timezone, enabled, reason, created_by, created_at`;

function toRow(row: SignalqConfigRow): SignalqConfigRow {
  return { ...withDates(row, ['created_at']), currency: row.currency.trim() };
}

/**
 * Per-park configs, kept as versions. A change applies from the next period on: the new version's
 * `effective_from` is the first local day after the period running now (under the version in
 * force), so a period that has begun is billed as it began. A version not yet in force is replaced.
 * `enabled` is the exception: the latest version's value holds at once (it decides whether lines
 * are paid, not what they are worth).
 */
export class SignalqConfigs {
  async upsert(em: EntityManager, change: SignalqConfigChange, actor: string | null, at: Date = new Date()): Promise<SignalqConfigRow> {
    // Changes of one park one at a time: each reads the latest version and writes the next.
    await queryBound(em, 'SELECT pg_advisory_xact_lock(hashtext(?))', [`signalq_config:${change.parkId}`]);
    const [latest, ...older] = await this.versions(em, change.parkId);
    let effectiveFrom = change.periodStart;
    if (latest) {
      const [{ today }] = (await queryBound<{ today: string }>(em, 'SELECT (?::timestamptz AT TIME ZONE ?)::date::text AS today', [at, latest.timezone])) as [
        { today: string },
      ];
      if (latest.effective_from > today && older.length === 0) {
        // The first version, not yet in force: replaced whole, its first period included.
        await queryBound(em, 'DELETE FROM signalq_config_version WHERE id = ?', [latest.id]);
      } else {
        effectiveFrom = nextPeriodStart(latest, today);
      }
    }
    const [written] = await queryBound<SignalqConfigRow>(
      em,
      `INSERT INTO signalq_config_version AS c (park_id, effective_from, currency, daily_rate, min_active_minutes, period_days,
                                                period_start, timezone, enabled, reason, created_by)
       VALUES (?, ?::date, ?, ?, ?, ?, ?::date, ?, ?, ?, ?)
       ON CONFLICT (park_id, effective_from) DO UPDATE
         SET currency = EXCLUDED.currency, daily_rate = EXCLUDED.daily_rate, min_active_minutes = EXCLUDED.min_active_minutes,
             period_days = EXCLUDED.period_days, period_start = EXCLUDED.period_start, timezone = EXCLUDED.timezone,
             enabled = EXCLUDED.enabled, reason = EXCLUDED.reason, created_by = EXCLUDED.created_by, created_at = now()
       RETURNING ${COLUMNS}`,
      [
        change.parkId,
        effectiveFrom,
        change.currency,
        change.dailyRate.toString(),
        change.minActiveMinutes,
        change.periodDays,
        change.periodStart,
        change.timezone,
        change.enabled,
        change.reason,
        actor,
      ],
    );
    return toRow(written!);
  }

  /** The park's versions, latest first (the first is what the next periods use; its `enabled` holds now). */
  async versions(em: EntityManager, parkId: string): Promise<SignalqConfigRow[]> {
    const rows = await queryBound<SignalqConfigRow>(
      em,
      `SELECT ${COLUMNS} FROM signalq_config_version WHERE park_id = ? ORDER BY effective_from DESC`,
      [parkId],
    );
    return rows.map(toRow);
  }

  /** The latest version of each park that has a config. */
  async latestOf(em: EntityManager, parkIds: readonly string[]): Promise<Map<string, SignalqConfigRow>> {
    const rows = await queryBound<SignalqConfigRow>(
      em,
      `SELECT DISTINCT ON (park_id) ${COLUMNS} FROM signalq_config_version
        WHERE park_id = ANY (?::text[]) ORDER BY park_id, effective_from DESC`,
      [textArray(parkIds)],
    );
    return new Map(rows.map((row) => [row.park_id, toRow(row)]));
  }

  async latest(em: EntityManager, parkId: string): Promise<SignalqConfigRow | null> {
    const [row] = await queryBound<SignalqConfigRow>(
      em,
      `SELECT ${COLUMNS} FROM signalq_config_version WHERE park_id = ? ORDER BY effective_from DESC LIMIT 1`,
      [parkId],
    );
    return row ? toRow(row) : null;
  }
}

const DAY = 86_400_000;

/**
 * The first local day after the period of `version` that holds `today` (a version not yet in force:
 * its own first day, so a change before then replaces it).
 */
export function nextPeriodStart(version: Pick<SignalqConfigRow, 'effective_from' | 'period_days'>, today: string): string {
  const from = Date.parse(`${version.effective_from}T00:00:00Z`);
  const now = Date.parse(`${today}T00:00:00Z`);
  if (from > now) return version.effective_from;
  const elapsed = Math.floor((now - from) / DAY);
  const next = from + (Math.floor(elapsed / version.period_days) + 1) * version.period_days * DAY;
  return new Date(next).toISOString().slice(0, 10);
}
