import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Logger } from '../platform/logger';
import type { PayoutRow } from '../payouts/payout-messages';
import type { PayoutSender } from '../payouts/payout-sender';
import { Pacer } from './pacer';

/** Payouts handed to the database per call when no ceiling is set (see `chunkSize`). */
const CHUNK_SIZE = 25;

/** Held by the one process sending while a ceiling is set (see `exclusively`). */
const ERP_SENDER_LOCK = 7_361_020_002;

export interface ErpGatewayOptions {
  /** Payouts sent at once (each in its own transaction). */
  concurrency: number;
  /** The most payouts sent to the ERP per second, by all processes together; 0 means no ceiling. */
  ratePerSecond: number;
}

/**
 * The oebs-gate: hands CREATED payouts of every source to the ERP. Each payout is one
 * transaction: skip it if another worker holds it, move the reserved money in flight, record the
 * cash-payment fact and the `erp.payouts` message, mark it SENT. The batch's accounts are opened
 * and learnt first, in one round trip; then lanes hand the payouts to the database in chunks, one
 * round trip per chunk (`PayoutSender.sendEach`).
 */
export class ErpGateway {
  private readonly limiter: Pacer;

  constructor(
    private readonly orm: MikroORM,
    private readonly pgPool: Pool,
    private readonly sender: PayoutSender,
    private readonly logger: Logger,
    private readonly options: ErpGatewayOptions,
  ) {
    this.limiter = new Pacer(options.ratePerSecond);
  }

  /**
   * Runs `work` (a drain of the queue) as the only sender of the whole deployment while a ceiling
   * is set, so that the ceiling is what the ERP sees, however many workers run: null, without
   * running it, when another process is sending. Without a ceiling senders run side by side.
   * The lock is a session advisory lock, gone with its connection if this process dies.
   */
  async exclusively<T>(work: () => Promise<T>): Promise<T | null> {
    if (this.options.ratePerSecond <= 0) return work();
    const client = await this.pgPool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ERP_SENDER_LOCK]);
      if (!rows[0]?.locked) return null;
      return await work();
    } finally {
      // Closed, not returned to the pool: a connection still holding the lock must not linger.
      client.release(true);
    }
  }

  /** Sends up to `limit` CREATED payouts, oldest first; returns how many this call sent. */
  async sendBatch(limit: number): Promise<{ taken: number; sent: number }> {
    // No transaction anywhere here: each payout is sent in a transaction of its own.
    const em = this.orm.em.fork();
    const candidates = await this.sender.queue(em, limit);
    if (candidates.length === 0) return { taken: 0, sent: 0 };
    await this.sender.prepareToSend(em, candidates);
    const chunks = chunksOf(candidates, this.chunkSize());
    let next = 0;
    let sent = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        await this.limiter.take(chunk.length);
        sent += await this.sendChunk(em, chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, chunks.length) }, lane));
    return { taken: candidates.length, sent };
  }

  /**
   * Payouts per call to the database. Without a ceiling, as many as keep every lane busy (each
   * payout is still its own transaction); with one, a twentieth of a second's worth, so the
   * ceiling holds over any short window too.
   */
  private chunkSize(): number {
    const { ratePerSecond } = this.options;
    return ratePerSecond > 0 ? Math.max(1, Math.min(CHUNK_SIZE, Math.floor(ratePerSecond / 20))) : CHUNK_SIZE;
  }

  /**
   * Sends a chunk in one round trip. If a payout in it fails, those before it are already sent;
   * the rest are sent one by one, so only the failing payout stays CREATED (with its reason logged).
   */
  private async sendChunk(em: EntityManager, chunk: readonly PayoutRow[]): Promise<number> {
    try {
      const stepped = await this.sender.sendEach(em, chunk, { actor: 'oebs-gate' });
      return stepped.filter(Boolean).length;
    } catch (error) {
      this.logger.warn({ err: error, payouts: chunk.length }, 'a payout in a chunk could not be sent; sending the chunk one by one');
      let sent = 0;
      for (const payout of chunk) if (await this.sendOne(em, payout)) sent += 1;
      return sent;
    }
  }

  private async sendOne(em: EntityManager, payout: PayoutRow): Promise<boolean> {
    try {
      // null: sent or cancelled meanwhile (by the chunk before it failed, too), or another worker has it
      return (await this.sender.sendIfFree(em, payout, { actor: 'oebs-gate' })) !== null;
    } catch (error) {
      // The money is not where it should be (e.g. the reservation is gone): leave it CREATED, say why.
      this.logger.error({ err: error, payoutId: payout.id }, 'could not send payout to the ERP');
      return false;
    }
  }
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
