import type { Refusal, TransactionRow } from '../topups/transaction';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { parseMinorInteger } from './amounts';
import { isAccount, isPositiveLong } from './identifiers';
import { sameSecret } from './secrets';
import { childNames, childOf, childrenOf, elements, xmlText, parseXml, textOf, XML_DECLARATION, type XmlValue } from './xml';

/**
 * UZPAYNET (Paynet, Uzbekistan): SOAP 1.1 `ProviderWebService`, namespace `http://uws.provider.com/`.
 *
 * Sources (payment-systems.md): the public WSDL/XSD and status list of sultonov/paynet-uz-php
 * [S16] and other public provider implementations [S17] — inferred. Requests are
 * `<soapenv:Body><ns1:XArguments>` with `username`, `password` and the operation's fields;
 * answers `<ns2:XResult>` with `errorMsg`, `status`, `timeStamp` and the operation's fields, in
 * the XSD's order. `GetInformation` = the core's check, `PerformTransaction` = pay (`amount` in
 * tiyin, `transactionId` a long: the key), `CheckTransaction` = the payment's state (1 done,
 * 2 cancelled). The account is the `parameters` entry keyed `clientid` or `account` (ABillS'
 * fixture sends `clientid`; Paynet configures the key per service — assumed).
 *
 * Our decisions:
 * - A repeated `transactionId` gets the stored answer (status 0 and the same `providerTrnId`, our
 *   transaction id) and credits nothing, as contracts.md wants; the public code answers 201
 *   "transaction already exists" instead (confirm with Paynet).
 * - Statuses: unknown or revoked link 601; wrong `username` or `password` (compared in constant
 *   time, both always) 412; a `serviceId` other than the wallet's (when it has one) 304; missing
 *   or malformed fields 411; a malformed, non-positive or overflowing amount and amounts out of
 *   the wallet's bounds 413; a bad `transactionTime` 414; unknown driver 302; fired driver 502
 *   (outside the provider's service area); park or wallet off 601; unknown transaction 305; our
 *   own failure 102.
 * - `CancelTransaction` of a payment accepted or credited is 77 (the public code's "cannot
 *   cancel"): we never take back a driver's credited top-up. A payment we refused was never
 *   credited: its cancel is 0 with state 2. `ChangePassword` is refused (601): the park changes
 *   the password in the wallet's credentials.
 * - `GetStatement` lists the payments we took in the period, both ends included (as the public
 *   code's `whereBetween`), with when we recorded each as its `transactionTime`; a period over 31
 *   days or of more than 100,000 payments is 414, so an answer stays a few megabytes. A time with no
 *   offset is read as Tashkent's (UTC+5) — assumed.
 * - Not XML, no SOAP Body, or no known operation: a SOAP 1.1 `Client` fault. SOAP 1.1 sends faults
 *   with HTTP 500; we send 400 (Client) and 503 (Server), since a 500 from this server must only
 *   ever mean a bug.
 */

const CONTENT_TYPE = 'text/xml; charset=utf-8';
const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const NAMESPACE = 'http://uws.provider.com/';

const STATUS = {
  OK: 0,
  CANNOT_CANCEL: 77,
  UNAVAILABLE: 100,
  SYSTEM_ERROR: 102,
  USER_NOT_FOUND: 302,
  SERVICE_NOT_FOUND: 304,
  TRANSACTION_NOT_FOUND: 305,
  MISSING_PARAMETERS: 411,
  WRONG_LOGIN: 412,
  INVALID_AMOUNT: 413,
  INVALID_DATE: 414,
  OUTSIDE_SERVICE_AREA: 502,
  ACCESS_DENIED: 601,
} as const;

const REFUSALS: Record<Refusal, { status: number; errorMsg: string }> = {
  UNKNOWN_DRIVER: { status: STATUS.USER_NOT_FOUND, errorMsg: 'User not found' },
  DRIVER_FIRED: { status: STATUS.OUTSIDE_SERVICE_AREA, errorMsg: 'User is not served' },
  PARK_DISABLED: { status: STATUS.ACCESS_DENIED, errorMsg: 'Access denied' },
  WALLET_DISABLED: { status: STATUS.ACCESS_DENIED, errorMsg: 'Access denied' },
  AMOUNT_TOO_SMALL: { status: STATUS.INVALID_AMOUNT, errorMsg: 'Invalid amount' },
  AMOUNT_TOO_LARGE: { status: STATUS.INVALID_AMOUNT, errorMsg: 'Invalid amount' },
};

/** A stored transaction's reason in this protocol's terms; a reason another flow may store (none of this system's today) is a plain refusal. */
const refusalOf = (reason: string | null) => REFUSALS[reason as Refusal] ?? { status: STATUS.ACCESS_DENIED, errorMsg: 'Payment refused' };

const OPERATIONS = ['GetInformation', 'PerformTransaction', 'CheckTransaction', 'CancelTransaction', 'GetStatement', 'ChangePassword'] as const;
type Operation = (typeof OPERATIONS)[number];

type Fields = ReadonlyArray<readonly [string, string | number | bigint | null | undefined]>;

interface Result {
  status: number;
  errorMsg: string;
  /** The operation's own fields after the generic ones, in the XSD's order. */
  fields?: Fields;
}

function envelope(inner: string): string {
  return `${XML_DECLARATION}\n<soapenv:Envelope xmlns:soapenv="${SOAP_ENV}"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;
}

function render(operation: Operation, result: Result, repeated = ''): CallbackAnswer {
  const generic = elements([
    ['errorMsg', result.errorMsg],
    ['status', result.status],
    ['timeStamp', new Date().toISOString()],
  ]);
  const body = `<ns2:${operation}Result xmlns:ns2="${NAMESPACE}">${generic}${elements(result.fields ?? [])}${repeated}</ns2:${operation}Result>`;
  return { status: 200, contentType: CONTENT_TYPE, body: envelope(body) };
}

function fault(code: 'Client' | 'Server', message: string): CallbackAnswer {
  const body = `<soapenv:Fault><faultcode>soapenv:${code}</faultcode><faultstring>${xmlText(message)}</faultstring></soapenv:Fault>`;
  return { status: code === 'Client' ? 400 : 503, contentType: CONTENT_TYPE, body: envelope(body), refusal: code === 'Client' ? 'BAD_REQUEST' : undefined };
}

/** Each operation's own fields when it failed before reaching a payment. */
function emptyFields(operation: Operation): Fields {
  if (operation === 'PerformTransaction') return [['providerTrnId', 0]];
  if (operation === 'CheckTransaction') return [['providerTrnId', 0], ['transactionState', 0], ['transactionStateErrorStatus', 0], ['transactionStateErrorMsg', '']];
  if (operation === 'CancelTransaction') return [['transactionState', 0]];
  return [];
}

function failure(operation: Operation, status: number, errorMsg: string, refusal?: string): CallbackAnswer {
  return { ...render(operation, { status, errorMsg, fields: emptyFields(operation) }), refusal };
}

/** The operation and its arguments, or null when the body is no SOAP request of ours. */
function parseCall(body: Buffer): { operation: Operation; args: XmlValue } | null {
  const soapBody = childOf(childOf(parseXml(body) ?? undefined, 'Envelope'), 'Body');
  const names = childNames(soapBody);
  if (names.length !== 1) return null;
  const operation = names[0]!.replace(/Arguments$/, '') as Operation;
  if (!names[0]!.endsWith('Arguments') || !OPERATIONS.includes(operation)) return null;
  const args = childOf(soapBody, names[0]!);
  // `<ns1:GetStatementArguments/>` parses as '': still the operation, with every field missing.
  return args === undefined ? null : { operation, args };
}

/** The payer's account: the `parameters` entry keyed `clientid` or `account`. */
function accountOf(args: XmlValue): string | undefined {
  for (const parameter of childrenOf(args, 'parameters')) {
    const key = textOf(parameter, 'paramKey')?.toLowerCase();
    if (key === 'clientid' || key === 'account') return textOf(parameter, 'paramValue');
  }
  return undefined;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/;

/** An `xs:dateTime` as an instant; one without an offset is Tashkent's time (UTC+5, no summer time: assumed). Null if malformed. */
function instantOf(text: string | undefined): Date | null {
  if (text === undefined || !DATE_TIME.test(text)) return null;
  const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}+05:00`);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** The longest period one `GetStatement` may cover, and the most payments it lists. */
const STATEMENT_MAX_DAYS = 31;
const STATEMENT_MAX_PAYMENTS = 100_000;

async function handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
  const call = parseCall(request.body);
  if (!call) return fault('Client', 'Not a ProviderWebService request');
  const { operation, args } = call;
  const credentials = core?.credentials();
  if (!core) return failure(operation, STATUS.ACCESS_DENIED, 'Access denied');
  if (!credentials) return failure(operation, STATUS.ACCESS_DENIED, 'Access denied', 'BAD_CREDENTIALS');
  const usernameOk = sameSecret(textOf(args, 'username'), credentials.username);
  const passwordOk = sameSecret(textOf(args, 'password'), credentials.password);
  if (!usernameOk || !passwordOk) return failure(operation, STATUS.WRONG_LOGIN, 'Wrong login', 'BAD_CREDENTIALS');
  // ChangePassword carries no serviceId (XSD).
  if (operation === 'ChangePassword') return failure(operation, STATUS.ACCESS_DENIED, "The password is changed in the park wallet's credentials");
  const serviceId = textOf(args, 'serviceId');
  if (serviceId === undefined) return failure(operation, STATUS.MISSING_PARAMETERS, 'Missing parameters: serviceId', 'BAD_REQUEST');
  if (credentials.serviceId !== undefined && serviceId !== credentials.serviceId) return failure(operation, STATUS.SERVICE_NOT_FOUND, 'Service not found', 'BAD_REQUEST');

  switch (operation) {
    case 'GetInformation':
      return getInformation(core, args);
    case 'PerformTransaction':
      return performTransaction(core, args);
    case 'CheckTransaction':
    case 'CancelTransaction':
      return transactionState(core, operation, args);
    case 'GetStatement':
      return getStatement(core, args);
  }
}

async function getInformation(core: CallbackCore, args: XmlValue): Promise<CallbackAnswer> {
  const account = accountOf(args);
  if (!isAccount(account)) return failure('GetInformation', STATUS.MISSING_PARAMETERS, 'Missing parameters: clientid', 'BAD_REQUEST');
  const checked = await core.check(account, null);
  return checked.ok ? render('GetInformation', { status: STATUS.OK, errorMsg: 'Success' }) : render('GetInformation', refusalOf(checked.refusal));
}

function performed(transaction: TransactionRow): CallbackAnswer {
  const refusal = transaction.status === 'REJECTED' ? refusalOf(transaction.reason) : { status: STATUS.OK, errorMsg: 'Success' };
  return render('PerformTransaction', { ...refusal, fields: [['providerTrnId', transaction.id]] });
}

async function performTransaction(core: CallbackCore, args: XmlValue): Promise<CallbackAnswer> {
  const transactionId = textOf(args, 'transactionId');
  const account = accountOf(args);
  if (!isPositiveLong(transactionId) || !isAccount(account)) return failure('PerformTransaction', STATUS.MISSING_PARAMETERS, 'Missing parameters: transactionId, clientid', 'BAD_REQUEST');
  const amount = parseMinorInteger(textOf(args, 'amount'));
  if (!amount.ok) return failure('PerformTransaction', STATUS.INVALID_AMOUNT, 'Invalid amount', 'BAD_AMOUNT');
  if (!instantOf(textOf(args, 'transactionTime'))) return failure('PerformTransaction', STATUS.INVALID_DATE, 'Invalid transactionTime', 'BAD_REQUEST');
  const paid = await core.pay(transactionId, account, amount.minor);
  return paid.transaction ? performed(paid.transaction) : failure('PerformTransaction', refusalOf(paid.refusal).status, refusalOf(paid.refusal).errorMsg);
}

/**
 * The payments of the period, both ends included, that we took (answered 0: accepted or credited),
 * oldest first, each a `statements` element (XSD `TransactionStatement`): `amount` in tiyin,
 * `providerTrnId`, `transactionId` and, as `transactionTime`, when we recorded it (Paynet's own
 * time of the payment is not kept). `onlyTransactionId` true lists the transactionIds alone.
 */
async function getStatement(core: CallbackCore, args: XmlValue): Promise<CallbackAnswer> {
  const [fromText, toText] = [textOf(args, 'dateFrom'), textOf(args, 'dateTo')];
  if (fromText === undefined || toText === undefined) return failure('GetStatement', STATUS.MISSING_PARAMETERS, 'Missing parameters: dateFrom, dateTo', 'BAD_REQUEST');
  const [from, to] = [instantOf(fromText), instantOf(toText)];
  if (!from || !to || from > to || to.getTime() - from.getTime() > STATEMENT_MAX_DAYS * 86_400_000) {
    return failure('GetStatement', STATUS.INVALID_DATE, `Invalid period: dateFrom not after dateTo, at most ${STATEMENT_MAX_DAYS} days`, 'BAD_REQUEST');
  }
  const payments = await core.statement(from, to, STATEMENT_MAX_PAYMENTS + 1);
  if (payments.length > STATEMENT_MAX_PAYMENTS) {
    return failure('GetStatement', STATUS.INVALID_DATE, `More than ${STATEMENT_MAX_PAYMENTS} payments in the period: ask for a shorter one`, 'BAD_REQUEST');
  }
  const onlyIds = textOf(args, 'onlyTransactionId')?.trim() === 'true';
  const statements = payments
    .map((t) => {
      const fields: Fields = onlyIds
        ? [['transactionId', t.external_id]]
        : [['amount', t.amount], ['providerTrnId', t.id], ['transactionId', t.external_id], ['transactionTime', t.created_at.toISOString()]];
      return `<statements>${elements(fields)}</statements>`;
    })
    .join('');
  return render('GetStatement', { status: STATUS.OK, errorMsg: 'Success' }, statements);
}

async function transactionState(core: CallbackCore, operation: 'CheckTransaction' | 'CancelTransaction', args: XmlValue): Promise<CallbackAnswer> {
  const transactionId = textOf(args, 'transactionId');
  if (!isPositiveLong(transactionId)) return failure(operation, STATUS.MISSING_PARAMETERS, 'Missing parameters: transactionId', 'BAD_REQUEST');
  const transaction = await core.find(transactionId);
  if (!transaction) return failure(operation, STATUS.TRANSACTION_NOT_FOUND, 'Transaction not found');
  const refused = transaction.status === 'REJECTED';
  if (operation === 'CancelTransaction') {
    return refused
      ? render(operation, { status: STATUS.OK, errorMsg: 'Success', fields: [['transactionState', 2]] })
      : render(operation, { status: STATUS.CANNOT_CANCEL, errorMsg: 'A credited top-up is not cancelled', fields: [['transactionState', 1]] });
  }
  const refusal = refused ? refusalOf(transaction.reason) : null;
  return render(operation, {
    status: STATUS.OK,
    errorMsg: 'Success',
    fields: [
      ['providerTrnId', transaction.id],
      ['transactionState', refused ? 2 : 1],
      ['transactionStateErrorStatus', refusal?.status ?? 0],
      ['transactionStateErrorMsg', refusal?.errorMsg ?? 'Success'],
    ],
  });
}

export const uzpaynetAdapter: PaymentSystemAdapter = {
  system: 'UZPAYNET',
  handle,
  transientFailure(request) {
    const call = parseCall(request.body);
    return call ? failure(call.operation, STATUS.SYSTEM_ERROR, 'System error, retry later') : fault('Server', 'System error, retry later');
  },
};
