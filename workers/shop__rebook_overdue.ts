import type { Task } from 'graphile-worker';
import type { App } from '../src/app';

/**
 * Cron backstop for shop runs whose worker died holding the job (ShopScheduler.rebookOverdue);
 * a worker also runs it once when it starts.
 */
export default function shopRebookOverdue(app: App): Task {
  return () => rebookOverdueShopRuns(app);
}

export async function rebookOverdueShopRuns(app: App): Promise<void> {
  const graceSeconds = app.settings.SHOP_RUN_REBOOK_AFTER / 1000;
  const rebooked = await app.orm.em.fork().transactional((em) => app.shopScheduler.rebookOverdue(em, graceSeconds));
  if (rebooked > 0) app.logger.warn({ rebooked }, 'overdue shop runs booked again');
}
