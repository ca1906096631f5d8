import { osmpAdapter } from './osmp';

/**
 * Mobilnik (Kyrgyzstan, KGS). ASSUMED: only its acquiring widget is public; Kyrgyz integrations in
 * public code use the OSMP codes, so we assume the QIWI provider protocol (payment-systems.md),
 * authenticated by `MOBILNIK_ALLOWED_IPS` and the link's secret.
 */
export const mobilnikAdapter = osmpAdapter('MOBILNIK');
