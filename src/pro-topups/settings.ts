import { z } from 'zod';
import { setting } from '../platform/config';

const baseUrl = z
  .string()
  .url()
  .refine((url) => /^https?:\/\//.test(url), 'must be an http(s) URL')
  .transform((url) => url.replace(/\/+$/, ''));

/** Where the payment systems' APIs are, how long a top-up may wait for its payment, how their HTTP calls behave. */
export const proTopUpSettings = z.object({
  QIWI_API_URL: baseUrl.default('https://api.qiwi.com'),
  PAYSTACK_API_URL: baseUrl.default('https://api.paystack.co'),
  /** A QIWI bill is polled until then, then rejected at QIWI (QIWI's own limit is 45 days). */
  QIWI_BILL_TTL: setting.duration.default(3_600_000),
  QIWI_POLL_INTERVAL: setting.duration.default(15_000),
  /** Paystack's webhook credits; once this is up, verify says what became of the top-up. */
  PAYSTACK_TOPUP_TTL: setting.duration.default(24 * 3_600_000),
  /** Paystack needs a customer e-mail: `<parkId>.<driverId>@` this domain. */
  PAYSTACK_EMAIL_DOMAIN: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be a domain name')
    .default('drivers.example.com'),
  /** Each HTTP attempt's limit, the attempts in all, the first pause between them (doubling). */
  PAYMENT_API_TIMEOUT: setting.duration.default(10_000),
  PAYMENT_API_ATTEMPTS: setting.positiveInt.max(10).default(3),
  PAYMENT_API_BACKOFF: setting.duration.default(500),
});

export type ProTopUpSettings = z.infer<typeof proTopUpSettings>;
