import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ledgerModule } from '../ledger/module';
import { parksModule } from '../parks/module';
import type { ParkService } from '../parks/park.service';
import { payoutsModule } from '../payouts/module';
import { defineModule } from '../platform/modules';
import { FleetPayoutResolver, ParkPayoutFieldsResolver } from './fleet-payout.resolver';
import { fleetPeriodicPayouts } from './fleet__periodic_payouts';
import { InstantPayouts } from './instant-payouts';
import { fleetPayoutLoaders } from './loaders';
import { ParkPayoutStates } from './park-payout-states';
import { PayoutRulesStore } from './payout-rules';
import { PeriodicPayouts } from './periodic-payouts';
import { fleetPayoutSettings } from './settings';
import { SharedThrottle } from './throttle';

export interface FleetPayoutServices {
  instant: InstantPayouts;
  periodic: PeriodicPayouts;
  rules: PayoutRulesStore;
  states: ParkPayoutStates;
  parks: ParkService;
}

/** Parks that used the instant button in this window count as using the service. */
const INSTANT_USERS_WINDOW_MS = 30 * 86_400_000;

/** Payouts to parks: the dispatcher's instant button and the periodic run, with their global rules. */
export const fleetPayoutsModule = defineModule({
  name: 'fleet-payouts',
  tables: ['fleet_payout_settings', 'fleet_instant_limit', 'fleet_park_payouts', 'fleet_throttle'],
  requires: [ledgerModule, payoutsModule, parksModule],
  settings: fleetPayoutSettings,
  metrics: (registry: Registry) => ({
    payoutsCreated: new Counter({
      name: 'payouts_fleet_payouts_created_total',
      help: 'Payouts made to parks, by source (INSTANT, PERIODIC)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    throttledWaits: new Counter({
      name: 'payouts_fleet_throttle_waits_total',
      help: 'Times the periodic run waited for the shared payout rate (FLEET_PERIODIC_RATE)',
      registers: [registry],
    }),
    throttledSeconds: new Counter({
      name: 'payouts_fleet_throttle_wait_seconds_total',
      help: 'Seconds the periodic run waited for the shared payout rate',
      registers: [registry],
    }),
    periodicRunSeconds: new Histogram({
      name: 'payouts_fleet_periodic_run_seconds',
      help: 'Duration of periodic payout runs over all parks',
      buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600],
      registers: [registry],
    }),
    instantUsers: new Gauge({
      name: 'payouts_fleet_instant_parks',
      help: 'Parks that made an instant payout in the last 30 days (read at scrape time)',
      registers: [registry],
    }),
  }),
  create: ({ settings, metrics, kernel, logger, use }): FleetPayoutServices => {
    const { ledger } = use(ledgerModule);
    const payouts = use(payoutsModule);
    const { parks } = use(parksModule);
    const rules = new PayoutRulesStore(settings);
    const throttle = new SharedThrottle(settings.FLEET_PERIODIC_RATE, (seconds) => {
      metrics.throttledWaits.inc();
      metrics.throttledSeconds.inc(seconds);
    });
    const instant = new InstantPayouts(kernel.orm, ledger, payouts.steps.payoutEventsTopic, rules, logger.child({ component: 'fleet-instant' }), () =>
      metrics.payoutsCreated.inc({ source: 'INSTANT' }),
    );
    const periodic = new PeriodicPayouts(
      kernel.orm,
      parks,
      ledger,
      payouts.lifecycle,
      payouts.queries,
      rules,
      throttle,
      {
        batchSize: settings.FLEET_PERIODIC_BATCH,
        onCreated: (count) => metrics.payoutsCreated.inc({ source: 'PERIODIC' }, count),
        onRunDone: (seconds) => metrics.periodicRunSeconds.observe(seconds),
      },
      logger.child({ component: 'fleet-periodic' }),
    );
    return { instant, periodic, rules, states: new ParkPayoutStates(), parks };
  },
  resolvers: [FleetPayoutResolver, ParkPayoutFieldsResolver],
  loaders: ({ services, use }) => fleetPayoutLoaders({ states: services.states, rules: services.rules, payouts: use(payoutsModule).queries }),
  tasks: ({ services }) => ({ fleet__periodic_payouts: fleetPeriodicPayouts(services.periodic) }),
  cron: ({ settings }) => [
    {
      pattern: settings.FLEET_PERIODIC_CRON,
      task: 'fleet__periodic_payouts',
      options: { jobKey: 'fleet__periodic_payouts', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'Periodic payouts to parks (FLEET_PERIODIC_CRON): every active park with money and no payout for N days.',
    },
  ],
  scrape: ({ services, metrics }) => async (em) =>
    metrics.instantUsers.set(await services.states.countInstantUsers(em, new Date(Date.now() - INSTANT_USERS_WINDOW_MS))),
});
