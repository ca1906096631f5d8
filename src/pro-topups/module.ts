import { Counter, Histogram, type Registry } from 'prom-client';
import { defineModule } from '../platform/modules';
import { JsonHttpClient } from '../platform/http-client';
import { topupsModule } from '../topups/module';
import { walletsModule } from '../wallets/module';
import { PaystackApi } from './paystack-api';
import { ProTopUps } from './pro-topups';
import { QiwiBills } from './qiwi-bills';
import { proTopUpSettings } from './settings';
import { TopUpResolver } from './topup.resolver';
import { topupRequestPoll } from './topup_request__poll';

/**
 * Top-ups a driver starts in the Pro app (`createTopUp`): a QIWI bill, polled until it is paid or
 * its time is up, or a Paystack transaction, credited by its webhook (the PAYSTACK adapter) and
 * verified when its time is up. Both go through the top-up core.
 */
export const proTopUpsModule = defineModule({
  name: 'pro-topups',
  requires: [topupsModule, walletsModule],
  settings: proTopUpSettings,
  metrics: (registry: Registry) => ({
    requests: new Counter({
      name: 'payouts_topup_requests_total',
      help: 'createTopUp calls that asked a payment system, by system and outcome (opened, refused, unavailable)',
      labelNames: ['payment_system', 'outcome'] as const,
      registers: [registry],
    }),
    polls: new Counter({
      name: 'payouts_topup_polls_total',
      help: 'Top-ups awaiting payment asked about, by system and outcome (waiting, paid, mismatch, rejected, expired, closed: its wallet deleted, opened-meanwhile: opened while being closed, asked again, repeat, error)',
      labelNames: ['payment_system', 'outcome'] as const,
      registers: [registry],
    }),
    creditLag: new Histogram({
      name: 'payouts_topup_request_credit_lag_seconds',
      help: 'From a top-up’s payment (as the payment system dates it) to its credit being booked, by system',
      labelNames: ['payment_system'] as const,
      buckets: [1, 5, 15, 30, 60, 300, 900, 3600, 86_400],
      registers: [registry],
    }),
  }),
  create: ({ settings, metrics, kernel, logger, use }) => {
    const http = new JsonHttpClient({
      timeoutMs: settings.PAYMENT_API_TIMEOUT,
      attempts: settings.PAYMENT_API_ATTEMPTS,
      backoffMs: settings.PAYMENT_API_BACKOFF,
      logger: logger.child({ component: 'payment-api' }),
    });
    const { wallets } = use(walletsModule);
    const proTopUps = new ProTopUps(
      kernel.orm,
      use(topupsModule).topups,
      kernel.jobs,
      wallets,
      { QIWI: new QiwiBills(http, settings.QIWI_API_URL), PAYSTACK: new PaystackApi(http, settings.PAYSTACK_API_URL, settings.PAYSTACK_EMAIL_DOMAIN) },
      {
        ttlMs: { QIWI: settings.QIWI_BILL_TTL, PAYSTACK: settings.PAYSTACK_TOPUP_TTL },
        pollEveryMs: { QIWI: settings.QIWI_POLL_INTERVAL, PAYSTACK: null },
      },
      {
        opened: (system, outcome) => metrics.requests.inc({ payment_system: system, outcome }),
        polled: (system, outcome) => metrics.polls.inc({ payment_system: system, outcome }),
        creditLag: (system, seconds) => metrics.creditLag.observe({ payment_system: system }, seconds),
      },
      logger,
    );
    wallets.keepKeyFor(proTopUps);
    return { proTopUps };
  },
  resolvers: [TopUpResolver],
  tasks: ({ services }) => ({ topup_request__poll: topupRequestPoll(services.proTopUps) }),
});
