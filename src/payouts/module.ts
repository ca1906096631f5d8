import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { defineModule } from '../platform/modules';
import { Payout, PayoutStatusChange } from './entities';
import { payoutInvariants } from './invariants';
import { payoutLoaders } from './loaders';
import { PayoutResolver } from './payout.resolver';
import { createPayoutServices } from './services';

/** One payout lifecycle for every source: create (reserve), send, accept, pay, reject, return, cancel. */
export const payoutsModule = defineModule({
  name: 'payouts',
  tables: ['payout', 'payout_status_change', 'cash_payment_fact'],
  requires: [ledgerModule],
  settings: z.object({ TOPIC_PAYOUT_EVENTS: z.string().default('payouts.events') }),
  entities: [Payout, PayoutStatusChange],
  metrics: (registry: Registry) => ({
    payoutsByStatus: new Gauge({
      name: 'payouts_by_status',
      help: 'Payouts in the database by status (read at scrape time)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
  }),
  create: ({ settings, use }) => createPayoutServices(use(ledgerModule), settings.TOPIC_PAYOUT_EVENTS),
  resolvers: [PayoutResolver],
  loaders: ({ services }) => payoutLoaders(services),
  outboundTopics: ({ settings }) => [settings.TOPIC_PAYOUT_EVENTS],
  scrape: ({ services, metrics: { payoutsByStatus } }) => async (em) => {
    const counts = await services.queries.countByStatus(em);
    payoutsByStatus.reset();
    for (const { status, count } of counts) payoutsByStatus.set({ status }, count);
  },
  invariants: ({ use }) => payoutInvariants(use(ledgerModule).ledger),
});
