import type { EntityManager } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { setting } from '../platform/config';
import type { JobQueue } from '../platform/jobs';
import { Mailer, type MailMessage } from '../platform/mail';
import { defineModule } from '../platform/modules';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Sends one e-mail; retried with backoff while the SMTP server refuses or is away. */
      email__send: MailMessage & { kind: string };
    }
  }
}

/** Messages other tasks want sent: each is one `email__send` job, enqueued in the caller's transaction. */
export class MailQueue {
  constructor(private readonly jobs: JobQueue) {}

  /** `kind` names what the message is about, for metrics and logs (never its text). */
  async enqueue(em: EntityManager, kind: string, message: MailMessage): Promise<void> {
    await this.jobs.add(em, 'email__send', { ...message, kind }, { maxAttempts: 10 });
  }
}

/** E-mail for other modules: a generic send job over SMTP (`SMTP_URL`, `MAIL_FROM`). */
export const mailModule = defineModule({
  name: 'mail',
  settings: z.object({
    /** Unset: messages are logged as not sent (development, tests without a mail server). */
    SMTP_URL: z
      .string()
      .trim()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
    MAIL_FROM: z.string().trim().min(3).default('payouts@localhost'),
    SMTP_TIMEOUT: setting.duration.default(30_000),
  }),
  metrics: (registry: Registry) => ({
    sent: new Counter({
      name: 'payouts_mail_total',
      help: 'E-mails the send job finished with, by kind and result (sent, failed, not_configured)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
  }),
  create: ({ kernel }) => ({ mail: new MailQueue(kernel.jobs) }),
  tasks: ({ settings, metrics, logger }) => {
    const mailer = settings.SMTP_URL ? new Mailer(settings.SMTP_URL, settings.MAIL_FROM, settings.SMTP_TIMEOUT) : null;
    const send: Task<'email__send'> = async (payload) => {
      const { to, subject, text, kind } = payload as Partial<MailMessage & { kind: string }>;
      if (typeof to !== 'string' || typeof subject !== 'string' || typeof text !== 'string') throw new Error('email__send needs to, subject and text');
      const label = typeof kind === 'string' ? kind : 'unknown';
      if (!mailer) {
        metrics.sent.inc({ kind: label, result: 'not_configured' });
        logger.warn({ kind: label }, 'SMTP_URL is not set: an e-mail was not sent');
        return;
      }
      try {
        await mailer.send({ to, subject, text });
        metrics.sent.inc({ kind: label, result: 'sent' });
        logger.info({ kind: label }, 'e-mail sent');
      } catch (error) {
        metrics.sent.inc({ kind: label, result: 'failed' });
        // nodemailer's message names the server's answer, not the URL's password.
        logger.warn({ kind: label, problem: (error as Error).message }, 'e-mail not sent; the job will try again');
        throw new Error(`e-mail not sent: ${(error as { code?: string }).code ?? 'SMTP error'}`, { cause: error });
      }
    };
    return { email__send: send };
  },
});
