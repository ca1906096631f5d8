/** How many at once: items per statement, and statements running at the same time. */
export interface BatchLimits {
  maxBatch: number;
  /** While one statement waits for its commit (the WAL flush), the next gathers and runs. */
  maxInFlight: number;
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
  private inFlight = 0;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>,
    private readonly limits: BatchLimits,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.start());
    });
  }

  private start(): void {
    while (this.pending.length > 0 && this.inFlight < this.limits.maxInFlight) {
      const batch = this.pending.splice(0, this.limits.maxBatch);
      this.inFlight += 1;
      void this.runBatch(batch).finally(() => {
        this.inFlight -= 1;
        this.start();
      });
    }
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
