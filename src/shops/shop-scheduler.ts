import type { EntityManager } from '@mikro-orm/postgresql';
import type { ScheduleService } from '../schedules/schedule.service';
import { nextPending, type ScheduleRules } from '../schedules/schedule-rules';
import type { ShopRow } from './shop';

export const SHOP_RUN_TASK = 'shop__payout';

/**
 * Keeps exactly one pending `shop__payout` job per scheduled shop, booked for its next fire
 * time under the shop's job key. Always called in the transaction that changed the shop or its
 * rules, so the booking commits (or not) with the change.
 */
export class ShopScheduler {
  constructor(private readonly schedules: ScheduleService) {}

  /** Books, moves or removes the shop's job to match its current schedule. */
  async book(em: EntityManager, shop: ShopRow, now?: Date): Promise<void> {
    const rules = shop.payout_schedule_id ? await this.schedules.rulesFor(em, shop.payout_schedule_id) : null;
    await this.bookWith(em, shop, rules, now);
  }

  /** Re-books every shop on the given schedules (their cron, delay or calendar changed). */
  async rebookSchedules(em: EntityManager, scheduleIds: readonly string[]): Promise<void> {
    if (scheduleIds.length === 0) return;
    // Lock the shops first (in one order, as a run locks one): a run in flight finishes under the
    // old rules before their new booking is computed, and none starts until it commits.
    await em.execute('SELECT 1 FROM shop WHERE payout_schedule_id IN (?) ORDER BY party_id, shop_id FOR UPDATE', [[...scheduleIds]]);
    const now = await databaseNow(em);
    for (const scheduleId of scheduleIds) {
      const rules = await this.schedules.rulesFor(em, scheduleId);
      // Shops on one schedule differ only in where their cut-offs start: book each start once.
      const starts = await em.execute<{ since: string | null }[]>(
        `SELECT DISTINCT greatest(last_cutoff, schedule_since) AS since FROM shop WHERE payout_schedule_id = ?`,
        [scheduleId],
      );
      for (const { since } of starts) {
        const next = rules ? nextPending(rules, since ? new Date(since) : now, now) : null;
        await em.execute(
          `WITH due AS (
             UPDATE shop SET next_cutoff = ?, next_fire_at = ?, updated_at = now()
              WHERE payout_schedule_id = ? AND greatest(last_cutoff, schedule_since) IS NOT DISTINCT FROM ?
              RETURNING party_id, shop_id)
           SELECT count(*) FROM due, LATERAL ${next ? addJob('?::timestamptz') : REMOVE_JOB}`,
          [next?.cutoff ?? null, next?.fireAt ?? null, scheduleId, since, ...(next ? [next.fireAt] : [])],
        );
      }
    }
  }

  /**
   * Re-books shops whose run is overdue by `graceSeconds` and whose job is gone or has been held
   * that long: a worker killed mid-run leaves its jobs locked for hours (graphile-worker's lock
   * timeout). The fresh job runs now; the stale one, if it ever runs, finds nothing due.
   */
  async rebookOverdue(em: EntityManager, graceSeconds: number): Promise<number> {
    const rows = await em.execute<{ count: string }[]>(
      `WITH due AS (
         SELECT s.party_id, s.shop_id FROM shop s
          WHERE s.next_fire_at < now() - make_interval(secs => ?)
            AND NOT EXISTS (
              SELECT 1 FROM graphile_worker.jobs j
               WHERE j.key = '${SHOP_RUN_TASK}:' || s.party_id || '/' || s.shop_id
                 AND (j.locked_at IS NULL OR j.locked_at > now() - make_interval(secs => ?))))
       SELECT count(*) FROM due, LATERAL ${addJob('now()')}`,
      [graceSeconds, graceSeconds],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Books the next run after the shop's latest cut-off (or from now) by the given rules; saves `last_cutoff`. */
  async bookWith(em: EntityManager, shop: ShopRow, rules: ScheduleRules | null, now?: Date): Promise<void> {
    now ??= await databaseNow(em);
    const since = latest(shop.last_cutoff, shop.schedule_since) ?? now;
    const next = rules ? nextPending(rules, since, now) : null;
    // One statement: the shop's booking and its job change together.
    await em.execute(
      `WITH due AS (
         UPDATE shop SET last_cutoff = ?, next_cutoff = ?, next_fire_at = ?, updated_at = now()
          WHERE party_id = ? AND shop_id = ? RETURNING party_id, shop_id)
       SELECT count(*) FROM due, LATERAL ${next ? addJob('?::timestamptz') : REMOVE_JOB}`,
      [shop.last_cutoff, next?.cutoff ?? null, next?.fireAt ?? null, shop.party_id, shop.shop_id, ...(next ? [next.fireAt] : [])],
    );
  }
}

/** Set-based booking for the rows of `due` (party_id, shop_id), at the SQL time `runAt`. */
const addJob = (runAt: string) => `graphile_worker.add_job(identifier => '${SHOP_RUN_TASK}',
    payload => json_build_object('partyId', due.party_id, 'shopId', due.shop_id), run_at => ${runAt},
    job_key => '${SHOP_RUN_TASK}:' || due.party_id || '/' || due.shop_id, job_key_mode => 'replace') booked`;
const REMOVE_JOB = `graphile_worker.remove_job('${SHOP_RUN_TASK}:' || due.party_id || '/' || due.shop_id) removed`;

/** The database's clock, so every process agrees with graphile-worker on what is due. */
export async function databaseNow(em: EntityManager): Promise<Date> {
  const [row] = await em.execute<{ now: Date }[]>('SELECT now() AS now');
  return new Date(row!.now);
}

export function latest(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a > b ? a : b;
}
