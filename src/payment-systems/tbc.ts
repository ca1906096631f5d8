import { osmpAdapter, QIWI_CODES } from './osmp';

/**
 * TBC Pay (Georgia, GEL). INFERRED from a public NestJS integration (payment-systems.md [S15]):
 * `command=check|pay`, `account`, `txn_id`, `sum` ("500.00") in the query; the OSMP XML answer with
 * TBC's own codes: 0 OK, 1 temporary, 4 bad format, 5 not found, 7 prohibited, 215 duplicate,
 * 275 invalid amount, 300 other. TBC has no "account not active": a fired driver is 7.
 *
 * Duplicates: contracts.md answers a repeat with the first answer unless the protocol has a code for
 * a duplicate, and TBC's is 215, so a repeated pay of a credited payment gets 215 (with our
 * `prv_txn`) and credits nothing. A repeat of a pay we refused gets that refusal again: 215 could be
 * read as "already paid". payment-systems.md asks to confirm 215 with TBC.
 * Requests are IP-filtered (`TBC_ALLOWED_IPS`) on top of the link's secret.
 */
export const tbcAdapter = osmpAdapter('TBC', {
  ...QIWI_CODES,
  accountNotActive: 7,
  amountTooSmall: 275,
  amountTooLarge: 275,
  badAmount: 275,
  duplicate: 215,
});
