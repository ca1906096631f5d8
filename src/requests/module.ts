import { ledgerModule } from '../ledger/module';
import { payoutsModule } from '../payouts/module';
import { bookAtStart, rebookEveryMinute } from '../platform/jobs';
import { defineModule } from '../platform/modules';
import { PayoutRequestResolver } from './payout-request.resolver';
import { PayoutRequestService } from './payout-request.service';
import { requestSettings } from './settings';
import { payoutRequestProcess } from './payout_request__process';

export interface RequestServices {
  requests: PayoutRequestService;
}

/** Payout requests: recorded at once by the API, settled by the req-gate (one payout per positive balance). */
export const requestsModule = defineModule({
  name: 'requests',
  tables: ['payout_request'],
  requires: [ledgerModule, payoutsModule],
  settings: requestSettings,
  create: ({ kernel, logger, use }): RequestServices => ({
    requests: new PayoutRequestService(kernel.orm, use(ledgerModule).ledger, use(payoutsModule).lifecycle, logger.child({ component: 'req-gate' })),
  }),
  resolvers: [PayoutRequestResolver],
  tasks: ({ services, settings }) => ({ payout_request__process: payoutRequestProcess(services.requests, settings) }),
  cron: () => [rebookEveryMinute('payout_request__process', 'The req-gate books its own next run; this re-books it if a worker died holding it.')],
  startupJobs: () => [bookAtStart('payout_request__process')],
});
