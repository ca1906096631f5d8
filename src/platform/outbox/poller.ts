import type { Logger } from '../logger';

/**
 * Keeps the outbox flowing: publishes until it is empty, then looks again every `intervalMs`.
 * Polling, not LISTEN/NOTIFY: a commit that notifies holds a cluster-wide lock through its WAL
 * flush, so with a NOTIFY per outbox write every payout's commit queued behind every other's.
 * An idle look is one index probe; a message waits at most one interval before it leaves.
 */
export class OutboxPoller {
  private running: Promise<void> | null = null;
  private stopped = false;
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly drain: () => Promise<number>,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let published = 0;
      try {
        published = await this.drain();
      } catch (err) {
        this.logger.warn({ err }, 'could not publish the outbox; trying again');
      }
      // Something published: more may have been written meanwhile, so look again at once.
      if (published === 0 && !this.stopped) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.intervalMs);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Finishes the batch in hand (a published batch is deleted before this resolves). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.running;
    this.running = null;
  }
}
