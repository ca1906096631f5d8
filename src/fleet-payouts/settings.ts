import { z } from 'zod';
import { setting } from '../platform/config';

const HOUR = 3_600_000;

/** `RUB:10000000,KZT:5000000`: the most one instant payout may pay, in minor units per currency. */
const instantLimits = z.string().transform((text, ctx) => {
  const limits = new Map<string, bigint>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([A-Z]{3}):(\d{1,18})$/.exec(part);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not CURRENCY:minor-units (e.g. RUB:10000000)` });
      return z.NEVER;
    }
    limits.set(match[1]!, BigInt(match[2]!));
  }
  return limits;
});

/**
 * The defaults of the fleet payout settings (an admin's `updateFleetPayoutSettings` overrides
 * them in the database, at once for every process), and how the periodic run works.
 */
export const fleetPayoutSettings = z.object({
  FLEET_INSTANT_LIMIT: instantLimits.default(new Map([['RUB', 10_000_000n]])),
  FLEET_INSTANT_COOLDOWN: setting.duration
    .refine((ms) => ms % HOUR === 0, 'FLEET_INSTANT_COOLDOWN must be whole hours, e.g. 24h')
    .transform((ms) => ms / HOUR)
    .default(24),
  FLEET_PERIODIC_DAYS: z.coerce.number().int().min(1).max(366).default(7),
  FLEET_PERIODIC_CRON: setting.crontab.default('0 * * * *'),
  /** Periodic payouts created per second, across all worker processes; 0 turns the throttle off. */
  FLEET_PERIODIC_RATE: z.coerce.number().min(0).max(100_000).default(50),
  /** Parks per transaction of the periodic run. */
  FLEET_PERIODIC_BATCH: z.coerce.number().int().min(1).max(5_000).default(500),
});

export type FleetPayoutSettings = z.infer<typeof fleetPayoutSettings>;
