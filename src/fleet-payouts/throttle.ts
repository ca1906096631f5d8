import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';

/**
 * A rate shared by every worker process, kept in one row: the next moment payouts may be made.
 * `take(n)` books the next n/rate seconds and waits until they start. The booking starts no
 * earlier than now, so a run after downtime gets no saved-up credit: it catches up at the rate,
 * never in a burst above it.
 */
export class SharedThrottle {
  constructor(
    private readonly perSecond: number,
    private readonly onWait: (seconds: number) => void = () => {},
  ) {}

  /** Whether there is a rate to keep (0 is none). */
  get limited(): boolean {
    return this.perSecond > 0;
  }

  /** The most a caller should make at once: about a second's worth, so a batch is no burst. */
  batchSize(preferred: number): number {
    return this.perSecond > 0 ? Math.max(1, Math.min(preferred, Math.floor(this.perSecond))) : preferred;
  }

  /** Waits for a slot for `count` payouts; outside any transaction (the row is held for one statement). */
  async take(em: EntityManager, count: number): Promise<void> {
    if (this.perSecond <= 0 || count <= 0) return;
    const [slot] = await queryBound<{ wait_ms: string }>(
      em,
      `WITH booked AS (
         SELECT greatest(next_slot_at, clock_timestamp()) AS start FROM fleet_throttle FOR UPDATE)
       UPDATE fleet_throttle t SET next_slot_at = booked.start + make_interval(secs => ?::float8 / ?::float8)
         FROM booked
       RETURNING (extract(epoch FROM booked.start - clock_timestamp()) * 1000)::text AS wait_ms`,
      [count, this.perSecond],
      { name: 'fleet_throttle_take' },
    );
    const waitMs = Math.max(0, Number(slot!.wait_ms));
    if (waitMs > 0) {
      this.onWait(waitMs / 1000);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
