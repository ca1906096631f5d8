import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Counter } from 'prom-client';
import type { OperationService } from '../operations/operation.service';
import type { PayoutLifecycle } from '../payouts/payout-lifecycle';
import type { Logger } from '../platform/logger';
import { withDates } from '../platform/rows';
import { dueCutoff, fireTime } from '../schedules/schedule-rules';
import type { ScheduleService } from '../schedules/schedule.service';
import { shopOwnerId, type ShopKey, type ShopRow } from '../shops/shop';
import { latest, type ShopScheduler } from '../shops/shop-scheduler';
import type { ShopService } from '../shops/shop.service';

export const RUN_RESULTS = ['PAID', 'SKIPPED', 'NOTHING_TO_PAY'] as const;
export type RunResult = (typeof RUN_RESULTS)[number];

export interface RunRow {
  id: string;
  party_id: string;
  shop_id: string;
  cutoff: Date;
  fire_at: Date;
  ran_at: Date;
  result: RunResult;
  reason: string | null;
  payout_id: string | null;
  amount: string;
  currency: string;
  operation_count: number;
}

export function toRunRow(raw: RunRow): RunRow {
  return withDates(raw, ['cutoff', 'fire_at', 'ran_at']);
}

/**
 * A shop's scheduled payout run. When its job fires it settles the latest due cut-off in one
 * transaction: a blocked or suspended shop is skipped with the reason; otherwise every unpaid
 * operation before the cut-off (however old) is summed, and a positive sum becomes one payout
 * marked on those operations. The unique (shop, cut-off) run row and the payout's idempotency key
 * make a retried or doubled job harmless. The next run is booked in the same transaction.
 */
export class ShopPayoutRunner {
  constructor(
    private readonly orm: MikroORM,
    private readonly shops: ShopService,
    private readonly schedules: ScheduleService,
    private readonly scheduler: ShopScheduler,
    private readonly operations: OperationService,
    private readonly payouts: PayoutLifecycle,
    private readonly runsCounted: Counter<'result'>,
    private readonly logger: Logger,
  ) {}

  /** Runs the shop's due cut-off, if any, and books its next run; returns the run it recorded, or null. */
  async run(key: ShopKey): Promise<RunRow | null> {
    const run = await this.orm.em.fork().transactional(async (em) => {
      const locked = await this.shops.lock(em, key);
      if (!locked?.shop.payout_schedule_id) return null; // unscheduled since the job was booked
      const { shop, now } = locked;
      const rules = await this.schedules.rulesFor(em, locked.shop.payout_schedule_id);
      if (!rules) return null;
      // Cut-offs up to the last run's are settled: a doubled or retried job finds nothing due here,
      // and the unique (shop, cut-off) run row backs that up.
      const since = latest(shop.last_cutoff, shop.schedule_since) ?? now;
      // After downtime several cut-offs may be due: one run covers the latest, and with it all before.
      const cutoff = dueCutoff(rules, since, now);
      const run = cutoff ? await this.settle(em, shop, cutoff, fireTime(rules, cutoff)) : null;
      // The next run is booked after the cut-off this one settled, saved with it.
      await this.scheduler.bookWith(em, cutoff ? { ...shop, last_cutoff: cutoff } : shop, rules, now);
      return run;
    });
    if (run) this.runsCounted.inc({ result: run.result }); // counted once committed
    return run;
  }

  private async settle(em: EntityManager, shop: ShopRow, cutoff: Date, fireAt: Date): Promise<RunRow> {
    const key = { partyId: shop.party_id, shopId: shop.shop_id };
    if (shop.status !== 'ACTIVE') {
      const reason = shop.status === 'BLOCKED' ? `shop is blocked${shop.blocked_reason ? `: ${shop.blocked_reason}` : ''}` : 'shop is suspended';
      return this.record(em, shop, cutoff, fireAt, { result: 'SKIPPED', reason });
    }
    const unpaid = await this.operations.unpaidBefore(em, key, cutoff);
    if (unpaid.total <= 0n) {
      // Nothing is created; the operations wait for a run whose sum is positive.
      return this.record(em, shop, cutoff, fireAt, { result: 'NOTHING_TO_PAY', amount: unpaid.total, count: unpaid.count });
    }
    const { payout } = await this.payouts.create(em, {
      payee: { kind: 'SHOP', ...key },
      amount: unpaid.total,
      currency: shop.currency,
      source: 'SCHEDULE',
      sourceRef: shop.payout_schedule_id,
      cutoff,
      payoutToolId: shop.payout_tool_id,
      idempotencyKey: `schedule:${shopOwnerId(key)}:${cutoff.toISOString()}`,
      actor: 'schedule',
    });
    await this.operations.markPaid(em, key, cutoff, payout.id, unpaid);
    const run = await this.record(em, shop, cutoff, fireAt, {
      result: 'PAID',
      payoutId: payout.id,
      amount: unpaid.total,
      count: unpaid.count,
    });
    this.logger.info({ shop: shopOwnerId(key), cutoff, payoutId: payout.id, amount: unpaid.total.toString() }, 'scheduled payout created');
    return run;
  }

  private async record(
    em: EntityManager,
    shop: ShopRow,
    cutoff: Date,
    fireAt: Date,
    what: { result: RunResult; reason?: string; payoutId?: string; amount?: bigint; count?: number },
  ): Promise<RunRow> {
    const [row] = await em.execute<RunRow[]>(
      `INSERT INTO shop_payout_run (party_id, shop_id, cutoff, fire_at, result, reason, payout_id, amount, currency, operation_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [
        shop.party_id,
        shop.shop_id,
        cutoff,
        fireAt,
        what.result,
        what.reason ?? null,
        what.payoutId ?? null,
        (what.amount ?? 0n).toString(),
        shop.currency,
        what.count ?? 0,
      ],
    );
    return toRunRow(row!);
  }
}
