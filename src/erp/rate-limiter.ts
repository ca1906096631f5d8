/**
 * A ceiling on how many things happen per second: `take()` resolves when the next one may go.
 * Spreads them evenly rather than in bursts, so the ERP never sees more than the ceiling.
 */
export class RateLimiter {
  private nextSlot = 0;

  constructor(private readonly perSecond: number) {}

  async take(): Promise<void> {
    if (this.perSecond <= 0) return;
    const now = performance.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + 1000 / this.perSecond;
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }
}
