import { osmpAdapter } from './osmp';

/**
 * TellCell (Armenia, AMD) terminals. ASSUMED: the design doc's "request with parameters, XML
 * response" is read as the QIWI provider protocol (payment-systems.md). The public Telcell Money
 * API is invoice-based (MD5 `checksum` with a shop key) and does not fit check/pay; the wallet's
 * `issuerId`/`shopKey` are kept for it but this adapter does not use them. Authenticated by
 * `TELLCELL_ALLOWED_IPS` and the link's secret.
 */
export const tellcellAdapter = osmpAdapter('TELLCELL');
