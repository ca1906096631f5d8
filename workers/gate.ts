import type { JobHelpers } from 'graphile-worker';

/** Gates draining in this process: a second run of the same gate here would only compete with it. */
const draining = new Set<string>();

/**
 * A gate drains its queue in batches, then books its own next run `intervalMs` later under its
 * job key — one pending run at a time, however many workers. It stops between batches when the
 * worker shuts down; the crontab re-books a run every minute in case a worker died holding it.
 * A run that finds the same gate already draining in this process leaves the booking to it.
 */
export async function runGate(
  helpers: JobHelpers,
  task: string,
  intervalMs: number,
  batch: () => Promise<boolean>,
): Promise<void> {
  if (draining.has(task)) return;
  draining.add(task);
  try {
    while (!helpers.abortSignal?.aborted && (await batch())) {
      // a full batch: there may be more
    }
  } finally {
    draining.delete(task);
  }
  await helpers.addJob(task, {}, { jobKey: task, jobKeyMode: 'replace', runAt: new Date(Date.now() + intervalMs) });
}
