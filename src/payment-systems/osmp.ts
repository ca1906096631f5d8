import type { Refusal, TransactionRow } from '../topups/transaction';
import type { PaymentSystem } from '../wallets/payment-systems';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { formatMajor, minorDigits } from '../platform/money';
import { parseMajorDecimal, type AmountProblem } from './amounts';
import { isAccount } from './identifiers';
import { requestParameters } from './parameters';
import { xmlAnswer } from './xml';

/**
 * The QIWI provider protocol ("OSMP" check/pay, payment-systems.md), which many CIS terminal
 * networks copy: `command=check|pay` with `txn_id`, `account`, `sum` (major units with a dot, at
 * most the wallet currency's minor digits: "10.45" RUB, "10" JPY, "10.045" KWD), optional `ccy`,
 * and for pay `txn_date` (YYYYMMDDHHMMSS), in the query (GET) or a url-encoded body (POST). The
 * answer is always HTTP 200 with XML: QIWI reads `result`, and repeats a request answered with a
 * non-fatal code (1) for up to 24 hours.
 *
 * A repeated pay for a known `txn_id` is answered 0 with the original `prv_txn` and `sum` (the
 * protocol has no duplicate code it requires, contracts.md wants the first answer). A system of the
 * family that answers a duplicate with a code of its own passes `duplicate` (TBC: 215).
 */
export interface OsmpCodes {
  ok: number;
  /** Our side failed for now (database down): "temporary error, retry". */
  temporary: number;
  badAccountFormat: number;
  accountNotFound: number;
  /** Forbidden by the provider: park or wallet disabled, an unknown or revoked link, a foreign currency. */
  forbidden: number;
  accountNotActive: number;
  amountTooSmall: number;
  amountTooLarge: number;
  /** A malformed, over-precise or overflowing amount. */
  badAmount: number;
  /** Anything else the request gets wrong (no command, no txn_id). */
  other: number;
  /** A code for a repeated pay, or null: answer the repeat as the first pay was answered. */
  duplicate: number | null;
}

/** The codes of the QIWI provider protocol [S1] and of the family's public implementations [S6][S7]. */
export const QIWI_CODES: OsmpCodes = {
  ok: 0,
  temporary: 1,
  badAccountFormat: 4,
  accountNotFound: 5,
  forbidden: 7,
  accountNotActive: 79,
  amountTooSmall: 241,
  amountTooLarge: 242,
  // The family has no "bad amount" code: 241 (too small) for zero or negative, 242 (too large) for
  // one past what we can hold, and 300 (other error) for one that is not a decimal with at most
  // the wallet currency's minor digits.
  badAmount: 300,
  other: 300,
  duplicate: null,
};

const COMMENTS: Record<string, string> = {
  ok: 'OK',
  temporary: 'Temporary error, retry later',
  badAccountFormat: 'Bad account format',
  accountNotFound: 'Account not found',
  forbidden: 'Payment forbidden by provider',
  accountNotActive: 'Account not active',
  amountTooSmall: 'Amount too small',
  amountTooLarge: 'Amount too large',
  badAmount: 'Invalid amount',
  other: 'Bad request',
  duplicate: 'Duplicate transaction',
};

/** `txn_id` is the network's numeric payment id. */
const TXN_ID = /^\d{1,20}$/;
const TXN_DATE = /^\d{14}$/;

type Outcome = keyof OsmpCodes;

export function osmpAdapter(system: PaymentSystem, codes: OsmpCodes = QIWI_CODES): PaymentSystemAdapter {
  const answer = (outcome: Outcome, fields: Record<string, string> = {}): CallbackAnswer =>
    xmlAnswer('response', { ...fields, result: String(codes[outcome]), comment: COMMENTS[outcome]! });
  /** A refusal of the request itself, before the core: named for the metrics. */
  const refuse = (outcome: Outcome, why: string, fields: Record<string, string>): CallbackAnswer => ({ ...answer(outcome, fields), refusal: why });

  const refusalAnswer = (refusal: Refusal, fields: Record<string, string>): CallbackAnswer => answer(REFUSAL_OUTCOME[refusal], fields);

  /** The first answer to a pay, rebuilt from its transaction. */
  const payAnswer = (txnId: string, transaction: TransactionRow): CallbackAnswer => {
    const fields = { osmp_txn_id: txnId, prv_txn: transaction.id, sum: formatMajor(transaction.amount, transaction.currency) };
    return transaction.status === 'REJECTED' ? refusalAnswer(transaction.reason as Refusal, fields) : answer('ok', fields);
  };

  /** A repeated pay: the duplicate code where the protocol has one (not for a pay we refused: it could read as paid), else the first answer. */
  const repeatAnswer = (txnId: string, transaction: TransactionRow): CallbackAnswer =>
    codes.duplicate !== null && transaction.status !== 'REJECTED'
      ? answer('duplicate', { osmp_txn_id: txnId, prv_txn: transaction.id })
      : payAnswer(txnId, transaction);

  return {
    system,
    async handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
      const params = requestParameters(request);
      const txnId = params.txn_id ?? '';
      const echo: Record<string, string> = TXN_ID.test(txnId) ? { osmp_txn_id: txnId } : {};
      if (!core) return answer('forbidden', echo);
      const command = params.command;
      if ((command !== 'check' && command !== 'pay' && command !== 'getInfo') || !TXN_ID.test(txnId)) return refuse('other', 'BAD_REQUEST', echo);
      // A driver id or a phone as a payer types it: letters, digits and a few separators.
      const account = params.account;
      if (!isAccount(account)) return refuse('badAccountFormat', 'BAD_ACCOUNT', echo);
      if (params.ccy !== undefined && params.ccy.toUpperCase() !== core.wallet.currency) return refuse('forbidden', 'FOREIGN_CURRENCY', echo);

      if (command === 'pay' && params.txn_date !== undefined && !TXN_DATE.test(params.txn_date)) return refuse('other', 'BAD_REQUEST', echo);
      const amount = parseMajorDecimal(params.sum, minorDigits(core.wallet.currency));
      // check may come without a sum (getInfo, some networks' check); pay may not.
      const sumGiven = params.sum !== undefined && params.sum !== '';
      if (!amount.ok && (command === 'pay' || sumGiven)) return refuse(AMOUNT_OUTCOME[amount.problem], 'BAD_AMOUNT', echo);
      const minor = amount.ok ? amount.minor : null;

      if (command !== 'pay') {
        const checked = await core.check(account, minor);
        return checked.ok ? answer('ok', echo) : refusalAnswer(checked.refusal, echo);
      }
      // A repeat (the txn_id seen before) is found by the core, which answers with the first payment and credits nothing.
      const paid = await core.pay(txnId, account, minor!);
      if (!paid.transaction) return refusalAnswer(paid.refusal ?? 'UNKNOWN_DRIVER', echo);
      return paid.created ? payAnswer(txnId, paid.transaction) : repeatAnswer(txnId, paid.transaction);
    },
    transientFailure: () => answer('temporary'),
  };
}

const REFUSAL_OUTCOME: Record<Refusal, Outcome> = {
  UNKNOWN_DRIVER: 'accountNotFound',
  DRIVER_FIRED: 'accountNotActive',
  PARK_DISABLED: 'forbidden',
  WALLET_DISABLED: 'forbidden',
  AMOUNT_TOO_SMALL: 'amountTooSmall',
  AMOUNT_TOO_LARGE: 'amountTooLarge',
};

const AMOUNT_OUTCOME: Record<AmountProblem, Outcome> = {
  MALFORMED: 'badAmount',
  TOO_PRECISE: 'badAmount',
  NOT_POSITIVE: 'amountTooSmall',
  OVERFLOW: 'amountTooLarge',
};
