import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the callback server counts, per payment system. */
export function callbackMetrics(registry: Registry) {
  return {
    checks: new Counter({
      name: 'payouts_callback_checks_total',
      help: 'Account checks payment systems asked for, by payment system',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
    payments: new Counter({
      name: 'payouts_callback_payments_total',
      help: 'Payments recorded for crediting (new, not refused), by payment system',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'payouts_callback_duplicates_total',
      help: 'Repeated payments (a transaction id seen before: nothing credited), by payment system',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'payouts_callback_refusals_total',
      help:
        'Callbacks refused, by payment system and code: the top-up refusal (UNKNOWN_DRIVER, DRIVER_FIRED, …), the adapter\'s ' +
        "(BAD_REQUEST, BAD_ACCOUNT, BAD_AMOUNT, BAD_SIGNATURE, …) or the server's (UNKNOWN_LINK, ADDRESS_NOT_ALLOWED, RATE_LIMITED, TIMEOUT, OVERLOADED: too many payments waiting for the database, ERROR)",
      labelNames: ['payment_system', 'code'] as const,
      registers: [registry],
    }),
    answers: new Histogram({
      name: 'payouts_callback_answer_seconds',
      help: 'Time to answer a callback, by payment system and HTTP status',
      labelNames: ['payment_system', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers: [registry],
    }),
    parks: new Gauge({
      name: 'payouts_payment_system_parks',
      help: 'Parks whose drivers topped up through the system within PAYMENT_SYSTEM_USAGE_WINDOW (read at scrape time)',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
    drivers: new Gauge({
      name: 'payouts_payment_system_drivers',
      help: 'Drivers who topped up through the system within PAYMENT_SYSTEM_USAGE_WINDOW (read at scrape time)',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
  };
}

export type CallbackMetrics = ReturnType<typeof callbackMetrics>;
