import { EventEmitter } from 'node:events';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Logger as WorkerLogger, run, runMigrations, type JobHelpers, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Pool } from 'pg';
import { queryBound } from './bound-query';
import type { Logger } from './logger';
import type { KernelMetrics } from './metrics';
import { textArray } from './sql-arrays';

/**
 * Task names and their payloads. Each module declares its own tasks by merging into
 * graphile-worker's `GraphileWorker.Tasks` interface, so enqueuing a task with the wrong payload
 * fails to compile (a payload read back from the database is still validated by the task).
 */
export type TaskName = keyof GraphileWorker.Tasks & string;
export type TaskPayload<T extends TaskName> = GraphileWorker.Tasks[T];

export interface EnqueueOptions {
  runAt?: Date;
  /** One pending job per key: enqueuing again replaces (or with `preserve_run_at`, keeps the time of) it. */
  jobKey?: string;
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe';
  maxAttempts?: number;
  queueName?: string;
}

/** One job of a set booked at once, under its own key (the key replaces a pending job). */
export interface KeyedJob<T extends TaskName> {
  payload: TaskPayload<T>;
  runAt: Date;
  jobKey: string;
  /** graphile-worker's default (25) when not given. */
  maxAttempts?: number;
}

/** A crontab line: `pattern` as in cron, `options` as graphile-worker's `?jobKey=…&max=…`. */
export interface CronItem {
  pattern: string;
  task: TaskName;
  options?: { jobKey?: string; jobKeyMode?: 'replace' | 'preserve_run_at'; max?: number };
  /** Says why the line is there, in the crontab view. */
  comment?: string;
}

/** A job booked when a worker starts, under its own key (e.g. a gate's first run). */
export interface StartupJob {
  task: TaskName;
  jobKey: string;
}

/**
 * For a task that books its own next run under its name (a gate, a sweep): the crontab line that
 * books it again every minute in case a worker died holding it, without moving a booked run.
 */
export function rebookEveryMinute(task: TaskName, comment: string): CronItem {
  return { pattern: '* * * * *', task, options: { jobKey: task, jobKeyMode: 'preserve_run_at', max: 1 }, comment };
}

/** Its first run, booked under its name when a worker starts. */
export function bookAtStart(task: TaskName): StartupJob {
  return { task, jobKey: task };
}

/**
 * The job queue (graphile-worker, in the same PostgreSQL): the only code that touches the
 * `graphile_worker` schema. Every method that takes an EntityManager works in the caller's
 * transaction, so a job exists only if the change that made it necessary commits.
 * (graphile-worker's JS `addJob` would use its own connection, outside the transaction.)
 */
export class JobQueue {
  async add<T extends TaskName>(em: EntityManager, task: T, payload: TaskPayload<T>, options: EnqueueOptions = {}): Promise<void> {
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

  /**
   * Runs the caller's statement (on its own table, with RETURNING) and, in the same round trip,
   * books the job under its key if the statement touched a row — or, with `job: null`, removes
   * the key's pending job. For a hot path where a row and its job change together. Returns how
   * many rows the statement touched.
   */
  async afterStatement<T extends TaskName>(
    em: EntityManager,
    statement: { sql: string; params: readonly unknown[] },
    task: T,
    jobKey: string,
    job: { payload: TaskPayload<T>; runAt: Date } | null,
  ): Promise<number> {
    const booking = job
      ? `graphile_worker.add_job(identifier => ?, payload => ?::json, run_at => ?::timestamptz, job_key => ?, job_key_mode => 'replace')`
      : `graphile_worker.remove_job(?)`;
    const [row] = await em.execute<{ n: string }[]>(`WITH changed AS (${statement.sql}) SELECT count(${booking}) AS n FROM changed`, [
      ...statement.params,
      ...(job ? [task, JSON.stringify(job.payload ?? {}), job.runAt, jobKey] : [jobKey]),
    ]);
    return Number(row!.n);
  }

  /**
   * As `afterStatement`, returning the rows the statement returned (RETURNING): the row and its
   * job in one round trip, and one autocommit transaction when `em` is in none. A `name` prepares
   * it once per connection (for a hot path).
   */
  async afterStatementReturning<R, T extends TaskName>(
    em: EntityManager,
    statement: { sql: string; params: readonly unknown[] },
    task: T,
    jobKey: string,
    job: { payload: TaskPayload<T>; runAt: Date; maxAttempts?: number },
    options: { name?: string } = {},
  ): Promise<R[]> {
    return queryBound<R>(
      em,
      `WITH changed AS (${statement.sql}),
            booked AS (SELECT graphile_worker.add_job(identifier => ?, payload => ?::json, run_at => ?::timestamptz, job_key => ?, job_key_mode => 'replace',
                                                      max_attempts => ?::int)
                         FROM changed)
       SELECT changed.* FROM changed WHERE (SELECT count(*) FROM booked) >= 0`,
      [...statement.params, task, JSON.stringify(job.payload ?? {}), job.runAt, jobKey, job.maxAttempts ?? null],
      options,
    );
  }

  /**
   * Books many jobs of one task in one statement, each replacing the pending job of its key (a job
   * already running under the key is left to finish, and the new one is booked beside it). Of several jobs with one
   * key, the last counts. Set-based: graphile-worker's `add_jobs` books the lot in one insert with
   * one NOTIFY, where `add_job` runs once per job.
   */
  async addKeyed<T extends TaskName>(em: EntityManager, task: T, jobs: readonly KeyedJob<T>[]): Promise<void> {
    // `add_jobs` updates a key's row once per statement: one job per key, the last.
    const byKey = [...new Map(jobs.map((job) => [job.jobKey, job])).values()];
    if (byKey.length === 0) return;
    await queryBound(
      em,
      `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
         SELECT ROW(?, j.payload::json, NULL, j.run_at, j.max_attempts, j.job_key, NULL, NULL)::graphile_worker.job_spec
           FROM unnest(?::text[], ?::timestamptz[], ?::text[], ?::smallint[]) AS j(payload, run_at, job_key, max_attempts)))`,
      [
        task,
        textArray(byKey.map((job) => JSON.stringify(job.payload ?? {}))),
        textArray(byKey.map((job) => job.runAt.toISOString())),
        textArray(byKey.map((job) => job.jobKey)),
        `{${byKey.map((job) => job.maxAttempts ?? 'NULL').join(',')}}`,
      ],
    );
  }

  /** Removes the pending jobs of these keys (a job running now finishes). */
  async remove(em: EntityManager, jobKeys: readonly string[]): Promise<void> {
    if (jobKeys.length === 0) return;
    await queryBound(em, 'SELECT count(graphile_worker.remove_job(k)) FROM unnest(?::text[]) AS k', [textArray(jobKeys)]);
  }

  /**
   * Of these keys, those with no job that could still run: none at all, one that used up its
   * attempts (graphile-worker keeps a job that failed for good, unlocked), or one a worker has held
   * longer than `heldSeconds` (a worker killed mid-job keeps its lock for hours).
   */
  async keysWithoutLiveJob(em: EntityManager, jobKeys: readonly string[], heldSeconds: number): Promise<string[]> {
    if (jobKeys.length === 0) return [];
    const rows = await queryBound<{ key: string }>(em, `SELECT k.key FROM unnest(?::text[]) AS k(key) WHERE ${this.noLiveJobSql('k.key')}`, [
      textArray(jobKeys),
      heldSeconds,
    ]);
    return rows.map((row) => row.key);
  }

  /**
   * `keysWithoutLiveJob` as a condition for the caller's own query: true when the job key that the
   * SQL expression `keySql` makes has no job that could still run. It takes one parameter, the
   * seconds after which a held job counts as dead.
   */
  noLiveJobSql(keySql: string): string {
    // Alive: waiting with attempts left, or held (running, even its last attempt) for less than the grace.
    return `NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.key = ${keySql}
              AND ((j.locked_at IS NULL AND j.attempts < j.max_attempts) OR j.locked_at > now() - make_interval(secs => ?)))`;
  }
}

/** Gates draining in this process: a second run of the same gate here would only compete with it. */
const draining = new Set<string>();

/**
 * A gate drains its queue in batches, then books its own next run `intervalMs` later under its
 * job key — one pending run at a time, however many workers. It stops between batches when the
 * worker shuts down; a crontab line re-books a run every minute in case a worker died holding it.
 * A run that finds the same gate already draining in this process leaves the booking to it.
 */
export async function runGate(helpers: JobHelpers, task: TaskName, intervalMs: number, batch: () => Promise<boolean>): Promise<void> {
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

/** The crontab graphile-worker runs, from the modules' lines. */
export function renderCrontab(items: readonly CronItem[]): string {
  const lines = ['# graphile-worker crontab: minute hour day-of-month month day-of-week task ?options'];
  for (const item of items) {
    if (item.comment) lines.push(`# ${item.comment}`);
    const options = new URLSearchParams();
    if (item.options?.jobKey) options.set('jobKey', item.options.jobKey);
    if (item.options?.jobKeyMode) options.set('jobKeyMode', item.options.jobKeyMode);
    if (item.options?.max !== undefined) options.set('max', String(item.options.max));
    const query = options.size > 0 ? ` ?${options.toString()}` : '';
    lines.push(`${item.pattern} ${item.task}${query}`);
  }
  return `${lines.join('\n')}\n`;
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
  metrics: Pick<KernelMetrics, 'jobDuration'>;
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
