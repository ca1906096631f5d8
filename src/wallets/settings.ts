import { z } from 'zod';
import { setting } from '../platform/config';
import { parseWalletKeys } from './keyring';

/**
 * `WALLET_KEYS` (the first key seals, every listed one opens), where callback links point, and the
 * environment: in production a missing key stops the start; elsewhere a throw-away key is made
 * and loudly logged. A bad key is refused everywhere, and no message quotes one.
 */
export const walletSettings = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).optional(),
    WALLET_KEYS: z.string().trim().min(1).optional(),
    CALLBACK_BASE_URL: z
      .string()
      .url()
      .refine((url) => /^https?:\/\//.test(url), 'must be an http(s) URL')
      .transform((url) => url.replace(/\/+$/, ''))
      .default('http://127.0.0.1:8081'),
    /**
     * How long a process serving callbacks keeps a link it resolved (0: never). Any change to a
     * link or a wallet drops them all at once, and nothing is kept while that news cannot reach it.
     */
    CALLBACK_LINK_CACHE_TTL: setting.duration.default(5000),
    /** When the daily check of QIWI keys about to expire runs (the worker's time zone). */
    WALLET_KEY_EXPIRY_CRON: setting.crontab.default('0 6 * * *'),
  })
  .superRefine((settings, ctx) => {
    if (settings.WALLET_KEYS === undefined) {
      if (settings.NODE_ENV === 'production') {
        ctx.addIssue({ code: 'custom', path: ['WALLET_KEYS'], message: 'required when NODE_ENV=production (id:base64-of-32-bytes, e.g. k1:$(openssl rand -base64 32))' });
      }
      return;
    }
    for (const problem of parseWalletKeys(settings.WALLET_KEYS).problems) ctx.addIssue({ code: 'custom', path: ['WALLET_KEYS'], message: problem });
  });

export type WalletSettings = z.infer<typeof walletSettings>;
