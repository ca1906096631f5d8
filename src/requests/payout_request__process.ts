import type { Task } from 'graphile-worker';
import { runGate } from '../platform/jobs';
import type { PayoutRequestService } from './payout-request.service';
import type { RequestSettings } from './settings';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** The req-gate: no payload, it drains the NEW requests. */
      payout_request__process: Record<string, never>;
    }
  }
}

/** The req-gate: settles NEW payout requests, PAYOUT_REQUEST_LIMIT at a time. */
export function payoutRequestProcess(requests: PayoutRequestService, settings: RequestSettings): Task<'payout_request__process'> {
  const limit = settings.PAYOUT_REQUEST_LIMIT;
  return (_payload, helpers) =>
    runGate(helpers, 'payout_request__process', settings.PAYOUT_REQ_GATE_INTERVAL, async () => {
      return (await requests.processBatch(limit)) === limit;
    });
}
