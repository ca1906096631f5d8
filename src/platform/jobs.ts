import { EventEmitter } from 'node:events';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Logger as WorkerLogger, run, runMigrations, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Pool } from 'pg';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

export interface EnqueueOptions {
  runAt?: Date;
  /** One pending job per key: enqueuing again replaces (or with `preserve_run_at`, keeps the time of) it. */
  jobKey?: string;
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe';
  maxAttempts?: number;
  queueName?: string;
}

/**
 * Enqueues a job in the caller's ORM transaction: it exists only if that transaction commits.
 * (graphile-worker's JS `addJob` would use its own connection, outside the transaction.)
 */
export async function enqueueJob(
  em: EntityManager,
  task: string,
  payload: unknown,
  options: EnqueueOptions = {},
): Promise<void> {
  await em.execute(
    `SELECT graphile_worker.add_job(identifier => ?, payload => ?::json, run_at => ?::timestamptz,
       job_key => ?, job_key_mode => ?, max_attempts => ?, queue_name => ?)`,
    [
      task,
      JSON.stringify(payload ?? {}),
      options.runAt ?? null,
      options.jobKey ?? null,
      options.jobKeyMode ?? null,
      options.maxAttempts ?? null,
      options.queueName ?? null,
    ],
  );
}

export function workerLogger(logger: Logger): WorkerLogger {
  const log = logger.child({ component: 'jobs' });
  return new WorkerLogger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...meta };
    if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else log.debug(fields, message); // graphile-worker logs every completed job at info
  });
}

export async function migrateJobs(pgPool: Pool, logger: Logger): Promise<void> {
  await runMigrations({ pgPool, logger: workerLogger(logger) });
}

export interface JobRunnerOptions {
  pgPool: Pool;
  taskList: TaskList;
  crontab: string;
  concurrency: number;
  /** Jobs fetched at once for local hand-out; 0: none. */
  localQueue: number;
  logger: Logger;
  metrics: Metrics;
}

/** Starts graphile-worker; job durations go to the metrics by task and result. */
export async function startJobRunner(options: JobRunnerOptions): Promise<Runner> {
  const events: WorkerEvents = new EventEmitter();
  const started = new Map<string, number>();
  events.on('job:start', ({ job }) => started.set(job.id, performance.now()));
  const finish = (result: string) => ({ job }: { job: { id: string; task_identifier: string } }) => {
    const begin = started.get(job.id);
    started.delete(job.id);
    if (begin !== undefined) {
      options.metrics.jobDuration.observe({ task: job.task_identifier, result }, (performance.now() - begin) / 1000);
    }
  };
  events.on('job:success', finish('success'));
  events.on('job:error', finish('error'));
  return run({
    pgPool: options.pgPool,
    taskList: options.taskList,
    crontab: options.crontab,
    concurrency: options.concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: workerLogger(options.logger),
    events,
    // With a local queue, jobs are fetched a batch at a time and completed together: a burst of
    // small jobs (a schedule's shops firing at once) costs a few queries per batch, not two per
    // job. Jobs held by a worker that is killed stay locked; shop runs are re-booked when overdue.
    preset: options.localQueue > 0 ? { worker: { localQueue: { size: options.localQueue, ttl: 60_000 }, completeJobBatchDelay: 0 } } : {},
  });
}
