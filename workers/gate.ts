import type { JobHelpers } from 'graphile-worker';

/**
 * A gate drains its queue in batches, then books its own next run `intervalMs` later under its
 * job key — one pending run at a time, however many workers. It stops between batches when the
 * worker shuts down; the crontab re-books a run every minute in case a worker died holding it.
 */
export async function runGate(
  helpers: JobHelpers,
  task: string,
  intervalMs: number,
  batch: () => Promise<boolean>,
): Promise<void> {
  while (!helpers.abortSignal?.aborted && (await batch())) {
    // a full batch: there may be more
  }
  await helpers.addJob(task, {}, { jobKey: task, jobKeyMode: 'replace', runAt: new Date(Date.now() + intervalMs) });
}
