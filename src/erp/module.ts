import { payoutsModule } from '../payouts/module';
import { bookAtStart, rebookEveryMinute } from '../platform/jobs';
import { defineModule } from '../platform/modules';
import { ErpGateway } from './erp-gateway';
import { erpPayoutMessage } from './erp-messages';
import { ARD_STATUSES, OEBS_STATUSES, erpStatusHandler } from './erp-status.inbound';
import { erpSettings } from './settings';
import { payoutSend } from './payout__send';

export interface ErpServices {
  gateway: ErpGateway;
}

/**
 * The ERP (OEBS) gateway: sends CREATED payouts of every source (`erp.payouts`, each with its
 * cash-payment fact) and applies what the ERP says back (`erp.payout-status.ard` / `.oebs`).
 */
export const erpModule = defineModule({
  name: 'erp',
  requires: [payoutsModule],
  settings: erpSettings,
  create: ({ settings, kernel, logger, use }): ErpServices => {
    const payouts = use(payoutsModule);
    payouts.steps.onSent((sent, factId) => ({ topic: settings.TOPIC_ERP_PAYOUTS, key: sent.id, value: erpPayoutMessage(sent, factId) }));
    const gateway = new ErpGateway(kernel.orm, kernel.pgPool, payouts.sender, logger.child({ component: 'oebs-gate' }), {
      concurrency: settings.PAYOUT_SENDER_CONCURRENCY,
      ratePerSecond: settings.PAYOUT_SEND_RATE,
    });
    return { gateway };
  },
  inbound: ({ settings, use }) => [
    erpStatusHandler(settings.TOPIC_ERP_STATUS_ARD, ARD_STATUSES, use(payoutsModule).lifecycle),
    erpStatusHandler(settings.TOPIC_ERP_STATUS_OEBS, OEBS_STATUSES, use(payoutsModule).lifecycle),
  ],
  outboundTopics: ({ settings }) => [settings.TOPIC_ERP_PAYOUTS],
  tasks: ({ services, settings }) => ({ payout__send: payoutSend(services.gateway, settings) }),
  cron: () => [rebookEveryMinute('payout__send', 'The oebs-gate books its own next run; this re-books it if a worker died holding it.')],
  startupJobs: () => [bookAtStart('payout__send')],
});
