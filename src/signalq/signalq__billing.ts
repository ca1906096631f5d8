import type { Task } from 'graphile-worker';
import type { SignalqBilling } from './billing';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** The camera billing run over every park (crontab: SIGNALQ_BILLING_CRON). */
      signalq__billing: Record<string, never>;
    }
  }
}

/** Records the ended periods and pays the open lines; a run cut short is finished by the next one. */
export function signalqBillingTask(billing: SignalqBilling): Task<'signalq__billing'> {
  return async () => {
    await billing.run();
  };
}
