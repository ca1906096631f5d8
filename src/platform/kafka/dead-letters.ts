import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { NotFoundError } from '../errors';
import { DeadLetter } from './dead-letter.entity';
import type { ProcessOutcome, Rejection } from './inbound';
import type { InboundProcessor } from './inbound-processor';

export interface RetryResult {
  id: string;
  outcome: ProcessOutcome | 'already-resolved';
  reason: string | null;
}

/** Lists dead letters and re-applies them once their cause is fixed. */
export class DeadLetterService {
  constructor(
    private readonly orm: MikroORM,
    private readonly inbound: InboundProcessor,
  ) {}

  async list(
    em: EntityManager,
    options: { topic?: string | null; includeResolved?: boolean; first: number; afterId?: string | null },
  ): Promise<{ rows: DeadLetter[]; hasNextPage: boolean }> {
    const rows = await em.find(
      DeadLetter,
      {
        ...(options.topic ? { topic: options.topic } : {}),
        ...(options.includeResolved ? {} : { resolvedAt: null }),
        ...(options.afterId ? { id: { $gt: options.afterId } } : {}),
      },
      { orderBy: { id: 'asc' }, limit: options.first + 1 },
    );
    return { rows: rows.slice(0, options.first), hasNextPage: rows.length > options.first };
  }

  /** Applies a dead letter again; on success it is marked resolved, otherwise its reason is updated. */
  async retry(id: string): Promise<RetryResult> {
    return this.orm.em.fork().transactional(async (em) => {
      const [letter] = await em.execute<
        { id: string; topic: string; partition: number | null; offset: string | null; key: string | null; value: string; resolved_at: Date | null }[]
      >('SELECT * FROM dead_letter WHERE id = ? FOR UPDATE', [id]);
      if (!letter) throw new NotFoundError(`Dead letter ${id} not found`, { id });
      if (letter.resolved_at) return { id, outcome: 'already-resolved', reason: null };
      let rejection: Rejection | null = null;
      const outcome = await this.inbound.processOne(
        em,
        { topic: letter.topic, partition: letter.partition, offset: letter.offset, key: letter.key, value: letter.value },
        letter.partition === null ? 'INGEST' : 'KAFKA', // ingested lines have no partition
        async (_tx, _message, refused) => {
          rejection = refused;
        },
      );
      const still = rejection as Rejection | null;
      await em.execute(
        `UPDATE dead_letter SET attempts = attempts + 1, retried_at = now(),
           resolved_at = CASE WHEN ? THEN now() END, reason = coalesce(?, reason), error_code = coalesce(?, error_code)
         WHERE id = ?`,
        [still === null, still?.reason ?? null, still?.code ?? null, id],
        'run',
      );
      return { id, outcome, reason: still?.reason ?? null };
    });
  }

  async openIds(topic?: string | null): Promise<string[]> {
    const em = this.orm.em.fork();
    const rows = await em.execute<{ id: string }[]>(
      'SELECT id FROM dead_letter WHERE resolved_at IS NULL AND (?::text IS NULL OR topic = ?) ORDER BY id',
      [topic ?? null, topic ?? null],
    );
    return rows.map((r) => String(r.id));
  }
}
