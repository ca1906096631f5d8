import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Gauge } from 'prom-client';
import { InvalidInputError, NotFoundError } from '../errors';
import { DeadLetter } from './dead-letter.entity';
import type { ProcessOutcome, Rejection } from './inbound';
import type { InboundProcessor } from './inbound-processor';

export interface RetryResult {
  id: string;
  outcome: ProcessOutcome | 'already-resolved' | 'discarded';
  reason: string | null;
}

export interface DiscardResult {
  id: string;
  /** `already-resolved`: it was applied, so there is nothing to discard. */
  outcome: 'discarded' | 'already-discarded' | 'already-resolved';
}

/** Open dead letters of one topic and error code. */
export interface OpenDeadLetters {
  topic: string;
  code: string;
  count: number;
}

/** Dead letters have bigint ids: digits that PostgreSQL's bigint can hold. */
export function isDeadLetterId(text: string): boolean {
  return /^\d{1,19}$/.test(text) && BigInt(text) <= 9_223_372_036_854_775_807n;
}

function checkId(id: string): void {
  if (!isDeadLetterId(id)) throw new InvalidInputError('id is not a dead letter id', { field: 'id' });
}

/** An open dead letter: neither applied again nor discarded. */
const OPEN = 'resolved_at IS NULL AND discarded_at IS NULL';

/** Lists dead letters, re-applies them once their cause is fixed, or discards them for a reason. */
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
        ...(options.includeResolved ? {} : { resolvedAt: null, discardedAt: null }),
        ...(options.afterId ? { id: { $gt: options.afterId } } : {}),
      },
      { orderBy: { id: 'asc' }, limit: options.first + 1 },
    );
    return { rows: rows.slice(0, options.first), hasNextPage: rows.length > options.first };
  }

  async get(em: EntityManager, id: string): Promise<DeadLetter> {
    checkId(id);
    const letter = await em.findOne(DeadLetter, { id });
    if (!letter) throw new NotFoundError(`Dead letter ${id} not found`, { id });
    return letter;
  }

  /**
   * Applies a dead letter again; on success it is marked resolved, otherwise its reason is updated.
   * In a transaction of its own, or in the one `em` is in (a mutation's, with its audit entry).
   */
  async retry(id: string, em: EntityManager = this.orm.em.fork()): Promise<RetryResult> {
    checkId(id);
    return em.transactional(async (em) => {
      const [letter] = await em.execute<
        {
          id: string;
          topic: string;
          partition: number | null;
          offset: string | null;
          key: string | null;
          value: string;
          resolved_at: Date | null;
          discarded_at: Date | null;
          discard_reason: string | null;
        }[]
      >('SELECT * FROM dead_letter WHERE id = ? FOR UPDATE', [id]);
      if (!letter) throw new NotFoundError(`Dead letter ${id} not found`, { id });
      if (letter.resolved_at) return { id, outcome: 'already-resolved', reason: null };
      // Someone judged it never to be applied; that judgement is not undone by a bulk retry.
      if (letter.discarded_at) return { id, outcome: 'discarded', reason: letter.discard_reason };
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

  /**
   * Sets an open dead letter aside for good, keeping who did it, when and why on its row. A
   * letter already discarded keeps its first verdict; one already applied cannot be discarded.
   */
  async discard(id: string, verdict: { by: string; reason: string }, em: EntityManager = this.orm.em.fork()): Promise<DiscardResult> {
    checkId(id);
    const by = verdict.by.trim();
    const reason = verdict.reason.trim();
    if (reason === '') throw new InvalidInputError('a reason is required to discard a dead letter', { field: 'reason' });
    if (reason.length > 1000) throw new InvalidInputError('reason must be at most 1000 characters', { field: 'reason' });
    if (by === '') throw new InvalidInputError('who discards the dead letter must be known', { field: 'by' });
    const discarded = await em.execute<{ id: string }[]>(
      `UPDATE dead_letter SET discarded_at = now(), discarded_by = ?, discard_reason = ? WHERE id = ? AND ${OPEN} RETURNING id`,
      [by, reason, id],
    );
    if (discarded.length > 0) return { id, outcome: 'discarded' };
    const [letter] = await em.execute<{ resolved_at: Date | null }[]>('SELECT resolved_at FROM dead_letter WHERE id = ?', [id]);
    if (!letter) throw new NotFoundError(`Dead letter ${id} not found`, { id });
    return { id, outcome: letter.resolved_at ? 'already-resolved' : 'already-discarded' };
  }

  async openIds(topic?: string | null): Promise<string[]> {
    const em = this.orm.em.fork();
    const rows = await em.execute<{ id: string }[]>(
      `SELECT id FROM dead_letter WHERE ${OPEN} AND (?::text IS NULL OR topic = ?) ORDER BY id`,
      [topic ?? null, topic ?? null],
    );
    return rows.map((r) => String(r.id));
  }

  /** Open dead letters by topic and error code, whichever process made them (a consumer, an ingest). */
  async openCounts(em: EntityManager = this.orm.em.fork()): Promise<OpenDeadLetters[]> {
    const rows = await em.execute<{ topic: string; code: string; count: string }[]>(
      `SELECT topic, error_code AS code, count(*) AS count FROM dead_letter WHERE ${OPEN} GROUP BY topic, error_code`,
    );
    return rows.map((r) => ({ topic: r.topic, code: r.code, count: Number(r.count) }));
  }
}

/**
 * Sets the gauge to the open dead letters now; a topic and code that had some and has none left
 * reads 0 rather than vanishing, so a graph shows the drop.
 */
export async function showOpenDeadLetters(gauge: Gauge<'topic' | 'code'>, open: readonly OpenDeadLetters[]): Promise<void> {
  const key = (labels: { topic?: string | number; code?: string | number }) => `${labels.topic}\u0000${labels.code}`;
  const now = new Set(open.map(key));
  for (const { labels } of (await gauge.get()).values) {
    if (!now.has(key(labels))) gauge.set({ topic: String(labels.topic), code: String(labels.code) }, 0);
  }
  for (const { topic, code, count } of open) gauge.set({ topic, code }, count);
}
