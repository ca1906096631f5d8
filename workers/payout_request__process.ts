import type { Task } from 'graphile-worker';
import type { App } from '../src/app';
import { runGate } from './gate';

/** The req-gate: settles NEW payout requests, PAYOUT_REQUEST_LIMIT at a time. */
export default function payoutRequestProcess(app: App): Task {
  const limit = app.settings.PAYOUT_REQUEST_LIMIT;
  return (_payload, helpers) =>
    runGate(helpers, 'payout_request__process', app.settings.PAYOUT_REQ_GATE_INTERVAL, async () => {
      return (await app.payoutRequests.processBatch(limit)) === limit;
    });
}
