import { InvalidInputError } from '../platform/errors';
import { parseCurrency, parseMinor, parsePositiveMinor } from '../platform/money';
import { checkReference, parsePayee } from '../access/payee';
import { parseInstant } from '../platform/time';

export const OPERATION_KINDS = ['PAYMENT', 'REFUND', 'ADJUSTMENT', 'CHARGEBACK'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** The `invoicing` event types and the operation each one is. */
const KIND_OF_EVENT: Record<string, { kind: OperationKind; subId: string | null }> = {
  PaymentCaptured: { kind: 'PAYMENT', subId: null },
  RefundSucceeded: { kind: 'REFUND', subId: 'refundId' },
  AdjustmentCaptured: { kind: 'ADJUSTMENT', subId: 'adjustmentId' },
  ChargebackSucceeded: { kind: 'CHARGEBACK', subId: 'chargebackId' },
};

/** One financial operation of a shop, as the `invoicing` topic reports it. */
export interface ShopOperation {
  eventId: string;
  kind: OperationKind;
  partyId: string;
  shopId: string;
  invoiceId: string;
  paymentId: string;
  /** The refund, adjustment or chargeback id; null for the payment itself. */
  subId: string | null;
  /** Identifies the operation whatever event carried it: kind and ids. */
  businessId: string;
  amount: bigint;
  fee: bigint;
  /** What the operation adds to the shop's payable amount; may be negative. */
  payable: bigint;
  currency: string;
  occurredAt: Date;
}

/**
 * What an operation adds to the shop's payable amount (contracts.md): a payment `amount − fee`,
 * an adjustment its signed `amount`, a refund or chargeback `−(amount + fee)`.
 */
export function payableOf(kind: OperationKind, amount: bigint, fee: bigint): bigint {
  switch (kind) {
    case 'PAYMENT':
      return amount - fee;
    case 'ADJUSTMENT':
      return amount;
    case 'REFUND':
    case 'CHARGEBACK':
      return -(amount + fee);
  }
}

/** Validates an `invoicing` message; anything that cannot be applied is an InvalidInputError. */
export function parseOperation(eventId: string, json: Record<string, unknown>): ShopOperation {
  const type = json.type;
  const meaning = typeof type === 'string' ? KIND_OF_EVENT[type] : undefined;
  if (!meaning) {
    throw new InvalidInputError(`type must be one of ${Object.keys(KIND_OF_EVENT).join(', ')}`, { field: 'type' });
  }
  const shop = parsePayee({ kind: 'SHOP', partyId: json.partyId, shopId: json.shopId });
  if (shop.kind !== 'SHOP') throw new InvalidInputError('not a shop');
  const invoiceId = operationId(json.invoiceId, 'invoiceId');
  const paymentId = operationId(json.paymentId, 'paymentId');
  const subId = meaning.subId ? operationId(json[meaning.subId], meaning.subId) : null;
  const amount = meaning.kind === 'ADJUSTMENT' ? nonZero(parseMinor(json.amount)) : parsePositiveMinor(json.amount);
  const fee = meaning.kind === 'ADJUSTMENT' && json.fee === undefined ? 0n : parseFee(json.fee);
  if (meaning.kind === 'ADJUSTMENT' && fee !== 0n) {
    throw new InvalidInputError('an adjustment carries no fee: its amount is what it adds', { field: 'fee' });
  }
  const payable = payableOf(meaning.kind, amount, fee);
  if (payable > MAX_BIGINT || payable < -MAX_BIGINT) throw new InvalidInputError('amount and fee together are out of range', { field: 'fee' });
  return {
    eventId,
    kind: meaning.kind,
    partyId: shop.partyId,
    shopId: shop.shopId,
    invoiceId,
    paymentId,
    subId,
    businessId: [meaning.kind, shop.partyId, shop.shopId, invoiceId, paymentId, subId ?? ''].join('/'),
    amount,
    fee,
    payable,
    currency: parseCurrency(json.currency),
    occurredAt: parseInstant(json.occurredAt),
  };
}

const MAX_BIGINT = 9_223_372_036_854_775_807n;

function operationId(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return checkReference(value, field);
}

function parseFee(value: unknown): bigint {
  if (value === undefined || value === null) return 0n;
  const fee = parseMinor(value, 'fee');
  if (fee < 0n) throw new InvalidInputError('fee must not be negative', { field: 'fee' });
  return fee;
}

function nonZero(amount: bigint): bigint {
  if (amount === 0n) throw new InvalidInputError('amount must not be zero', { field: 'amount' });
  return amount;
}
