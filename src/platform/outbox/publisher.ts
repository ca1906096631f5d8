import type { MikroORM } from '@mikro-orm/postgresql';
import type { Producer } from 'kafkajs';
import type { Logger } from '../logger';
import type { KernelMetrics } from '../metrics';

/** Only one publisher at a time, so messages leave in the order they were written. */
const PUBLISHER_LOCK = 7_361_020_001;

interface OutboxRow {
  id: string;
  topic: string;
  key: string | null;
  value: string;
}

/**
 * Publishes committed outbox messages to Kafka and deletes them once the broker has them.
 * At-least-once: a crash between the send and the delete sends them again, and consumers dedupe.
 * Some messages were committed asynchronously (the ERP sender's, see `payout_step_each`): they are
 * made durable before they leave, so the world never hears of a step a crash could undo.
 */
export class OutboxPublisher {
  constructor(
    private readonly orm: MikroORM,
    private readonly producer: Producer | null,
    private readonly metrics: KernelMetrics,
    private readonly logger: Logger,
    private readonly batchSize: number,
  ) {}

  /** Publishes until the outbox is empty; returns how many messages were published. */
  async drain(): Promise<number> {
    if (!this.producer) return 0; // Kafka is off: the outbox waits.
    let total = 0;
    for (;;) {
      const published = await this.publishBatch(this.producer);
      if (published === null) return total; // another publisher holds the lock
      total += published;
      if (published < this.batchSize) return total;
    }
  }

  private async publishBatch(producer: Producer): Promise<number | null> {
    return this.orm.em.fork().transactional(async (em) => {
      const [lock] = await em.execute<{ locked: boolean }[]>('SELECT pg_try_advisory_xact_lock(?) AS locked', [
        PUBLISHER_LOCK,
      ]);
      if (!lock?.locked) return null;
      const rows = await em.execute<OutboxRow[]>(
        'SELECT id, topic, key, value FROM outbox_message ORDER BY id LIMIT ? FOR UPDATE',
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      await this.makeDurable();
      const byTopic = new Map<string, { key: string | null; value: string }[]>();
      for (const row of rows) {
        const messages = byTopic.get(row.topic) ?? [];
        messages.push({ key: row.key, value: row.value });
        byTopic.set(row.topic, messages);
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      // An array binding expands to a list of values (knex), so it belongs in IN (...), not ANY(?).
      await em.execute('DELETE FROM outbox_message WHERE id IN (?)', [rows.map((r) => r.id)], 'run');
      for (const [topic, messages] of byTopic) this.metrics.outboxPublished.inc({ topic }, messages.length);
      this.logger.debug({ count: rows.length }, 'outbox published');
      return rows.length;
    });
  }

  /**
   * Waits until the WAL holding every message read so far is on disk. A transaction that writes WAL
   * after them (a logical-decoding message, which is all it writes) and commits synchronously
   * flushes the WAL up to its commit record, so past theirs: it runs on a connection of its own,
   * after the read. (A transaction that writes no WAL commits without flushing, even with an id.)
   */
  private async makeDurable(): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      await em.execute(
        `SELECT set_config('synchronous_commit', 'on', true), pg_logical_emit_message(true, 'payouts.outbox', 'flush')`,
        [],
        'run',
      );
    });
  }
}
