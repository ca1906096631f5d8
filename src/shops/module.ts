import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { setting } from '../platform/config';
import { bookAtStart, rebookEveryMinute } from '../platform/jobs';
import { defineModule } from '../platform/modules';
import { schedulesModule } from '../schedules/module';
import { partyManagementHandler } from './party-management.inbound';
import { shopBalanceMayGoNegative } from './shop';
import { ShopScheduler } from './shop-scheduler';
import { ShopResolver } from './shop.resolver';
import { ShopService } from './shop.service';
import { shopRebookOverdue } from './shop__rebook_overdue';

export interface ShopServices {
  shops: ShopService;
  /** Books each scheduled shop's next run (`shop__payout`). */
  scheduler: ShopScheduler;
}

/** Merchants' shops from `party-management`, and the booking of each shop's next scheduled run. */
export const shopsModule = defineModule({
  name: 'shops',
  tables: ['shop'],
  requires: [ledgerModule, schedulesModule],
  settings: z.object({
    TOPIC_PARTY_MANAGEMENT: z.string().default('party-management'),
    /** A shop run overdue this long, its job missing or held this long, is booked again. */
    SHOP_RUN_REBOOK_AFTER: setting.duration.default(120_000),
  }),
  metrics: (registry: Registry) => ({
    shopsOverdue: new Gauge({
      name: 'payouts_shops_overdue',
      help: 'Scheduled shops whose run is more than a minute past its fire time (read at scrape time)',
      registers: [registry],
    }),
  }),
  create: ({ kernel, use }): ShopServices => {
    const { ledger } = use(ledgerModule);
    const { schedules } = use(schedulesModule);
    ledger.allowNegative(shopBalanceMayGoNegative);
    const scheduler = new ShopScheduler(schedules, kernel.jobs);
    // A schedule's or calendar's new rules re-book its shops, in the same transaction.
    schedules.onRulesChanged((em, scheduleIds) => scheduler.rebookSchedules(em, scheduleIds));
    return { shops: new ShopService(ledger, scheduler), scheduler };
  },
  resolvers: [ShopResolver],
  inbound: ({ services, settings }) => [partyManagementHandler(settings.TOPIC_PARTY_MANAGEMENT, services.shops)],
  tasks: ({ services, settings, kernel, logger }) => ({
    shop__rebook_overdue: shopRebookOverdue(kernel.orm, services.scheduler, settings.SHOP_RUN_REBOOK_AFTER, logger),
  }),
  cron: () => [rebookEveryMinute('shop__rebook_overdue', 'Shop runs book their own next run; this re-books runs whose worker died holding the job.')],
  startupJobs: () => [bookAtStart('shop__rebook_overdue')],
  scrape: ({ services, metrics }) => async (em) => metrics.shopsOverdue.set(await services.scheduler.countOverdue(em, 60)),
});
