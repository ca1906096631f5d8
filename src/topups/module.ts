import type { Task } from 'graphile-worker';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { parksModule } from '../parks/module';
import type { ParkService } from '../parks/park.service';
import { setting } from '../platform/config';
import { bookAtStart, rebookEveryMinute } from '../platform/jobs';
import { defineModule } from '../platform/modules';
import { walletsModule } from '../wallets/module';
import { AcceptBatches } from './accept-batches';
import { TransactionExports } from './exports';
import { topupCredit, topupCreditAccepted } from './topup__credit';
import { TopUps } from './topups';
import { TransactionQueries } from './transaction.queries';
import { exportDownload, TransactionResolver } from './transaction.resolver';

export interface TopUpServices {
  topups: TopUps;
  queries: TransactionQueries;
  exports: TransactionExports;
  parks: ParkService;
}

/**
 * Drivers' top-ups through park wallets: the core every payment-system adapter calls (check,
 * accept → the credit gate credits the driver from the system's clearing account), the transaction list and
 * its Excel export.
 */
export const topupsModule = defineModule({
  name: 'topups',
  tables: ['topup_transaction', 'transaction_export', 'transaction_export_chunk'],
  requires: [ledgerModule, parksModule, walletsModule],
  settings: z.object({
    /** How long a finished export can be downloaded. */
    TRANSACTION_EXPORT_TTL: setting.duration.default(24 * 3_600_000),
    /** An ACCEPTED top-up still uncredited this long (the credit gate dead or behind, or its job held by a killed worker) gets a credit job of its own. */
    TOPUP_CREDIT_REBOOK_AFTER: setting.duration.default(2 * 60_000),
    /** How often the credit gate looks for new ACCEPTED top-ups when it found none: about the longest credit lag. */
    TOPUP_CREDIT_INTERVAL: setting.duration.default(1000),
    /** Top-ups the credit gate takes at once. */
    TOPUP_CREDIT_BATCH: setting.positiveInt.default(200),
    /**
     * The largest single top-up any wallet takes, in minor units, whatever its own max (a safety
     * ceiling for the shared clearing accounts). At most 2^53 - 1: Paystack takes the amount as a
     * JSON integer, exact only that far.
     */
    TOPUP_AMOUNT_CEILING: setting.positiveInt.max(Number.MAX_SAFE_INTEGER).default(10_000_000_000),
  }),
  metrics: (registry: Registry) => ({
    transactions: new Counter({
      name: 'payouts_topup_transactions_total',
      help: 'Top-up transactions by the status they reached (ACCEPTED when recorded, then PROCESSED or REJECTED), by payment system',
      labelNames: ['status', 'payment_system'] as const,
      registers: [registry],
    }),
    creditLag: new Histogram({
      name: 'payouts_topup_credit_lag_seconds',
      help: 'From a top-up recorded (ACCEPTED) to the driver credited (PROCESSED), by payment system',
      labelNames: ['payment_system'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    exports: new Counter({
      name: 'payouts_transaction_exports_total',
      help: 'Transaction exports finished, by status (DONE, FAILED)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    exportRows: new Counter({
      name: 'payouts_transaction_export_rows_total',
      help: 'Rows written into finished exports',
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'payouts_topup_transactions_accepted',
      help: 'Top-ups ACCEPTED and not yet credited (read at scrape time; alert when it stays high)',
      registers: [registry],
    }),
  }),
  create: ({ settings, metrics, kernel, logger, use }): TopUpServices => {
    const { ledger } = use(ledgerModule);
    const { parks, drivers } = use(parksModule);
    const queries = new TransactionQueries();
    return {
      topups: new TopUps(drivers, ledger, kernel.jobs, new AcceptBatches(kernel.orm, drivers), BigInt(settings.TOPUP_AMOUNT_CEILING), (status, system, lag) => {
        metrics.transactions.inc({ status, payment_system: system });
        if (lag !== undefined) metrics.creditLag.observe({ payment_system: system }, lag);
      }),
      queries,
      exports: new TransactionExports(kernel.orm, queries, kernel.jobs, settings.TRANSACTION_EXPORT_TTL, logger.child({ component: 'export' }), (status, rows) => {
        metrics.exports.inc({ status });
        metrics.exportRows.inc(rows);
      }),
      parks,
    };
  },
  resolvers: [TransactionResolver],
  routes: ({ services }) => [
    {
      method: 'GET',
      url: '/exports/:id',
      handle: async (request, reply, { principal, em }) => {
        const { fileName, body } = await exportDownload(services.exports, em, principal, (request.params as { id: string }).id);
        return reply
          .header('content-type', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
          .header('content-disposition', `attachment; filename="${fileName}"`)
          .header('cache-control', 'no-store')
          .send(body);
      },
    },
  ],
  tasks: ({ services, kernel, settings, logger }) => ({
    topup__credit: topupCredit(kernel.orm, services.topups),
    topup__credit_accepted: topupCreditAccepted(
      kernel.orm,
      services.topups,
      { batch: settings.TOPUP_CREDIT_BATCH, intervalMs: settings.TOPUP_CREDIT_INTERVAL, heldMs: settings.TOPUP_CREDIT_REBOOK_AFTER },
      logger.child({ component: 'topup-credit' }),
    ),
    topup__rebook_overdue: (async () => {
      await services.topups.rebookOverdue(kernel.orm.em.fork(), Math.ceil(settings.TOPUP_CREDIT_REBOOK_AFTER / 1000));
    }) as Task<'topup__rebook_overdue'>,
    transaction_export__run: (async (payload) => {
      const { exportId } = payload as { exportId?: unknown };
      if (typeof exportId !== 'string') throw new Error('transaction_export__run needs exportId');
      await services.exports.run(exportId);
    }) as Task<'transaction_export__run'>,
    transaction_export__expire: (async () => {
      await services.exports.expire();
    }) as Task<'transaction_export__expire'>,
  }),
  cron: () => [
    rebookEveryMinute('topup__credit_accepted', 'The credit gate books its own next run; this re-books it if a worker died holding it.'),
    {
      pattern: '* * * * *',
      task: 'topup__rebook_overdue',
      options: { jobKey: 'topup__rebook_overdue', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'Books a credit job for top-ups still uncredited after TOPUP_CREDIT_REBOOK_AFTER (the gate dead or behind, or a killed worker holding their job).',
    },
    {
      pattern: '*/10 * * * *',
      task: 'transaction_export__expire',
      options: { jobKey: 'transaction_export__expire', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'Drops the files of exports past TRANSACTION_EXPORT_TTL.',
    },
  ],
  startupJobs: () => [bookAtStart('topup__credit_accepted'), bookAtStart('topup__rebook_overdue')],
  scrape: ({ services, metrics }) => async (em) => metrics.pending.set(await services.topups.countAccepted(em)),
});
