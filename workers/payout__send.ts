import type { Task } from 'graphile-worker';
import type { App } from '../src/app';
import { runGate } from './gate';

/**
 * The oebs-gate: sends CREATED payouts to the ERP, PAYOUT_SENDER_LIMIT at a time. With a
 * PAYOUT_SEND_RATE ceiling one process drains at a time; a run that finds another sending leaves
 * the next booking to it.
 */
export default function payoutSend(app: App): Task {
  const limit = app.settings.PAYOUT_SENDER_LIMIT;
  return async (_payload, helpers) => {
    await app.erpGateway.exclusively(() =>
      runGate(helpers, 'payout__send', app.settings.PAYOUT_OEBS_GATE_INTERVAL, async () => {
        const { taken, sent } = await app.erpGateway.sendBatch(limit);
        // Go on while full batches make progress; a batch where every send failed waits for the interval.
        return taken === limit && sent > 0;
      }),
    );
  };
}
