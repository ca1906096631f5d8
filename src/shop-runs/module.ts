import { Counter, type Registry } from 'prom-client';
import { operationsModule } from '../operations/module';
import { payoutsModule } from '../payouts/module';
import { defineModule } from '../platform/modules';
import { schedulesModule } from '../schedules/module';
import { shopsModule } from '../shops/module';
import { runLoaders } from './loaders';
import { ShopPayoutRunResolver, ShopRunsResolver } from './run.resolver';
import { ShopPayoutRunner } from './shop-payout-run';
import { shopPayout } from './shop__payout';

export interface ShopRunServices {
  runner: ShopPayoutRunner;
}

/**
 * Scheduled payouts to shops: when a shop's run fires (`shop__payout`, booked by the shops
 * module), its unpaid operations before the cut-off become one payout, recorded as a run.
 */
export const shopRunsModule = defineModule({
  name: 'shop-runs',
  tables: ['shop_payout_run'],
  requires: [shopsModule, schedulesModule, operationsModule, payoutsModule],
  metrics: (registry: Registry) => ({
    shopRuns: new Counter({
      name: 'payouts_shop_runs_total',
      help: 'Scheduled shop runs by result (PAID, SKIPPED, NOTHING_TO_PAY)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  }),
  create: ({ kernel, metrics, logger, use }): ShopRunServices => {
    const { shops, scheduler } = use(shopsModule);
    const runner = new ShopPayoutRunner(
      kernel.orm,
      shops,
      use(schedulesModule).schedules,
      scheduler,
      use(operationsModule).operations,
      use(payoutsModule).lifecycle,
      metrics.shopRuns,
      logger.child({ component: 'shop-runs' }),
    );
    return { runner };
  },
  resolvers: [ShopRunsResolver, ShopPayoutRunResolver],
  loaders: () => runLoaders(),
  tasks: ({ services }) => ({ shop__payout: shopPayout(services.runner) }),
});
