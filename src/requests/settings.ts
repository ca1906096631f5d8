import { z } from 'zod';
import { setting } from '../platform/config';

/** The req-gate's pace: how often it looks and how many requests it takes at once. */
export const requestSettings = z.object({
  PAYOUT_REQ_GATE_INTERVAL: setting.duration.default(5000),
  PAYOUT_REQUEST_LIMIT: setting.positiveInt.default(100),
});

export type RequestSettings = z.infer<typeof requestSettings>;
