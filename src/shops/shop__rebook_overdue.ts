import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { Logger } from '../platform/logger';
import type { ShopScheduler } from './shop-scheduler';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** The recovery sweep: no payload. */
      shop__rebook_overdue: Record<string, never>;
    }
  }
}

/**
 * Cron backstop for shop runs whose worker died holding the job (ShopScheduler.rebookOverdue);
 * a worker also runs it once when it starts.
 */
export function shopRebookOverdue(orm: MikroORM, scheduler: ShopScheduler, graceMs: number, logger: Logger): Task<'shop__rebook_overdue'> {
  return async () => {
    const rebooked = await orm.em.fork().transactional((em) => scheduler.rebookOverdue(em, graceMs / 1000));
    if (rebooked > 0) logger.warn({ rebooked }, 'overdue shop runs booked again');
  };
}
