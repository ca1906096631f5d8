import type { Task } from 'graphile-worker';
import { runGate } from '../platform/jobs';
import type { ErpGateway } from './erp-gateway';
import type { ErpSettings } from './settings';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** The oebs-gate: no payload, it drains the queue. */
      payout__send: Record<string, never>;
    }
  }
}

/**
 * The oebs-gate: sends CREATED payouts to the ERP, PAYOUT_SENDER_LIMIT at a time. With a
 * PAYOUT_SEND_RATE ceiling one process drains at a time; a run that finds another sending leaves
 * the next booking to it.
 */
export function payoutSend(gateway: ErpGateway, settings: ErpSettings): Task<'payout__send'> {
  const limit = settings.PAYOUT_SENDER_LIMIT;
  return async (_payload, helpers) => {
    await gateway.exclusively(() =>
      runGate(helpers, 'payout__send', settings.PAYOUT_OEBS_GATE_INTERVAL, async () => {
        const { taken, sent } = await gateway.sendBatch(limit);
        // Go on while full batches make progress; a batch where every send failed waits for the interval.
        return taken === limit && sent > 0;
      }),
    );
  };
}
