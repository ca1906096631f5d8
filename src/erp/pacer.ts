/**
 * A ceiling on how many things happen per second: `take(n)` resolves when the next n may go.
 * Spreads them evenly rather than in bursts (n at a time at most), so the ERP never sees more
 * than the ceiling.
 */
export class Pacer {
  private nextSlot = 0;

  constructor(private readonly perSecond: number) {}

  async take(count = 1): Promise<void> {
    if (this.perSecond <= 0) return;
    const now = performance.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + (count * 1000) / this.perSecond;
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }
}
