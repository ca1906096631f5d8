import { setting } from '../platform/config';
import { z } from 'zod';

export const signalqSettings = z.object({
  TOPIC_SIGNALQ_DEVICE_STATUS: z.string().default('signalq.device-status'),
  SIGNALQ_BILLING_CRON: setting.crontab.default('0 */4 * * *'),
  /** (park, period) pairs whose lines one statement records. */
  SIGNALQ_PERIOD_BATCH: z.coerce.number().int().min(1).max(10_000).default(200),
  /** Parks whose lines one transaction pays. */
  SIGNALQ_PAY_BATCH: z.coerce.number().int().min(1).max(10_000).default(100),
});

export type SignalqSettings = z.infer<typeof signalqSettings>;
