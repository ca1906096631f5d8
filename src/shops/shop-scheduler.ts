import type { EntityManager } from '@mikro-orm/postgresql';
import type { JobQueue } from '../platform/jobs';
import { nextPending, type ScheduleRules } from '../schedules/schedule-rules';
import type { ScheduleService } from '../schedules/schedule.service';
import { shopOwnerId, type ShopKey, type ShopRow } from './shop';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** A shop's scheduled payout run (the shop-runs module runs it), booked here under the shop's key. */
      shop__payout: ShopKey;
    }
  }
}

export const SHOP_RUN_TASK = 'shop__payout';

/** The job key of a shop's run: one pending run per shop. */
export function shopRunJobKey(shop: ShopKey): string {
  return `${SHOP_RUN_TASK}:${shopOwnerId(shop)}`;
}

/**
 * Keeps exactly one pending `shop__payout` job per scheduled shop, booked for its next fire
 * time under the shop's job key. Always called in the transaction that changed the shop or its
 * rules, so the booking commits (or not) with the change.
 */
export class ShopScheduler {
  constructor(
    private readonly schedules: ScheduleService,
    private readonly jobs: JobQueue,
  ) {}

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
        const shops = await em.execute<{ party_id: string; shop_id: string }[]>(
          `UPDATE shop SET next_cutoff = ?, next_fire_at = ?, updated_at = now()
            WHERE payout_schedule_id = ? AND greatest(last_cutoff, schedule_since) IS NOT DISTINCT FROM ?
            RETURNING party_id, shop_id`,
          [next?.cutoff ?? null, next?.fireAt ?? null, scheduleId, since],
        );
        const keys = shops.map((row) => ({ partyId: row.party_id, shopId: row.shop_id }));
        if (next) await this.jobs.addKeyed(em, 'shop__payout', keys.map((key) => ({ payload: key, runAt: next.fireAt, jobKey: shopRunJobKey(key) })));
        else await this.jobs.remove(em, keys.map(shopRunJobKey));
      }
    }
  }

  /**
   * Re-books shops whose run is overdue by `graceSeconds` and whose job is gone or has been held
   * that long: a worker killed mid-run leaves its jobs locked for hours (graphile-worker's lock
   * timeout). The fresh job runs now; the stale one, if it ever runs, finds nothing due.
   */
  async rebookOverdue(em: EntityManager, graceSeconds: number): Promise<number> {
    const overdue = await em.execute<{ party_id: string; shop_id: string; db_now: Date }[]>(
      `SELECT party_id, shop_id, now() AS db_now FROM shop WHERE next_fire_at < now() - make_interval(secs => ?)`,
      [graceSeconds],
    );
    if (overdue.length === 0) return 0;
    const byKey = new Map(overdue.map((row) => [shopRunJobKey({ partyId: row.party_id, shopId: row.shop_id }), row]));
    const stranded = await this.jobs.keysWithoutLiveJob(em, [...byKey.keys()], graceSeconds);
    const now = new Date(overdue[0]!.db_now);
    await this.jobs.addKeyed(
      em,
      'shop__payout',
      stranded.map((jobKey) => {
        const row = byKey.get(jobKey)!;
        return { payload: { partyId: row.party_id, shopId: row.shop_id }, runAt: now, jobKey };
      }),
    );
    return stranded.length;
  }

  /** Books the next run after the shop's latest cut-off (or from now) by the given rules; saves `last_cutoff`. */
  async bookWith(em: EntityManager, shop: ShopRow, rules: ScheduleRules | null, now?: Date): Promise<void> {
    now ??= await databaseNow(em);
    const since = latest(shop.last_cutoff, shop.schedule_since) ?? now;
    const next = rules ? nextPending(rules, since, now) : null;
    const key = { partyId: shop.party_id, shopId: shop.shop_id };
    // One round trip: the shop's booking and its job change together (every run ends with this).
    await this.jobs.afterStatement(
      em,
      {
        sql: `UPDATE shop SET last_cutoff = ?, next_cutoff = ?, next_fire_at = ?, updated_at = now()
               WHERE party_id = ? AND shop_id = ? RETURNING 1`,
        params: [shop.last_cutoff, next?.cutoff ?? null, next?.fireAt ?? null, shop.party_id, shop.shop_id],
      },
      'shop__payout',
      shopRunJobKey(key),
      next ? { payload: key, runAt: next.fireAt } : null,
    );
  }

  /** Scheduled shops whose run is more than `graceSeconds` past its fire time (for the metrics). */
  async countOverdue(em: EntityManager, graceSeconds: number): Promise<number> {
    const [row] = await em.execute<{ count: string }[]>(
      `SELECT count(*) AS count FROM shop WHERE next_fire_at < now() - make_interval(secs => ?)`,
      [graceSeconds],
    );
    return Number(row!.count);
  }
}

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
