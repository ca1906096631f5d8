import type { Task } from 'graphile-worker';
import type { PeriodicPayouts } from './periodic-payouts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** The periodic payout run over every active park (crontab: FLEET_PERIODIC_CRON). */
      fleet__periodic_payouts: Record<string, never>;
    }
  }
}

/** Pays every park that is due; a run cut short (a crash, a deploy) is finished by the next one. */
export function fleetPeriodicPayouts(periodic: PeriodicPayouts): Task<'fleet__periodic_payouts'> {
  return async () => {
    await periodic.run();
  };
}
