import type { MikroORM } from '@mikro-orm/postgresql';
import type { JobQueue, KeyedJob, TaskName } from './jobs';
import type { Logger } from './logger';

/**
 * Books keyed jobs just after the commit of the rows they work on, many in one statement.
 *
 * graphile-worker's `add_job` NOTIFYs the workers, and PostgreSQL lets only one transaction that
 * NOTIFYs commit at a time (a database-wide lock held through its WAL flush): a hot path booking
 * one job in each of its transactions commits one at a time (measured on this machine: 32 callers
 * inserting a row each, 2,807/s; with a NOTIFY in each, 490/s). Here, each statement books every job
 * that arrived while the previous one ran.
 *
 * Only for work whose row is already durable and that a sweep finds again: a process that dies
 * between the commit and the booking loses the booking, not the work (the caller's sweep books it).
 */
export class JobsAfterCommit {
  private pending: { task: TaskName; job: KeyedJob<any> }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly orm: MikroORM,
    private readonly jobs: JobQueue,
    private readonly logger: Logger,
  ) {}

  /** Books the job soon (within one statement's time of now). Never throws; never waits. */
  book<T extends TaskName>(task: T, job: KeyedJob<T>): void {
    this.pending.push({ task, job });
    this.flushing ??= this.drain();
  }

  /** Waits until everything booked so far is in the queue (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      // Let the callers of this tick book first: the statement then carries all of them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const byTask = new Map<TaskName, KeyedJob<any>[]>();
        for (const { task, job } of batch) {
          const jobs = byTask.get(task) ?? [];
          jobs.push(job);
          byTask.set(task, jobs);
        }
        for (const [task, jobs] of byTask) {
          try {
            await this.jobs.addKeyed(this.orm.em.fork(), task, jobs);
          } catch (error) {
            // The rows are committed: their owner's sweep books them again later.
            this.logger.warn({ err: error, task, jobs: jobs.length }, 'jobs after commit were not booked; the sweep will book them');
          }
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
