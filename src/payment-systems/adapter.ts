import type { Credentials, PaymentSystem } from '../wallets/payment-systems';
import type { AcceptResult, CheckResult } from '../topups/topups';
import type { TransactionRow } from '../topups/transaction';

/**
 * One payment system's callback protocol, in one file: it parses the protocol's request,
 * authenticates it the protocol's way, maps it to the top-up core and renders the protocol's own
 * answer. It knows nothing of HTTP servers, links, the database or the ledger: the callback
 * server hands it the raw request and a `CallbackCore` bound to the link's wallet.
 *
 * Adding a system: one file exporting a `PaymentSystemAdapter`, one line in `registry.ts`.
 */
export interface PaymentSystemAdapter {
  readonly system: PaymentSystem;
  /**
   * Answers one callback. `core` is null when the link's secret is unknown or revoked (or the
   * wallet deleted): the adapter refuses in its protocol's way (OSMP: result 7; JSON webhooks:
   * HTTP 401) and credits nothing. Must never throw for bad input: a malformed request gets the
   * protocol's error answer. A thrown error means "our side failed" and the server answers with
   * `transientFailure`.
   */
  handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer>;
  /** The answer when our side fails (database down): the protocol's "temporary error, retry". */
  transientFailure(request: CallbackRequest): CallbackAnswer;
}

/** A callback as it arrived, after the server's size and time limits. */
export interface CallbackRequest {
  method: 'GET' | 'POST';
  /** Query string parameters (the first value of each). */
  query: Readonly<Record<string, string>>;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body (empty for GET): signatures are computed over the bytes as sent. */
  body: Buffer;
  /** The caller's address (after the allow-list, which the server applies). */
  clientAddress: string;
}

export interface CallbackAnswer {
  status: number;
  contentType: string;
  body: string;
  /**
   * Optional, for the metrics: why the adapter refused the request itself, before the core could
   * (`BAD_SIGNATURE`, `BAD_AMOUNT`, `BAD_ACCOUNT`, `BAD_REQUEST`, …). The core's own refusals
   * (UNKNOWN_DRIVER, DRIVER_FIRED, …) are counted without it. Never sent to the caller.
   */
  refusal?: string;
}

/** The top-up core bound to the wallet of the link a callback came through. */
export interface CallbackCore {
  readonly wallet: {
    id: string;
    parkId: string;
    paymentSystem: PaymentSystem;
    currency: string;
  };
  /** The wallet's credentials, opened (null when none are set). Never log or render them. */
  credentials(): Credentials | null;
  /** Is `account` (driver id or phone) a working driver of the park, the park and wallet on, the amount within bounds? */
  check(account: string, amount: bigint | null): Promise<CheckResult>;
  /**
   * Records a payment once per (wallet, externalId) and books its credit. A repeat (`created`
   * false) returns the first transaction: render the protocol's answer to a repeat from it.
   */
  pay(externalId: string, account: string, amount: bigint): Promise<AcceptResult>;
  /** A payment seen before on this wallet, or null. */
  find(externalId: string): Promise<TransactionRow | null>;
  /**
   * The wallet's payments recorded from `from` to `to` (both included) that were not refused (ACCEPTED
   * or PROCESSED), oldest first, at most `limit`: what the payment system reconciles against.
   */
  statement(from: Date, to: Date, limit: number): Promise<TransactionRow[]>;
  /**
   * The payment system withdrew a payment it never completed: recorded REJECTED `WITHDRAWN` so a
   * later pay of it credits nothing. A payment already recorded comes back as it is; null when
   * the account names no driver.
   */
  withdraw(externalId: string, account: string, amount: bigint): Promise<TransactionRow | null>;
}
