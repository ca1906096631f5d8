import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../platform/logger';
import type { PayoutService } from '../payouts/payout.service';
import { RateLimiter } from './rate-limiter';

export interface ErpGatewayOptions {
  /** Payouts sent at once (each in its own transaction). */
  concurrency: number;
  /** The most payouts sent per second by this process; 0 means no ceiling. */
  ratePerSecond: number;
}

/**
 * The oebs-gate: hands CREATED payouts of every source to the ERP. Each payout is one
 * transaction — lock it (skipping ones another worker holds), move the reserved money in flight,
 * record the cash-payment fact and the `erp.payouts` message, mark it SENT.
 */
export class ErpGateway {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly orm: MikroORM,
    private readonly payouts: PayoutService,
    private readonly logger: Logger,
    private readonly options: ErpGatewayOptions,
  ) {
    this.limiter = new RateLimiter(options.ratePerSecond);
  }

  /** Sends up to `limit` CREATED payouts, oldest first; returns how many this call sent. */
  async sendBatch(limit: number): Promise<{ taken: number; sent: number }> {
    const candidates = await this.orm.em
      .fork()
      .execute<{ id: string }[]>(`SELECT id FROM payout WHERE status = 'CREATED' ORDER BY created_at, id LIMIT ?`, [limit]);
    let next = 0;
    let sent = 0;
    const lane = async () => {
      while (next < candidates.length) {
        const { id } = candidates[next++]!;
        await this.limiter.take();
        if (await this.sendOne(id)) sent += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, candidates.length) }, lane));
    return { taken: candidates.length, sent };
  }

  private async sendOne(payoutId: string): Promise<boolean> {
    try {
      return await this.orm.em.fork().transactional(async (em) => {
        // null: sent or cancelled meanwhile, or another worker has it
        const change = await this.payouts.sendIfFree(em, payoutId, { actor: 'oebs-gate' });
        return change?.changed ?? false;
      });
    } catch (error) {
      // The money is not where it should be (e.g. the reservation is gone): leave it CREATED, say why.
      this.logger.error({ err: error, payoutId }, 'could not send payout to the ERP');
      return false;
    }
  }
}
