import { withDates } from '../platform/rows';

export const TRANSACTION_STATUSES = ['ACCEPTED', 'PROCESSED', 'REJECTED'] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

/**
 * Why a top-up is refused. The adapters map each to their protocol's code (OSMP: 5, 79, 7, 241,
 * 242 …); a transaction REJECTED later carries one as its reason.
 */
export const REFUSALS = ['UNKNOWN_DRIVER', 'DRIVER_FIRED', 'PARK_DISABLED', 'WALLET_DISABLED', 'AMOUNT_TOO_SMALL', 'AMOUNT_TOO_LARGE'] as const;
export type Refusal = (typeof REFUSALS)[number];

/**
 * Why a top-up the driver asked for (createTopUp) ended unpaid: the bill expired or was rejected
 * at the payment system, the payment system refused to open it, what it reports paid differs
 * from what was asked (held back for a person to look at, never credited), or the park deleted the
 * wallet while it was open (closed at the payment system then).
 */
export const REQUEST_FAILURES = ['EXPIRED', 'PAYMENT_REJECTED', 'PAYMENT_SYSTEM_REFUSED', 'AMOUNT_MISMATCH', 'WALLET_DELETED'] as const;
export type RequestFailure = (typeof REQUEST_FAILURES)[number];

/** A driver's top-up through a park's wallet, as stored. */
export interface TransactionRow {
  id: string;
  wallet_id: string;
  park_id: string;
  driver_id: string;
  payment_system: string;
  external_id: string;
  amount: bigint;
  currency: string;
  status: TransactionStatus;
  reason: string | null;
  created_at: Date;
  processed_at: Date | null;
  /** A createTopUp not yet paid: ACCEPTED, with no credit job until the payment system says it was paid. */
  awaiting_payment: boolean;
  idempotency_key: string | null;
  pay_url: string | null;
  expires_at: Date | null;
  paid_at: Date | null;
}

export function toTransactionRow(row: TransactionRow): TransactionRow {
  const dated = withDates(row, ['created_at', 'processed_at', 'expires_at', 'paid_at']);
  return { ...dated, id: String(dated.id), amount: BigInt(dated.amount), currency: dated.currency.trim() };
}

/** The payment system's clearing account: where its money enters the ledger (a system account: may go negative). */
export function clearingAccount(paymentSystem: string, currency: string) {
  return { owner: { kind: 'SYSTEM', id: `payment-system:${paymentSystem}` }, type: 'clearing', currency };
}

/** The reason of a payment the payment system withdrew before completing it (EasyPay's Cancel before Confirm): never credited. */
export const WITHDRAWN = 'WITHDRAWN';
