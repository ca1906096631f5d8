import { z } from 'zod';
import { setting } from '../platform/config';

/** The ERP gateway's settings: its topics and the oebs-gate's pace. */
export const erpSettings = z.object({
  TOPIC_ERP_PAYOUTS: z.string().default('erp.payouts'),
  TOPIC_ERP_STATUS_ARD: z.string().default('erp.payout-status.ard'),
  TOPIC_ERP_STATUS_OEBS: z.string().default('erp.payout-status.oebs'),
  PAYOUT_OEBS_GATE_INTERVAL: setting.duration.default(5000),
  PAYOUT_SENDER_LIMIT: setting.positiveInt.default(100),
  PAYOUT_SENDER_CONCURRENCY: setting.positiveInt.default(2),
  PAYOUT_SEND_RATE: z.coerce.number().int().min(0).default(0),
});

export type ErpSettings = z.infer<typeof erpSettings>;
