import { z } from 'zod';
import { setting } from '../platform/config';
import { PAYMENT_SYSTEMS, type PaymentSystem } from '../wallets/payment-systems';
import { parseCidrList } from './allow-list';

/** `QIWI_ALLOWED_IPS`, `QIWI_MD_ALLOWED_IPS`, …: each system's optional source-address allow-list. */
export const allowedIpsSetting = (system: PaymentSystem) => `${system}_ALLOWED_IPS` as const;

const cidrList = z
  .string()
  .trim()
  .min(1)
  .superRefine((text, ctx) => {
    for (const problem of parseCidrList(text).problems) ctx.addIssue({ code: 'custom', message: problem });
  });

const allowLists = Object.fromEntries(PAYMENT_SYSTEMS.map((system) => [allowedIpsSetting(system), cidrList.optional()])) as Record<
  `${PaymentSystem}_ALLOWED_IPS`,
  z.ZodOptional<typeof cidrList>
>;

/**
 * The callback server faces the open internet: its port, how much and how long it reads, how
 * often one address or one link may call, which proxies' `X-Forwarded-For` it believes, and each
 * system's source addresses (unset: any address, the link's secret still required).
 */
export const callbackSettings = z.object({
  CALLBACK_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  /** The largest request body read, in bytes (the protocols send a few hundred). */
  CALLBACK_BODY_LIMIT: setting.positiveInt.default(64 * 1024),
  /** How long a client may take to send its whole request (slow senders hold a socket). */
  CALLBACK_RECEIVE_TIMEOUT: setting.duration.default(10_000),
  /** How long an answer may take before the protocol's "temporary error, retry" is sent (QIWI waits 60 s). */
  CALLBACK_ANSWER_TIMEOUT: setting.duration.default(15_000),
  /** Requests a second one source address may make (bursts of twice that). */
  CALLBACK_RATE_PER_ADDRESS: setting.positiveInt.default(50),
  /** Requests a second through one link (bursts of twice that). */
  CALLBACK_RATE_PER_LINK: setting.positiveInt.default(20),
  /** Proxies (addresses or CIDRs) in front of the server whose `X-Forwarded-For` names the caller; unset: none. */
  CALLBACK_TRUST_PROXY: cidrList.optional(),
  /** Parks and drivers count as using a system when they topped up through it this recently (metrics). */
  PAYMENT_SYSTEM_USAGE_WINDOW: setting.duration.default(30 * 86_400_000),
  ...allowLists,
});

export type CallbackSettings = z.infer<typeof callbackSettings>;
