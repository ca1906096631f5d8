import type { Refusal, TransactionRow } from '../topups/transaction';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { parseMinorInteger, type AmountProblem } from './amounts';
import { isAccount, isExternalId } from './identifiers';
import { sameSecret } from './secrets';
import { elements, parseXml, textOf, XML_DECLARATION } from './xml';

/**
 * CITY24: POST of an XML `commandCall`, answered with a `commandResponse`.
 *
 * Sources (payment-systems.md): ABillS test fixtures and response schemas [S4] — inferred: the
 * request (`login`, `password`, `command` = `check` | `pay` | `cancel` | `check_status`,
 * `transactionID`, `payElementID`, `account`, `payID`; check adds `userEnterAmount`, pay adds
 * `amount`, `payTimestamp`, `terminalId`), amounts as integers in minor units, and the answer's
 * elements per command (check: `account`, `comment`, `fields`?, `result`; pay: `account`,
 * `comment`, `extTransactionID`, `result`; check_status and cancel: `comment`,
 * `extTransactionID`, `result`). Assumed: the result codes, which the fixtures do not show; the
 * iBox network's identical `commandCall` uses the OSMP codes [S6]: 0 OK, 1 temporary error,
 * 4 bad account format, 5 account not found, 7 payment forbidden, 79 account not active, 241/242
 * amount too small/large, 300 other error.
 *
 * Mapping: `login` and `password` are compared in constant time with the wallet's credentials; a
 * wrong one, like an unknown or revoked link, is 7 (contracts.md: OSMP-style refusals are 7).
 * `check` = the core's check; `pay` = pay keyed by `transactionID` (a repeat gets its first
 * answer, `extTransactionID` included, and credits nothing); `check_status` reads the payment
 * (0 while accepted or credited, the refusal's code when refused, 300 when unknown). `cancel` is
 * refused with 7 for a payment accepted or credited: we never take back a driver's credited
 * top-up (the park settles that with the payer); a payment we refused was never credited, so its
 * cancel is 0. A malformed request or amount is 300 (an amount of zero or less 241, one beyond a
 * bigint 242). `extTransactionID` is our transaction id.
 */

const CONTENT_TYPE = 'text/xml; charset=utf-8';

const CODES = { OK: 0, TEMPORARY: 1, BAD_ACCOUNT: 4, NOT_FOUND: 5, FORBIDDEN: 7, NOT_ACTIVE: 79, TOO_SMALL: 241, TOO_LARGE: 242, OTHER: 300 } as const;

const REFUSALS: Record<Refusal, { result: number; comment: string }> = {
  UNKNOWN_DRIVER: { result: CODES.NOT_FOUND, comment: 'account not found' },
  DRIVER_FIRED: { result: CODES.NOT_ACTIVE, comment: 'account not active' },
  PARK_DISABLED: { result: CODES.FORBIDDEN, comment: 'payment forbidden' },
  WALLET_DISABLED: { result: CODES.FORBIDDEN, comment: 'payment forbidden' },
  AMOUNT_TOO_SMALL: { result: CODES.TOO_SMALL, comment: 'amount too small' },
  AMOUNT_TOO_LARGE: { result: CODES.TOO_LARGE, comment: 'amount too large' },
};

/** A stored transaction's reason in this protocol's terms; a reason another flow may store (none of this system's today) is a plain refusal. */
const refusalOf = (reason: string | null) => REFUSALS[reason as Refusal] ?? { result: CODES.FORBIDDEN, comment: 'payment refused' };

const AMOUNT_PROBLEMS: Record<AmountProblem, Answer> = {
  MALFORMED: { result: CODES.OTHER, comment: 'invalid amount', refusal: 'BAD_AMOUNT' },
  TOO_PRECISE: { result: CODES.OTHER, comment: 'invalid amount', refusal: 'BAD_AMOUNT' },
  NOT_POSITIVE: { result: CODES.TOO_SMALL, comment: 'amount too small', refusal: 'BAD_AMOUNT' },
  OVERFLOW: { result: CODES.TOO_LARGE, comment: 'amount too large', refusal: 'BAD_AMOUNT' },
};

interface Answer {
  result: number;
  comment: string;
  account?: string;
  extTransactionID?: string;
  refusal?: string;
}

const MALFORMED = (comment: string): Answer => ({ result: CODES.OTHER, comment, refusal: 'BAD_REQUEST' });
const BAD_ACCOUNT: Answer = { result: CODES.BAD_ACCOUNT, comment: 'bad account format', refusal: 'BAD_ACCOUNT' };

function render(answer: Answer): CallbackAnswer {
  const body = elements([
    ['account', answer.account],
    ['comment', answer.comment],
    ['extTransactionID', answer.extTransactionID],
    ['result', answer.result],
  ]);
  return { status: 200, contentType: CONTENT_TYPE, body: `${XML_DECLARATION}\n<commandResponse>${body}</commandResponse>`, refusal: answer.refusal };
}

/** The answer a payment got (and gets again when repeated). */
function answerOf(transaction: TransactionRow, account?: string): Answer {
  const refusal = transaction.status === 'REJECTED' ? refusalOf(transaction.reason) : null;
  return { ...(refusal ?? { result: CODES.OK, comment: 'OK' }), account, extTransactionID: transaction.id };
}

async function handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
  const call = parseXml(request.body)?.commandCall;
  const field = (name: string) => textOf(call, name);
  const command = field('command');
  if (call === undefined || command === undefined) return render(MALFORMED('malformed request'));
  const credentials = core?.credentials();
  // Both compared, always: the time taken says nothing about which was wrong.
  const loginOk = sameSecret(field('login'), credentials?.login);
  const passwordOk = sameSecret(field('password'), credentials?.password);
  if (!core) return render({ result: CODES.FORBIDDEN, comment: 'access denied' });
  if (!loginOk || !passwordOk) return render({ result: CODES.FORBIDDEN, comment: 'access denied', refusal: 'BAD_CREDENTIALS' });

  switch (command) {
    case 'check':
      return render(await check(core, field('account'), field('userEnterAmount')));
    case 'pay':
      return render(await pay(core, field('transactionID'), field('account'), field('amount')));
    case 'check_status':
    case 'cancel': {
      const transactionID = field('transactionID');
      if (!isExternalId(transactionID)) return render(MALFORMED('malformed transactionID'));
      const transaction = await core.find(transactionID);
      if (!transaction) return render({ result: CODES.OTHER, comment: 'transaction not found' });
      if (command === 'check_status') return render({ ...answerOf(transaction), account: undefined });
      return render(
        transaction.status === 'REJECTED'
          ? { result: CODES.OK, comment: 'cancelled: the payment was never credited', extTransactionID: transaction.id }
          : { result: CODES.FORBIDDEN, comment: 'cancel refused: a credited top-up is not reversed', extTransactionID: transaction.id },
      );
    }
    default:
      return render(MALFORMED('unknown command'));
  }
}

async function check(core: CallbackCore, account: string | undefined, amountText: string | undefined): Promise<Answer> {
  if (!isAccount(account)) return BAD_ACCOUNT;
  let amount: bigint | null = null;
  if (amountText !== undefined && amountText !== '') {
    const parsed = parseMinorInteger(amountText);
    if (!parsed.ok) return { ...AMOUNT_PROBLEMS[parsed.problem], account };
    amount = parsed.minor;
  }
  const checked = await core.check(account, amount);
  return checked.ok ? { result: CODES.OK, comment: 'OK', account } : { ...refusalOf(checked.refusal), account };
}

async function pay(core: CallbackCore, transactionID: string | undefined, account: string | undefined, amountText: string | undefined): Promise<Answer> {
  if (!isExternalId(transactionID)) return MALFORMED('malformed transactionID');
  if (!isAccount(account)) return BAD_ACCOUNT;
  const amount = parseMinorInteger(amountText);
  if (!amount.ok) return { ...AMOUNT_PROBLEMS[amount.problem], account };
  const paid = await core.pay(transactionID, account, amount.minor);
  if (!paid.transaction) return { ...refusalOf(paid.refusal), account };
  return answerOf(paid.transaction, account);
}

export const city24Adapter: PaymentSystemAdapter = {
  system: 'CITY24',
  handle,
  transientFailure: () => render({ result: CODES.TEMPORARY, comment: 'temporary error, retry later' }),
};
