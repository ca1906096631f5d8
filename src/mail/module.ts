import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { setting } from '../platform/config';
import { Mailer } from '../platform/mail';
import { defineModule } from '../platform/modules';
import { MailQueue } from './mail-queue';
import { sendJob, type EmailJob, type LegacyEmailJob } from './send-job';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Sends one `email_message`; retried with backoff while the SMTP server refuses or is away. */
      email__send: EmailJob | LegacyEmailJob;
    }
  }
}

/**
 * E-mail for other modules: an outbox (`email_message`, written in the caller's transaction) and a
 * send job over SMTP (`SMTP_URL`, `MAIL_FROM`) that records on each message whether it was delivered.
 */
export const mailModule = defineModule({
  name: 'mail',
  tables: ['email_message'],
  settings: z.object({
    /** Unset: messages are kept unsent, with last_error saying so (development, tests without a mail server). */
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
  tasks: ({ settings, metrics, logger, kernel }) => ({
    email__send: sendJob({
      em: () => kernel.orm.em.fork(),
      mailer: settings.SMTP_URL ? new Mailer(settings.SMTP_URL, settings.MAIL_FROM, settings.SMTP_TIMEOUT) : null,
      count: (kind, result) => metrics.sent.inc({ kind, result }),
      logger,
    }),
  }),
});
