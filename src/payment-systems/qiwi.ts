import { osmpAdapter } from './osmp';

/**
 * QIWI terminals' provider protocol (check/pay, documented: dev.qiwi.com, payment-systems.md [S1–S3]).
 * Authenticated by QIWI's source addresses (`QIWI_ALLOWED_IPS`: 79.142.16.0/20, 91.232.230.0/23) and
 * the link's secret; the protocol has no message signature. QIWI wallet top-ups from the Pro app are
 * bills and polling (`createTopUp`), not this.
 */
export const qiwiAdapter = osmpAdapter('QIWI');
