import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import type { JobQueue } from '../platform/jobs';
import type { MailMessage } from '../platform/mail';
import { withDates } from '../platform/rows';
import { NOT_CONFIGURED } from './send-job';

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
  /** Set once no more tries will be made: refused for good, out of attempts, or kept too long without SMTP_URL. */
  givenUpAt: Date | null;
}

/** What `sendKept` did with the messages kept while SMTP_URL was unset. */
export interface KeptMessages {
  /** Booked to be sent now. */
  booked: number;
  /** Older than the limit: given up on, not sent. */
  givenUp: number;
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
      sendJobKey(id),
      { payload: { id }, runAt: new Date(), maxAttempts: SEND_ATTEMPTS },
    );
    return id;
  }

  /**
   * The messages queued while SMTP_URL was unset (their job ended, `last_error` saying so): each
   * younger than `maxAgeMs` is booked to be sent now, the rest are given up on — a warning of a
   * key expiring "within 7 days" written a month ago would mislead. A row a send holds is left for
   * the next sweep. Rows and jobs change in one transaction.
   */
  async sendKept(em: EntityManager, maxAgeMs: number): Promise<KeptMessages> {
    return em.transactional(async (tx) => {
      const rows = await queryBound<{ id: string; fresh: boolean }>(
        tx,
        `WITH kept AS (
           SELECT id, queued_at > now() - make_interval(secs => ?) AS fresh FROM email_message
            WHERE sent_at IS NULL AND given_up_at IS NULL AND last_error = ?
              FOR UPDATE SKIP LOCKED)
         UPDATE email_message m
            SET last_error = CASE WHEN kept.fresh THEN NULL ELSE m.last_error END,
                given_up_at = CASE WHEN kept.fresh THEN NULL ELSE now() END
           FROM kept WHERE m.id = kept.id
         RETURNING m.id, kept.fresh`,
        [maxAgeMs / 1000, NOT_CONFIGURED],
      );
      const fresh = rows.filter((row) => row.fresh);
      const runAt = new Date();
      await this.jobs.addKeyed(
        tx,
        'email__send',
        fresh.map((row) => ({ payload: { id: row.id }, runAt, jobKey: sendJobKey(row.id), maxAttempts: SEND_ATTEMPTS })),
      );
      return { booked: fresh.length, givenUp: rows.length - fresh.length };
    });
  }

  /**
   * Messages neither sent nor given up whose job will never run again — its last attempt failed
   * outside the SMTP try (the database away, the worker killed), or the job was removed — are
   * given up, so that the row says what became of them. (Messages kept without SMTP_URL are
   * `sendKept`'s.) A message a send holds is left for the next sweep. Returns how many.
   */
  async giveUpAbandoned(em: EntityManager): Promise<number> {
    const given = await queryBound<{ id: string }>(
      em,
      `UPDATE email_message SET given_up_at = now()
        WHERE id IN (SELECT m.id FROM email_message m
                      WHERE m.sent_at IS NULL AND m.given_up_at IS NULL AND m.last_error IS DISTINCT FROM ?
                        AND ${this.jobs.noLiveJobSql(SEND_JOB_KEY_SQL)}
                        FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [NOT_CONFIGURED, SEND_HELD_FOR_GOOD_S],
    );
    return given.length;
  }

  /** Whether a message was delivered, and how its tries went; null for an id that is no message. */
  async delivery(em: EntityManager, id: string): Promise<Delivery | null> {
    const [found] = await queryBound<{ sent_at: Date | null; attempts: number; last_error: string | null; given_up_at: Date | null }>(
      em,
      'SELECT sent_at, attempts, last_error, given_up_at FROM email_message WHERE id = ?::uuid',
      [id],
    );
    if (!found) return null;
    const row = withDates(found, ['sent_at', 'given_up_at']);
    return { sentAt: row.sent_at, attempts: row.attempts, lastError: row.last_error, givenUpAt: row.given_up_at };
  }
}

/** The key of a message's `email__send` job: one job per message. */
export function sendJobKey(id: string): string {
  return `email__send:${id}`;
}

/** `sendJobKey` in SQL, of `email_message m`. */
const SEND_JOB_KEY_SQL = `'email__send:' || m.id::text`;

/**
 * How long a send job may be held before it counts as dead: a send holds it no longer than
 * SMTP_TIMEOUT, and graphile-worker frees a killed worker's job after 4 hours to run it again. Held
 * a day, nothing will.
 */
const SEND_HELD_FOR_GOOD_S = 86_400;
