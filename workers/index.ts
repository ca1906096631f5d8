import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { TaskList } from 'graphile-worker';
import type { KernelSettings } from '../src/platform/config';
import { startJobRunner, type StartupJob } from '../src/platform/jobs';
import type { Logger } from '../src/platform/logger';
import type { KernelMetrics } from '../src/platform/metrics';
import { OutboxPoller } from '../src/platform/outbox/poller';
import type { OutboxPublisher } from '../src/platform/outbox/publisher';

/** What the worker role needs of the app: the modules' tasks, crontab and start-up jobs, and the outbox. */
export interface WorkerParts {
  settings: Pick<KernelSettings, 'WORKER_CONCURRENCY' | 'WORKER_LOCAL_QUEUE' | 'OUTBOX_POLL_INTERVAL'>;
  logger: Logger;
  metrics: Pick<KernelMetrics, 'jobDuration'>;
  pgPool: Pool;
  worker: { taskList: TaskList; crontab: string; startupJobs: readonly StartupJob[] };
  producer: Producer | null;
  outbox: Pick<OutboxPublisher, 'drain'>;
}

/**
 * The worker role: graphile-worker running every module's tasks and crontab (the tasks live in
 * their modules, `src/<module>/tasks/`; `workers/crontab` is the crontab they add up to), the
 * start-up jobs booked (each gate's first run), and the outbox published while Kafka is on.
 * Stops in reverse: the outbox poller finishes its batch, then the runner its jobs.
 */
export async function startWorker(app: WorkerParts): Promise<{ stop(): Promise<void> }> {
  const runner = await startJobRunner({
    pgPool: app.pgPool,
    taskList: app.worker.taskList,
    crontab: app.worker.crontab,
    concurrency: app.settings.WORKER_CONCURRENCY,
    localQueue: app.settings.WORKER_LOCAL_QUEUE,
    logger: app.logger,
    metrics: app.metrics,
  });
  // Without Kafka nothing can be published: the outbox waits, and polling it is waste.
  const poller = app.producer ? new OutboxPoller(() => app.outbox.drain(), app.logger.child({ component: 'outbox' }), app.settings.OUTBOX_POLL_INTERVAL) : null;
  poller?.start();
  try {
    for (const job of app.worker.startupJobs) await runner.addJob(job.task, {}, { jobKey: job.jobKey, jobKeyMode: 'replace' });
  } catch (error) {
    await poller?.stop();
    await runner.stop();
    throw error;
  }
  return {
    async stop() {
      await poller?.stop();
      await runner.stop();
    },
  };
}
