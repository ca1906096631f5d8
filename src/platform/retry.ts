import type { EntityManager } from '@mikro-orm/postgresql';
import { sqlState } from './database-errors';

/** A deadlock or a serialization failure: PostgreSQL gave up on the transaction, not on the work. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Runs `work` in a transaction of its own, and again when PostgreSQL chose it as a deadlock's or a
 * serialization conflict's victim: by then the whole transaction has rolled back, so running it
 * again is safe. Other errors, and a lost connection (the commit may have happened), are thrown.
 */
export async function transactionalRetrying<T>(
  em: EntityManager,
  work: (em: EntityManager) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await em.fork().transactional(work);
    } catch (error) {
      if (attempt >= attempts || !RETRYABLE.has(sqlState(error) ?? '')) throw error;
      // A short random pause, so the transactions that collided do not collide again.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
