import { osmpAdapter } from './osmp';

/**
 * QIWI QVP. ASSUMED: the system is not publicly identifiable and no callback specification exists;
 * we assume the QIWI provider protocol (payment-systems.md), authenticated by `QIWI_QVP_ALLOWED_IPS`
 * and the link's secret.
 */
export const qiwiQvpAdapter = osmpAdapter('QIWI_QVP');
