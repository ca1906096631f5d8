import { createHash } from 'node:crypto';
import type { Refusal } from '../topups/transaction';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { minorDigits } from '../platform/money';
import { parseMajorDecimal } from './amounts';
import { isAccount, isExternalId } from './identifiers';
import { requestParameters } from './parameters';
import { sameSecret } from './secrets';

/**
 * IDRAM (Armenia), the Idram Merchant API's result URL.
 *
 * Sources (payment-systems.md): the vendor's merchant interface description [S13] — documented:
 * two url-encoded POSTs, a precheck (`EDP_PRECHECK=YES`, `EDP_BILL_NO`, `EDP_REC_ACCOUNT`,
 * `EDP_AMOUNT`) and a confirmation (adds `EDP_PAYER_ACCOUNT`, `EDP_TRANS_ID`, `EDP_TRANS_DATE`,
 * `EDP_CHECKSUM`), both answered with the plain text `OK`; `EDP_CHECKSUM` = MD5 hex of
 * `REC_ACCOUNT:AMOUNT:SECRET_KEY:BILL_NO:PAYER_ACCOUNT:TRANS_ID:TRANS_DATE`, compared without
 * regard to case [S13][S14]. Inferred from public handlers [S14]: the fields are hashed exactly as
 * sent (`EDP_TRANS_DATE` as `dd/mm/yyyy`, `EDP_AMOUNT` as `1900.00`).
 *
 * Our decisions (assumed; nothing public covers a top-up):
 * - The driver account travels in `EDP_BILL_NO`: Idram's "bill" is what the payer pays, and for
 *   a top-up that is the driver (their `driverId`, or phone with the country code, as
 *   contracts.md has it). `EDP_REC_ACCOUNT` must be the wallet's `recAccount`.
 * - Precheck = the core's check; confirmation = pay, keyed by `EDP_TRANS_ID`. A repeated
 *   confirmation gets its first answer (`OK` for a payment taken) and credits nothing.
 * - A refusal is any answer but `OK` (Idram then stops the payment, or e-mails the merchant about
 *   a confirmation): we answer HTTP 200 with `ERROR: <reason>` as plain text. A revoked or unknown
 *   link, a wrong `EDP_REC_ACCOUNT` and a bad checksum all get `ERROR: access denied` (nothing
 *   says which). Our own failure is HTTP 503 `ERROR: temporary failure`.
 * - The precheck carries no checksum: the link's secret and `EDP_REC_ACCOUNT` are all it has.
 */

const TEXT = 'text/plain; charset=utf-8';

const REFUSALS: Record<Refusal, string> = {
  UNKNOWN_DRIVER: 'account not found',
  DRIVER_FIRED: 'account not active',
  PARK_DISABLED: 'payments not accepted',
  WALLET_DISABLED: 'payments not accepted',
  AMOUNT_TOO_SMALL: 'amount too small',
  AMOUNT_TOO_LARGE: 'amount too large',
};

/** A stored transaction's reason in this protocol's terms; a reason another flow may store (none of this system's today) is a plain refusal. */
const refusalText = (reason: string): string => REFUSALS[reason as Refusal] ?? 'payment refused';

const ok = (): CallbackAnswer => ({ status: 200, contentType: TEXT, body: 'OK' });
const refuse = (reason: string, refusal?: string, status = 200): CallbackAnswer => ({ status, contentType: TEXT, body: `ERROR: ${reason}`, refusal });

/** EDP_CHECKSUM of a confirmation, from the fields as sent. */
export function idramChecksum(fields: { recAccount: string; amount: string; secretKey: string; billNo: string; payerAccount: string; transId: string; transDate: string }): string {
  const { recAccount, amount, secretKey, billNo, payerAccount, transId, transDate } = fields;
  return createHash('md5').update(`${recAccount}:${amount}:${secretKey}:${billNo}:${payerAccount}:${transId}:${transDate}`, 'utf8').digest('hex');
}

async function handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
  const form = requestParameters(request);
  const field = (name: string): string | undefined => form[name];
  const credentials = core?.credentials();
  if (!core) return refuse('access denied');
  if (!credentials?.recAccount || !credentials.secretKey) return refuse('access denied', 'BAD_CREDENTIALS');
  const recAccount = field('EDP_REC_ACCOUNT');
  if (!sameSecret(recAccount, credentials.recAccount)) return refuse('access denied', 'BAD_CREDENTIALS');
  const billNo = field('EDP_BILL_NO');
  const amountText = field('EDP_AMOUNT');
  const precheck = field('EDP_PRECHECK') === 'YES';

  if (!precheck) {
    const [payerAccount, transId, transDate, checksum] = ['EDP_PAYER_ACCOUNT', 'EDP_TRANS_ID', 'EDP_TRANS_DATE', 'EDP_CHECKSUM'].map(field);
    if ([billNo, amountText, payerAccount, transId, transDate, checksum].some((value) => value === undefined)) return refuse('missing fields', 'BAD_REQUEST');
    const expected = idramChecksum({ recAccount: recAccount!, amount: amountText!, secretKey: credentials.secretKey, billNo: billNo!, payerAccount: payerAccount!, transId: transId!, transDate: transDate! });
    if (!sameSecret(checksum!.toLowerCase(), expected)) return refuse('access denied', 'BAD_SIGNATURE');
    if (!isExternalId(transId)) return refuse('malformed EDP_TRANS_ID', 'BAD_REQUEST');
  }
  if (!isAccount(billNo)) return refuse('malformed EDP_BILL_NO', 'BAD_ACCOUNT');
  const amount = parseMajorDecimal(amountText, minorDigits(core.wallet.currency));
  if (!amount.ok) return refuse('invalid amount', 'BAD_AMOUNT');

  if (precheck) {
    const checked = await core.check(billNo, amount.minor);
    return checked.ok ? ok() : refuse(refusalText(checked.refusal));
  }
  const paid = await core.pay(field('EDP_TRANS_ID')!, billNo, amount.minor);
  return paid.refusal ? refuse(refusalText(paid.refusal)) : ok();
}

export const idramAdapter: PaymentSystemAdapter = {
  system: 'IDRAM',
  handle,
  transientFailure: () => refuse('temporary failure', undefined, 503),
};
