import type { EntityManager } from '@mikro-orm/postgresql';
import { sqlState } from './database-errors';

/** A deadlock or a serialization failure: PostgreSQL gave up on the transaction, not on the work. */
const RETRYABLE = new Set(['40P01', '40001']);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has(sqlState(error) ?? '');
}

/**
 * Runs `attempt` again when PostgreSQL chose its transaction as a deadlock's or a serialization
 * conflict's victim: by then the whole transaction has rolled back, so running it again is safe.
 * Other errors, and a lost connection (the commit may have happened), are thrown.
 */
export async function retryingVictims<T>(attempt: (number: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let number = 1; ; number += 1) {
    try {
      return await attempt(number);
    } catch (error) {
      if (number >= attempts || !isRetryable(error)) throw error;
      // A short random pause, so the transactions that collided do not collide again.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * number));
    }
  }
}

/**
 * Runs `work` in a transaction of its own, retried as `retryingVictims` says. Inside a transaction
 * already (a GraphQL mutation runs in one, with its audit entry), `work` joins it and the retry is
 * the mutation's, around the whole of it: a victim's transaction cannot be resumed half-way.
 */
export async function transactionalRetrying<T>(
  em: EntityManager,
  work: (em: EntityManager) => Promise<T>,
  attempts = 3,
): Promise<T> {
  if (em.isInTransaction()) return em.transactional(work);
  return retryingVictims(() => em.fork().transactional(work), attempts);
}
