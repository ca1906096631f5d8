import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ledgerModule } from '../ledger/module';
import { parksModule } from '../parks/module';
import { payoutsModule } from '../payouts/module';
import { defineModule } from '../platform/modules';
import { SignalqBilling } from './billing';
import { SignalqConfigs } from './config';
import { DeviceStatusHistory } from './device-status';
import { deviceStatusHandler } from './device-status.inbound';
import { signalqLoaders } from './loaders';
import { SignalqPayments } from './payments';
import { signalqSettings } from './settings';
import { signalqBillingTask } from './signalq__billing';
import { ParkSignalqFieldsResolver, SignalqPaymentFieldsResolver, SignalqResolver } from './signalq.resolver';

export interface SignalqServices {
  history: DeviceStatusHistory;
  configs: SignalqConfigs;
  billing: SignalqBilling;
  payments: SignalqPayments;
}

/** Camera billing: the cameras' status history, per-park configs, and the periodic run that pays parks for the cameras they host. */
export const signalqModule = defineModule({
  name: 'signalq',
  tables: ['signalq_device_status', 'signalq_device', 'signalq_config_version', 'signalq_period', 'signalq_payment'],
  requires: [ledgerModule, payoutsModule, parksModule],
  settings: signalqSettings,
  metrics: (registry: Registry) => ({
    linesRecorded: new Counter({ name: 'payouts_signalq_lines_recorded_total', help: 'Camera payment lines recorded', registers: [registry] }),
    payoutsCreated: new Counter({ name: 'payouts_signalq_payouts_created_total', help: 'SIGNALQ payouts created for payment lines', registers: [registry] }),
    moneyPaid: new Counter({
      name: 'payouts_signalq_paid_minor_total',
      help: 'Money paid to parks for cameras, in minor units, by currency',
      labelNames: ['currency'] as const,
      registers: [registry],
    }),
    activityReadSeconds: new Histogram({
      name: 'payouts_signalq_activity_read_seconds',
      help: 'Time to read the status history and record the lines of one batch of park periods',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
      registers: [registry],
    }),
    runSeconds: new Histogram({
      name: 'payouts_signalq_run_seconds',
      help: 'Duration of camera billing runs',
      buckets: [0.1, 1, 5, 15, 60, 300, 900, 3600],
      registers: [registry],
    }),
    openLines: new Gauge({
      name: 'payouts_signalq_open_lines',
      help: 'Payment lines not CREATED, by state: in_progress, failing (with an error), manual (failing for a day) (read at scrape time)',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
  }),
  create: ({ settings, metrics, kernel, logger, use }): SignalqServices => {
    const { ledger } = use(ledgerModule);
    const payouts = use(payoutsModule);
    const billing = new SignalqBilling(
      kernel.orm,
      kernel.pgPool,
      ledger,
      payouts.lifecycle,
      { periodBatch: settings.SIGNALQ_PERIOD_BATCH, parkBatch: settings.SIGNALQ_PAY_BATCH },
      {
        onActivityRead: (seconds) => metrics.activityReadSeconds.observe(seconds),
        onLinesRecorded: (count) => metrics.linesRecorded.inc(count),
        onPaid: (count, totals) => {
          metrics.payoutsCreated.inc(count);
          for (const [currency, minor] of totals) metrics.moneyPaid.inc({ currency }, Number(minor));
        },
        onRunDone: (seconds) => metrics.runSeconds.observe(seconds),
      },
      logger.child({ component: 'signalq-billing' }),
    );
    return { history: new DeviceStatusHistory(kernel.pgPool), configs: new SignalqConfigs(), billing, payments: new SignalqPayments() };
  },
  resolvers: [SignalqResolver, SignalqPaymentFieldsResolver, ParkSignalqFieldsResolver],
  loaders: ({ services }) => signalqLoaders(services.configs),
  inbound: ({ services, settings }) => [deviceStatusHandler(settings.TOPIC_SIGNALQ_DEVICE_STATUS, services.history)],
  tasks: ({ services }) => ({ signalq__billing: signalqBillingTask(services.billing) }),
  cron: ({ settings }) => [
    {
      pattern: settings.SIGNALQ_BILLING_CRON,
      task: 'signalq__billing',
      options: { jobKey: 'signalq__billing', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'Camera billing (SIGNALQ_BILLING_CRON): records ended periods, pays open lines, retries failed ones.',
    },
  ],
  scrape: ({ services, metrics }) => async (em) => {
    const open = await services.payments.openCounts(em);
    metrics.openLines.set({ state: 'in_progress' }, open.inProgress);
    metrics.openLines.set({ state: 'failing' }, open.failing);
    metrics.openLines.set({ state: 'manual' }, open.manual);
  },
});
