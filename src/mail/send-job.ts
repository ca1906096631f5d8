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

export type MailResult = 'sent' | 'failed' | 'refused' | 'not_configured';

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
  given_up_at: Date | string | null;
}

/** How a run ended, decided in its transaction and acted on (counted, logged, thrown) once it committed. */
type Outcome =
  | { result: 'missing' }
  | { result: 'already_sent' | 'given_up' | 'not_configured' | 'sent'; kind: string }
  | Failure;

/**
 * A failed try. `final`: no try follows — `refused`, the SMTP server turned this message away for
 * good; `out_of_attempts`, it was the job's last. Null: graphile-worker tries again.
 */
interface Failure {
  result: 'failed';
  kind: string;
  problem: string;
  error: unknown;
  final: 'refused' | 'out_of_attempts' | null;
}

/**
 * Sends one message of `email_message` and records how it went on its row: `sent_at` once the SMTP
 * server accepts it; otherwise `attempts` and `last_error`, and the job fails so graphile-worker
 * tries again. A message already sent is not sent again, however often its job runs — except
 * after a crash (or a lost database) between the server accepting it and the commit that records
 * it: SMTP has no idempotency key, so that message goes out twice rather than not at all.
 *
 * Two runs of the same message can be at work at once: its job key does not prevent it (booking
 * the key again while a run holds the job detaches that job and inserts a new one beside it), nor
 * does a second job of another key with the same payload. So a run reads the row `FOR UPDATE` and
 * sends in that transaction: another run of the message waits for the row, then finds it sent (or
 * finds the failed try recorded, and tries again itself).
 *
 * A message is given up on (`given_up_at`) when the SMTP server refuses it for good (a 5xx to its
 * recipient or its content: no later try would fare better) or its job's last attempt fails; a job
 * run again for it sends nothing. A refusal of the server's own making (535, authentication) is
 * not the message's fault: it is retried, for an operator to mend the settings meanwhile.
 *
 * Without SMTP_URL (development) nothing is sent and nothing pretends it was: `sent_at` stays NULL,
 * `last_error` says why, and the job ends rather than retrying for days on a machine with no server.
 * Once a worker has SMTP_URL, `MailQueue.sendKept` books such messages again (`email__sweep`).
 */
export function sendJob(parts: SendJobParts): Task<'email__send'> {
  const { mailer } = parts;
  return async (payload, helpers) => {
    // graphile-worker counts the run under way among the job's attempts.
    const lastAttempt = helpers !== undefined && helpers.job.attempts >= helpers.job.max_attempts;
    const id = (payload as Partial<EmailJob> | null)?.id;
    if (id === undefined) return report(parts, await sendLegacy(mailer, payload as LegacyEmailJob, lastAttempt));
    if (typeof id !== 'string' || !UUID.test(id)) throw new Error('email__send needs the id of an email_message');
    // The row stays locked while the SMTP server takes the message. That is acceptable: it is one
    // row (and one pooled connection per running send), held no longer than the send, whose waits
    // on the server SMTP_TIMEOUT bounds (nodemailer's connection, greeting and idle-socket timeouts);
    // only another run of the same message waits on it, and that wait keeps the two from both sending.
    const outcome = await parts.em().transactional(async (tx): Promise<Outcome> => {
      const [message] = await queryBound<MessageRow>(
        tx,
        'SELECT kind, recipient, subject, body, sent_at, given_up_at FROM email_message WHERE id = ?::uuid FOR UPDATE',
        [id],
      );
      if (!message) return { result: 'missing' };
      const { kind } = message;
      if (message.sent_at !== null) return { result: 'already_sent', kind };
      if (message.given_up_at !== null) return { result: 'given_up', kind };
      const tried = await attempt(mailer, { to: message.recipient, subject: message.subject, text: message.body }, kind, lastAttempt);
      // Recorded and committed: a failed job throws after the transaction, so the throw cannot roll it back.
      if (tried.result === 'not_configured') await queryBound(tx, 'UPDATE email_message SET last_error = ? WHERE id = ?::uuid', [NOT_CONFIGURED, id]);
      if (tried.result === 'failed') {
        await queryBound(tx, 'UPDATE email_message SET attempts = attempts + 1, last_error = ?, given_up_at = CASE WHEN ? THEN now() END WHERE id = ?::uuid', [
          tried.problem,
          tried.final !== null,
          id,
        ]);
      }
      // The server has the message: a crash (or a lost connection) before the commit sends it again on the job's retry.
      if (tried.result === 'sent') await queryBound(tx, 'UPDATE email_message SET sent_at = now(), attempts = attempts + 1 WHERE id = ?::uuid', [id]);
      return tried;
    });
    report(parts, outcome, id);
  };
}

/** One try at handing a message to the SMTP server (none without SMTP_URL). */
async function attempt(mailer: Mailer | null, message: MailMessage, kind: string, lastAttempt: boolean): Promise<Outcome> {
  if (!mailer) return { result: 'not_configured', kind };
  try {
    await mailer.send(message);
    return { result: 'sent', kind };
  } catch (error) {
    const final = refusedForGood(error) ? 'refused' : lastAttempt ? 'out_of_attempts' : null;
    return { result: 'failed', kind, problem: smtpProblem(error), error, final };
  }
}

/**
 * The SMTP server turned this message away and would again: a permanent (5xx) reply to its
 * recipient (RCPT TO) or its content (DATA) whose enhanced status (RFC 3463) blames the message —
 * its address (5.1.x: no such mailbox or domain), the mailbox (5.2.x), its size (5.3.x) or its
 * content (5.6.x). Not a policy refusal (5.7.x: relaying denied, authentication required), a reply
 * with no enhanced status (it could be either), nor a refusal of the sender — at MAIL FROM, or at
 * RCPT TO as servers that reject late report it (5.1.7, 5.1.8, "Sender address rejected") — or of
 * the login: those may be the server's or our settings, wrong for every message alike, and an
 * operator mending them should find the messages still being tried.
 */
export function refusedForGood(error: unknown): boolean {
  const { code, responseCode, command, response } = (error ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown; response?: unknown };
  if (code !== 'EENVELOPE' && code !== 'EMESSAGE') return false;
  if (command !== 'RCPT TO' && command !== 'DATA') return false;
  if (typeof responseCode !== 'number' || responseCode < 500 || responseCode > 599) return false;
  const reply = typeof response === 'string' ? response : '';
  const enhanced = /^\d{3}[ -]5\.(\d{1,3})\.(\d{1,3})\b/.exec(reply);
  if (!enhanced || !['1', '2', '3', '6'].includes(enhanced[1]!)) return false;
  const aboutSender = (enhanced[1] === '1' && (enhanced[2] === '7' || enhanced[2] === '8')) || /\bsender\b/i.test(reply);
  return !aboutSender;
}

/** A job queued by the previous version: sent as it was then, with no row to record it on. */
async function sendLegacy(mailer: Mailer | null, payload: LegacyEmailJob, lastAttempt: boolean): Promise<Outcome> {
  const { to, subject, text, kind } = (payload ?? {}) as Partial<LegacyEmailJob>;
  if (typeof to !== 'string' || typeof subject !== 'string' || typeof text !== 'string') throw new Error('email__send needs to, subject and text');
  return attempt(mailer, { to, subject, text }, typeof kind === 'string' ? kind : 'unknown', lastAttempt);
}

/**
 * A run's outcome, once its record (if any) is committed: counted and logged. A failed try fails
 * the job, so graphile-worker tries again (or, on the last attempt, records the job as failed for
 * good); a refusal for good ends it, as nothing would change on another try.
 */
function report({ count, logger }: SendJobParts, outcome: Outcome, emailId?: string): void {
  switch (outcome.result) {
    case 'missing':
      logger.warn({ emailId }, 'email__send: no such message, nothing sent');
      return;
    case 'already_sent':
      logger.info({ emailId, kind: outcome.kind }, 'e-mail already sent: not sent again');
      return;
    case 'given_up':
      logger.info({ emailId, kind: outcome.kind }, 'e-mail given up on earlier: not tried again');
      return;
    case 'not_configured':
      count(outcome.kind, 'not_configured');
      logger.warn({ emailId, kind: outcome.kind }, 'SMTP_URL is not set: an e-mail was not sent');
      return;
    case 'failed': {
      const { kind, problem, error, final } = outcome;
      // nodemailer's message names the server's answer, not the URL's password.
      const context = { emailId, kind, problem: (error as Error).message };
      if (final === 'refused') {
        count(kind, 'refused');
        logger.error(context, 'e-mail refused for good by the SMTP server (check the address): given up');
        return;
      }
      count(kind, 'failed');
      if (final === 'out_of_attempts') logger.error(context, 'e-mail not sent after its last attempt: given up');
      else logger.warn(context, 'e-mail not sent; the job will try again');
      throw new Error(`e-mail not sent: ${problem}`, { cause: error });
    }
    case 'sent':
      count(outcome.kind, 'sent');
      logger.info({ emailId, kind: outcome.kind }, 'e-mail sent');
  }
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
