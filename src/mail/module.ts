import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { setting } from '../platform/config';
import { bookAtStart } from '../platform/jobs';
import { Mailer } from '../platform/mail';
import { defineModule } from '../platform/modules';
import { MailQueue } from './mail-queue';
import { sendJob, type EmailJob, type LegacyEmailJob } from './send-job';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Sends one `email_message`; retried with backoff while the SMTP server refuses or is away. */
      email__send: EmailJob | LegacyEmailJob;
      /** The outbox's upkeep: books the messages kept while SMTP_URL was unset (once this worker has it), gives up those whose job is dead. */
      email__sweep: Record<string, never>;
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
    /** A message kept while SMTP_URL was unset is sent once it is set if it is younger than this; older ones are given up on. */
    MAIL_KEPT_MAX_AGE: setting.duration.default(7 * 86_400_000),
  }),
  metrics: (registry: Registry) => ({
    sent: new Counter({
      name: 'payouts_mail_total',
      help: 'Tries of the send job, by kind and result (sent; failed: tried again, or given up after the last attempt; refused: by the SMTP server for good; not_configured)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
  }),
  create: ({ kernel }) => ({ mail: new MailQueue(kernel.jobs) }),
  tasks: ({ settings, metrics, logger, kernel, services }) => ({
    email__send: sendJob({
      em: () => kernel.orm.em.fork(),
      mailer: settings.SMTP_URL ? new Mailer(settings.SMTP_URL, settings.MAIL_FROM, settings.SMTP_TIMEOUT) : null,
      count: (kind, result) => metrics.sent.inc({ kind, result }),
      logger,
    }),
    email__sweep: async () => {
      const abandoned = await services.mail.giveUpAbandoned(kernel.orm.em.fork());
      if (abandoned > 0) logger.error({ abandoned }, 'e-mails whose send job died (its last attempt failed outside the SMTP try, or it was removed): given up, not sent');
      // A worker without SMTP_URL would only keep them again.
      if (!settings.SMTP_URL) return;
      const kept = await services.mail.sendKept(kernel.orm.em.fork(), settings.MAIL_KEPT_MAX_AGE);
      if (kept.booked > 0) logger.info(kept, 'e-mails kept while SMTP_URL was unset: booked to be sent');
      if (kept.givenUp > 0) logger.warn({ ...kept, maxAgeMs: settings.MAIL_KEPT_MAX_AGE }, 'e-mails kept while SMTP_URL was unset are older than MAIL_KEPT_MAX_AGE: given up, not sent');
    },
  }),
  cron: () => [
    {
      pattern: '*/10 * * * *',
      task: 'email__sweep',
      options: { jobKey: 'email__sweep', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'The outbox: sends the e-mails kept while SMTP_URL was unset once a worker has it, gives up those whose job died (also booked when a worker starts).',
    },
  ],
  startupJobs: () => [bookAtStart('email__sweep')],
});
