/** How many at once: items per statement, and statements running at the same time. */
export interface BatchLimits {
  maxBatch: number;
  /** While one statement waits for its commit (the WAL flush), the next gathers and runs. */
  maxInFlight: number;
  /**
   * With it, a statement starts beside others only once the newest of them has run this long (a
   * stall: a lock wait, a slow disk); until then the callers wait and go together, in one bigger
   * statement. For inserts into the same tables, where statements side by side contend for the
   * same index pages and WAL locks, and each pays its own commit.
   */
  overlapAfterMs?: number;
  /**
   * Callers that may wait for a statement at once; past it a caller is refused at once
   * (`BatchesFullError`) rather than queued without end behind statements that stall.
   */
  maxWaiting?: number;
}

/** Too many callers already wait for a statement (see `BatchLimits.maxWaiting`): try again later. */
export class BatchesFullError extends Error {
  constructor(waiting: number) {
    super(`${waiting} callers already wait for a statement`);
    this.name = 'BatchesFullError';
  }
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the callers who arrive while statements run into the next statement: under load many
 * share one statement and one commit; alone, a caller runs at once (after the current tick, so the
 * callers of one tick go together). `run` answers each item of a batch, in order, fulfilled or
 * rejected; if it throws, every item of the batch is rejected with that error.
 */
export class StatementBatches<I, O> {
  private pending: Waiting<I, O>[] = [];
  /** When each running statement started, oldest first. */
  private readonly running: number[] = [];
  /** Set while the callers wait for `overlapAfterMs` to pass. */
  private overlapTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>,
    private readonly limits: BatchLimits,
  ) {}

  submit(item: I): Promise<O> {
    if (this.limits.maxWaiting !== undefined && this.pending.length >= this.limits.maxWaiting) return Promise.reject(new BatchesFullError(this.pending.length));
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.start());
    });
  }

  private start(): void {
    while (this.pending.length > 0 && this.running.length < this.limits.maxInFlight) {
      const waitMs = this.overlapWaitMs();
      if (waitMs > 0) {
        this.overlapTimer ??= setTimeout(() => {
          this.overlapTimer = undefined;
          this.start();
        }, waitMs);
        return;
      }
      // A statement starts now: a wait set for an earlier one is over (a new one is set if still due).
      clearTimeout(this.overlapTimer);
      this.overlapTimer = undefined;
      const batch = this.pending.splice(0, this.limits.maxBatch);
      const startedAt = performance.now();
      this.running.push(startedAt);
      void this.runBatch(batch).finally(() => {
        this.running.splice(this.running.indexOf(startedAt), 1);
        this.start();
      });
    }
  }

  /** How long until the next statement may start beside the running ones (0: now). */
  private overlapWaitMs(): number {
    const newest = this.running.at(-1);
    if (newest === undefined || this.limits.overlapAfterMs === undefined) return 0;
    return Math.max(0, newest + this.limits.overlapAfterMs - performance.now());
  }

  private async runBatch(batch: readonly Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((waiting) => waiting.item));
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} got ${results.length} answers`);
      batch.forEach((waiting, i) => {
        const result = results[i]!;
        if (result.status === 'fulfilled') waiting.resolve(result.value);
        else waiting.reject(result.reason);
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
}

export const fulfilled = <O>(value: O): PromiseFulfilledResult<O> => ({ status: 'fulfilled', value });

/** The promise's outcome as `Promise.allSettled` gives it, for a `run` that answers items one by one. */
export const settled = <O>(promise: Promise<O>): Promise<PromiseSettledResult<O>> =>
  promise.then(fulfilled, (reason: unknown) => ({ status: 'rejected', reason }));
