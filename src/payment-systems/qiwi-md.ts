import { osmpAdapter } from './osmp';

/**
 * QIWI-M, Moldova's cash-in terminals (MDL). ASSUMED: no public callback specification exists; we
 * assume the QIWI provider protocol (payment-systems.md), authenticated by `QIWI_MD_ALLOWED_IPS`
 * and the link's secret.
 */
export const qiwiMdAdapter = osmpAdapter('QIWI_MD');
