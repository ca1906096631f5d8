import { createHash, createHmac, createPrivateKey, createPublicKey, createSign, createVerify } from 'node:crypto';
import { WITHDRAWN, type Refusal } from '../topups/transaction';
import { localClock } from '../topups/xlsx';
import type { Credentials } from '../wallets/payment-systems';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { minorDigits } from '../platform/money';
import { parseMajorDecimal } from './amounts';
import { isAccount, isExternalId } from './identifiers';
import { sameSecret } from './secrets';
import { childNames, childOf, elements, parseXml, textOf, XML_DECLARATION, type XmlValue } from './xml';

/**
 * EASYPAY: EasyPay.ua's provider protocol "EasySoft-Provider v3.1" — inferred, not documented:
 * the vendor's specification is not public. Sources (payment-systems.md): dshovchko/php_EasyPay
 * [S18] (request and answer shapes, the signature, its own error codes) and ABillS' fixture [S4]
 * (literal requests). Which "Easypay" the product means is not settled (EasyPay Belarus, EasyPay
 * Armenia also exist): this is the Ukrainian one, whose check/credit steps fit a terminal top-up.
 *
 * Protocol: POST of `<Request><DateTime/><Sign/>` and one of `Check` (`ServiceId`, `Account`),
 * `Payment` (`ServiceId`, `OrderId`, `Account`, `Amount` a decimal in major units of the wallet's
 * currency, UAH, with at most its minor digits), `Confirm` (`ServiceId`, `PaymentId`), `Cancel`
 * (`ServiceId`, `PaymentId`). Answer: `<Response><StatusCode/><StatusDetail/><DateTime/>` +
 * `AccountInfo` | `PaymentId` | `OrderDate` | `CancelDate`, then
 * `<Sign/>`. `Sign` is RSA with SHA-1 (OpenSSL's default), upper-case hex, over the document with
 * the `Sign` value taken out: a request is checked with EasySoft's public key
 * (`providerPublicKey`) after removing its `Sign` value from the raw bytes, as php_EasyPay does;
 * our answer is signed with our private key (`ourPrivateKey`) with an empty `<Sign></Sign>`,
 * then the value is put in.
 *
 * Payment then Confirm, mapped onto the core's single `pay` (our design): `Payment` only checks
 * the driver and amount and hands back a `PaymentId` that carries the order itself —
 * `OrderId.amount.account(base64url).mac`, the mac an HMAC-SHA256 under a key derived from our
 * private key and bound to the wallet, so nobody else can make one and it names nothing of
 * another park. `Confirm` opens it and calls `pay` with `OrderId` as the external id: the one
 * credit happens there, and a repeated `Payment` or `Confirm` gets the same `PaymentId` or
 * `OrderDate` (the first transaction's time, Kyiv local) and credits nothing. Nothing is kept
 * between the two, so the `PaymentId` is a string of up to ~150 characters (php_EasyPay passes
 * any string; ABillS uses a number: confirm the length EasyPay accepts). `Cancel` of a confirmed
 * payment is refused (code 8: we never take back a driver's credited top-up); of an unconfirmed
 * one it is accepted and recorded as a REJECTED `WITHDRAWN` transaction under the `OrderId` (the
 * core's `withdraw`), so a `Confirm` after it credits nothing (code 9), and a repeated `Cancel`
 * gets the same `CancelDate`. A new `ourPrivateKey` makes PaymentIds issued under the old one
 * unknown (code 7): the park changes it when no payment waits for its `Confirm`.
 *
 * StatusCode (assumed; non-zero is an error, the numbers are ours except php_EasyPay's -57, -58
 * and -95): 0 OK; 1 temporary error; 2 account not found; 3 account not active (fired); 4
 * payments not accepted (park or wallet off, unknown or revoked link); 5 invalid amount
 * (malformed, over-precise, not positive, overflowing); 6 amount out of the wallet's bounds; 7
 * unknown PaymentId; 8 a confirmed payment is not cancelled; 9 a cancelled payment is not
 * confirmed; -57 error in request (not XML, no or two operations, missing fields); -58 another
 * ServiceId; -95 bad signature. Answers are signed whenever the wallet's key is at hand: not
 * for an unknown or revoked link, nor for the "temporary error" of our own failure (the key is
 * the wallet's, and that answer has none).
 */

const CONTENT_TYPE = 'text/xml; charset=utf-8';

const CODES = {
  OK: 0,
  TEMPORARY: 1,
  NOT_FOUND: 2,
  NOT_ACTIVE: 3,
  FORBIDDEN: 4,
  INVALID_AMOUNT: 5,
  AMOUNT_OUT_OF_BOUNDS: 6,
  UNKNOWN_PAYMENT: 7,
  CONFIRMED: 8,
  CANCELLED: 9,
  BAD_REQUEST: -57,
  NOT_FOR_US: -58,
  BAD_SIGN: -95,
} as const;

const REFUSALS: Record<Refusal, { code: number; detail: string }> = {
  UNKNOWN_DRIVER: { code: CODES.NOT_FOUND, detail: 'account not found' },
  DRIVER_FIRED: { code: CODES.NOT_ACTIVE, detail: 'account not active' },
  PARK_DISABLED: { code: CODES.FORBIDDEN, detail: 'payments not accepted' },
  WALLET_DISABLED: { code: CODES.FORBIDDEN, detail: 'payments not accepted' },
  AMOUNT_TOO_SMALL: { code: CODES.AMOUNT_OUT_OF_BOUNDS, detail: 'amount too small' },
  AMOUNT_TOO_LARGE: { code: CODES.AMOUNT_OUT_OF_BOUNDS, detail: 'amount too large' },
};

/** A stored transaction's reason in this protocol's terms; a reason another flow may store (none of this system's today) is a plain refusal. */
const refusalOf = (reason: string | null): Answer => REFUSALS[reason as Refusal] ?? { code: CODES.FORBIDDEN, detail: 'payment refused' };

const OPERATIONS = ['Check', 'Payment', 'Confirm', 'Cancel'] as const;
type Operation = (typeof OPERATIONS)[number];


interface Answer {
  code: number;
  detail: string;
  /** What follows `DateTime`: the operation's own elements, already XML. */
  extra?: string;
  refusal?: string;
}

const BAD_REQUEST: Answer = { code: CODES.BAD_REQUEST, detail: 'Error in request', refusal: 'BAD_REQUEST' };
const CANCELLED: Answer = { code: CODES.CANCELLED, detail: 'the payment was cancelled' };
const UNKNOWN_PAYMENT: Answer = { code: CODES.UNKNOWN_PAYMENT, detail: 'payment not found', refusal: 'BAD_REQUEST' };

const kyivClock = localClock('Europe/Kyiv');

/**
 * A time as php_EasyPay writes it: local, without a zone (`2017-10-16T15:12:32`). EasyPay.ua's
 * local time is Kyiv's (assumed: the protocol names no zone).
 */
export function easypayDateTime(at: Date): string {
  return kyivClock(at).toISOString().slice(0, 19);
}

/** Signs `<Response>…<Sign></Sign></Response>` and puts the signature in; unsigned without a usable key. */
function render(answer: Answer, privateKeyPem: string | undefined): CallbackAnswer {
  const head = elements([
    ['StatusCode', answer.code],
    ['StatusDetail', answer.detail],
    ['DateTime', easypayDateTime(new Date())],
  ]);
  const unsigned = `${XML_DECLARATION}\n<Response>${head}${answer.extra ?? ''}<Sign></Sign></Response>`;
  const signature = privateKeyPem ? signXml(unsigned, privateKeyPem) : null;
  const body = signature ? unsigned.replace('<Sign></Sign>', `<Sign>${signature}</Sign>`) : unsigned;
  return { status: 200, contentType: CONTENT_TYPE, body, refusal: answer.refusal };
}

/** RSA-SHA1 in upper-case hex, or null when the key cannot sign. */
export function signXml(xml: string, privateKeyPem: string): string | null {
  try {
    return createSign('RSA-SHA1').update(xml, 'latin1').sign(createPrivateKey(privateKeyPem)).toString('hex').toUpperCase();
  } catch {
    return null;
  }
}

/** Checks a request's `Sign`: the raw bytes with every copy of its value removed, as php_EasyPay verifies. */
export function verifyRequestSign(body: Buffer, sign: string | undefined, publicKeyPem: string): boolean {
  if (!sign || !/^(?:[0-9a-fA-F]{2})+$/.test(sign)) return false;
  try {
    const signed = body.toString('latin1').split(sign).join('');
    return createVerify('RSA-SHA1').update(signed, 'latin1').verify(createPublicKey(publicKeyPem), Buffer.from(sign, 'hex'));
  } catch {
    return false;
  }
}


/** The key that seals PaymentIds: derived from our private key, so it needs no credential of its own. */
function paymentIdKey(credentials: Credentials): Buffer {
  return createHash('sha256').update('easypay-payment-id\0').update(credentials.ourPrivateKey ?? '').digest();
}

function paymentIdMac(credentials: Credentials, walletId: string, orderId: string, amount: bigint, account: string): string {
  return createHmac('sha256', paymentIdKey(credentials)).update(`${walletId}\0${orderId}\0${amount}\0${account}`).digest('base64url').slice(0, 22);
}

export function paymentIdOf(credentials: Credentials, walletId: string, order: { orderId: string; amount: bigint; account: string }): string {
  const { orderId, amount, account } = order;
  return `${orderId}.${amount}.${Buffer.from(account, 'utf8').toString('base64url')}.${paymentIdMac(credentials, walletId, orderId, amount, account)}`;
}

/** The order a PaymentId of ours carries, or null for anything we did not issue to this wallet. */
export function orderOf(credentials: Credentials, walletId: string, paymentId: string | undefined): { orderId: string; amount: bigint; account: string } | null {
  const match = /^([^.]+)\.(\d{1,19})\.([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{22})$/.exec(paymentId ?? '');
  if (!match) return null;
  const [, orderId, amountText, accountText, mac] = match;
  const amount = BigInt(amountText!);
  const account = Buffer.from(accountText!, 'base64url').toString('utf8');
  if (!isExternalId(orderId) || !isAccount(account)) return null;
  return sameSecret(mac, paymentIdMac(credentials, walletId, orderId!, amount, account)) ? { orderId: orderId!, amount, account } : null;
}

/** The operation and its element, or null when the request is not one we can read. */
function parseRequest(body: Buffer): { operation: Operation; element: XmlValue; sign: string | undefined } | null {
  const root = childOf(parseXml(body) ?? undefined, 'Request');
  const present = childNames(root).filter((name) => OPERATIONS.includes(name as Operation));
  if (present.length !== 1) return null;
  const operation = present[0] as Operation;
  const element = childOf(root, operation);
  if (element === undefined || textOf(root, 'DateTime') === undefined) return null;
  return { operation, element, sign: textOf(root, 'Sign') };
}

async function handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
  const credentials = core?.credentials() ?? null;
  const privateKey = credentials?.ourPrivateKey;
  const parsed = parseRequest(request.body);
  if (!core) return render({ code: CODES.FORBIDDEN, detail: 'payments not accepted' }, privateKey);
  if (!credentials?.providerPublicKey) return render({ code: CODES.FORBIDDEN, detail: 'payments not accepted', refusal: 'BAD_CREDENTIALS' }, privateKey);
  if (!parsed) return render(BAD_REQUEST, privateKey);
  if (!verifyRequestSign(request.body, parsed.sign, credentials.providerPublicKey)) return render({ code: CODES.BAD_SIGN, detail: 'Signature of request is incorrect', refusal: 'BAD_SIGNATURE' }, privateKey);
  const { operation, element } = parsed;
  const serviceId = textOf(element, 'ServiceId');
  if (serviceId === undefined) return render(BAD_REQUEST, privateKey);
  if (credentials.serviceId !== undefined && serviceId !== credentials.serviceId) return render({ code: CODES.NOT_FOR_US, detail: 'This request is not for us', refusal: 'BAD_REQUEST' }, privateKey);
  const answer = await answerFor(core, credentials, operation, element);
  return render(answer, privateKey);
}

async function answerFor(core: CallbackCore, credentials: Credentials, operation: Operation, element: XmlValue): Promise<Answer> {
  const field = (name: string) => textOf(element, name);
  switch (operation) {
    case 'Check': {
      const account = field('Account');
      if (!isAccount(account)) return BAD_REQUEST;
      const checked = await core.check(account, null);
      return checked.ok ? { code: CODES.OK, detail: 'checked', extra: `<AccountInfo>${elements([['Account', account]])}</AccountInfo>` } : refusalOf(checked.refusal);
    }
    case 'Payment': {
      const [orderId, account] = [field('OrderId'), field('Account')];
      if (!isExternalId(orderId) || orderId.includes('.') || !isAccount(account)) return BAD_REQUEST;
      const amount = parseMajorDecimal(field('Amount'), minorDigits(core.wallet.currency));
      if (!amount.ok) return { code: CODES.INVALID_AMOUNT, detail: 'invalid amount', refusal: 'BAD_AMOUNT' };
      // A Payment repeated after its Confirm gets its PaymentId again whatever changed since; after its Cancel, code 9.
      const known = await core.find(orderId);
      if (known?.reason === WITHDRAWN) return CANCELLED;
      if (!known) {
        const checked = await core.check(account, amount.minor);
        if (!checked.ok) return refusalOf(checked.refusal);
      }
      const paymentId = paymentIdOf(credentials, core.wallet.id, { orderId, amount: amount.minor, account });
      return { code: CODES.OK, detail: 'checked', extra: elements([['PaymentId', paymentId]]) };
    }
    case 'Confirm': {
      const order = orderOf(credentials, core.wallet.id, field('PaymentId'));
      if (!order) return UNKNOWN_PAYMENT;
      const paid = await core.pay(order.orderId, order.account, order.amount);
      if (paid.transaction?.reason === WITHDRAWN) return CANCELLED;
      if (paid.refusal) return refusalOf(paid.refusal);
      return { code: CODES.OK, detail: 'checked', extra: elements([['OrderDate', easypayDateTime(paid.transaction!.created_at)]]) };
    }
    case 'Cancel': {
      const order = orderOf(credentials, core.wallet.id, field('PaymentId'));
      if (!order) return UNKNOWN_PAYMENT;
      // Recorded as withdrawn unless it is recorded already; a Confirm racing this one wins or loses on the unique key.
      const known = (await core.find(order.orderId)) ?? (await core.withdraw(order.orderId, order.account, order.amount));
      if (known && known.status !== 'REJECTED') return { code: CODES.CONFIRMED, detail: 'a confirmed payment is not cancelled' };
      return { code: CODES.OK, detail: 'checked', extra: elements([['CancelDate', easypayDateTime(known?.created_at ?? new Date())]]) };
    }
  }
}

export const easypayAdapter: PaymentSystemAdapter = {
  system: 'EASYPAY',
  handle,
  transientFailure: () => render({ code: CODES.TEMPORARY, detail: 'temporary error, retry later' }, undefined),
};
