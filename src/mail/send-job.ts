import type { EntityManager } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import { queryBound } from '../platform/bound-query';
import type { Logger } from '../platform/logger';
import type { Mailer, MailMessage } from '../platform/mail';

/** The `email__send` job's payload: the `email_message` row to send. */
export interface EmailJob {
  id: string;
}

/**
 * What the previous version queued: the message itself, with no row. Jobs of that shape may still
 * wait in the queue after an upgrade; they are sent as they were (nothing records them).
 */
export interface LegacyEmailJob extends MailMessage {
  kind: string;
}

export type MailResult = 'sent' | 'failed' | 'not_configured';

export interface SendJobParts {
  /** A fresh EntityManager per run. */
  em: () => EntityManager;
  /** Null when SMTP_URL is not set. */
  mailer: Mailer | null;
  count: (kind: string, result: MailResult) => void;
  logger: Logger;
}

export const NOT_CONFIGURED = 'SMTP_URL is not set';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface MessageRow {
  kind: string;
  recipient: string;
  subject: string;
  body: string;
  sent_at: Date | string | null;
}

/**
 * Sends one message of `email_message` and records how it went on its row: `sent_at` once the SMTP
 * server accepts it; otherwise `attempts` and `last_error`, and the job fails so graphile-worker
 * tries again. A message already sent is not sent again, however often its job runs — except
 * after a crash (or a lost database) between the server accepting it and the UPDATE that records
 * it: SMTP has no idempotency key, so that message goes out twice rather than not at all.
 * One job per message (its job key) keeps two runs of it from overlapping.
 *
 * Without SMTP_URL (development) nothing is sent and nothing pretends it was: `sent_at` stays NULL,
 * `last_error` says why, and the job ends rather than retrying for days on a machine with no server.
 */
export function sendJob(parts: SendJobParts): Task<'email__send'> {
  const { mailer, count, logger } = parts;
  return async (payload) => {
    const id = (payload as Partial<EmailJob> | null)?.id;
    if (id === undefined) return sendLegacy(parts, payload as LegacyEmailJob);
    if (typeof id !== 'string' || !UUID.test(id)) throw new Error('email__send needs the id of an email_message');
    const em = parts.em();
    const [message] = await queryBound<MessageRow>(em, 'SELECT kind, recipient, subject, body, sent_at FROM email_message WHERE id = ?::uuid', [id]);
    if (!message) {
      logger.warn({ emailId: id }, 'email__send: no such message, nothing sent');
      return;
    }
    const { kind } = message;
    if (message.sent_at !== null) {
      logger.info({ emailId: id, kind }, 'e-mail already sent: not sent again');
      return;
    }
    if (!mailer) {
      await queryBound(em, 'UPDATE email_message SET last_error = ? WHERE id = ?::uuid', [NOT_CONFIGURED, id]);
      count(kind, 'not_configured');
      logger.warn({ emailId: id, kind }, 'SMTP_URL is not set: an e-mail was not sent');
      return;
    }
    try {
      await mailer.send({ to: message.recipient, subject: message.subject, text: message.body });
    } catch (error) {
      const problem = smtpProblem(error);
      await queryBound(em, 'UPDATE email_message SET attempts = attempts + 1, last_error = ? WHERE id = ?::uuid', [problem, id]);
      count(kind, 'failed');
      // nodemailer's message names the server's answer, not the URL's password.
      logger.warn({ emailId: id, kind, problem: (error as Error).message }, 'e-mail not sent; the job will try again');
      throw new Error(`e-mail not sent: ${problem}`, { cause: error });
    }
    // The server has the message: a crash before this line sends it again on the job's retry.
    await queryBound(em, 'UPDATE email_message SET sent_at = now(), attempts = attempts + 1 WHERE id = ?::uuid', [id]);
    count(kind, 'sent');
    logger.info({ emailId: id, kind }, 'e-mail sent');
  };
}

/** A job queued by the previous version: sent as it was then, with no row to record it on. */
async function sendLegacy({ mailer, count, logger }: SendJobParts, payload: LegacyEmailJob): Promise<void> {
  const { to, subject, text, kind } = (payload ?? {}) as Partial<LegacyEmailJob>;
  if (typeof to !== 'string' || typeof subject !== 'string' || typeof text !== 'string') throw new Error('email__send needs to, subject and text');
  const label = typeof kind === 'string' ? kind : 'unknown';
  if (!mailer) {
    count(label, 'not_configured');
    logger.warn({ kind: label }, 'SMTP_URL is not set: an e-mail was not sent');
    return;
  }
  try {
    await mailer.send({ to, subject, text });
  } catch (error) {
    count(label, 'failed');
    logger.warn({ kind: label, problem: (error as Error).message }, 'e-mail not sent; the job will try again');
    throw new Error(`e-mail not sent: ${smtpProblem(error)}`, { cause: error });
  }
  count(label, 'sent');
  logger.info({ kind: label }, 'e-mail sent');
}

/**
 * A failed try, short and safe to keep: nodemailer's error code (ECONNECTION, ETIMEDOUT, EENVELOPE,
 * EAUTH…) and the server's reply code with its class — never the message text, which may quote
 * the server's address, nor the URL.
 */
export function smtpProblem(error: unknown): string {
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  const name = typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,30}$/.test(code) ? code : 'SMTP error';
  if (typeof responseCode !== 'number') return name;
  const replyClass = responseCode >= 500 ? ' (permanent)' : responseCode >= 400 ? ' (temporary)' : '';
  return `${name} ${responseCode}${replyClass}`;
}
