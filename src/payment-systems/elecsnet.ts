import { osmpAdapter } from './osmp';

/**
 * Elecsnet (RUB). ASSUMED: only a provider catalogue is public and the design doc says "request
 * with parameters"; we assume the QIWI provider protocol (payment-systems.md), authenticated by
 * `ELECSNET_ALLOWED_IPS` and the link's secret.
 */
export const elecsnetAdapter = osmpAdapter('ELECSNET');
