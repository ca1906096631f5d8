import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import type { JobQueue } from '../platform/jobs';
import type { MailMessage } from '../platform/mail';

/**
 * Attempts of a message's `email__send` job. graphile-worker waits exp(min(attempts, 10)) seconds
 * before the next one: the first ten span ~9 hours, each after that ~6 hours, so 25 keep trying
 * for ~4 days — an SMTP server down over a long weekend still delivers. (10, as before, gave up
 * after ~3.5 hours.) A message given up on stays in `email_message` with `sent_at` NULL.
 */
export const SEND_ATTEMPTS = 25;

/** Where a message stands: `sentAt` set once the SMTP server accepted it. */
export interface Delivery {
  sentAt: Date | null;
  /** Tries to hand it to the SMTP server, the accepted one included. */
  attempts: number;
  /** Why the latest failed try failed (an SMTP error code, never the server's URL). */
  lastError: string | null;
}

/**
 * Messages other modules want sent. Each is a row of `email_message` (the record of whether it was
 * delivered) and one `email__send` job for it, both written in the caller's transaction: a message
 * exists only if the change that wanted it commits.
 */
export class MailQueue {
  constructor(private readonly jobs: JobQueue) {}

  /** `kind` names what the message is about, for metrics and logs (never its text). Returns the message's id. */
  async enqueue(em: EntityManager, kind: string, message: MailMessage): Promise<string> {
    // The id is made here so the job's payload and key can carry it in the same statement.
    const id = randomUUID();
    await this.jobs.afterStatementReturning(
      em,
      {
        sql: 'INSERT INTO email_message (id, kind, recipient, subject, body) VALUES (?::uuid, ?, ?, ?, ?) RETURNING id',
        params: [id, kind, message.to, message.subject, message.text],
      },
      'email__send',
      `email__send:${id}`,
      { payload: { id }, runAt: new Date(), maxAttempts: SEND_ATTEMPTS },
    );
    return id;
  }

  /** Whether a message was delivered, and how its tries went; null for an id that is no message. */
  async delivery(em: EntityManager, id: string): Promise<Delivery | null> {
    const [row] = await queryBound<{ sent_at: Date | string | null; attempts: number; last_error: string | null }>(
      em,
      'SELECT sent_at, attempts, last_error FROM email_message WHERE id = ?::uuid',
      [id],
    );
    if (!row) return null;
    return { sentAt: row.sent_at === null ? null : new Date(row.sent_at), attempts: row.attempts, lastError: row.last_error };
  }
}
