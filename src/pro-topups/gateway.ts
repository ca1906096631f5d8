/**
 * A payment system's API for top-ups the driver starts in the Pro app: open the payment (a QIWI
 * bill, a Paystack transaction) and get where the driver pays, read what became of it, give it up.
 * One file per system; they throw the HTTP client's errors (refused or unavailable) and parse
 * amounts into minor units without floats.
 */
export interface TopUpGateway {
  readonly system: 'QIWI' | 'PAYSTACK';
  /** Whether `cancel` can make a payment unpayable (QIWI rejects a bill; Paystack cannot close a checkout). */
  readonly canCancel: boolean;
  open(payment: OpenPayment, secretKey: string): Promise<{ payUrl: string }>;
  status(externalId: string, secretKey: string): Promise<PaymentStatus>;
  /** Makes sure it can no longer be paid (QIWI rejects the bill), and says what it finally is. */
  cancel(externalId: string, secretKey: string): Promise<PaymentStatus>;
}

export interface OpenPayment {
  /** Ours: QIWI's billId, Paystack's reference. */
  externalId: string;
  amount: bigint;
  currency: string;
  expiresAt: Date;
  parkId: string;
  driverId: string;
}

export type PaymentStatus =
  | { state: 'WAITING' }
  | { state: 'PAID'; amount: bigint; currency: string; paidAt: Date | null }
  | { state: 'REJECTED' }
  | { state: 'EXPIRED' }
  /** The payment system does not know it (never opened), or answered something we cannot read. */
  | { state: 'UNKNOWN'; detail: string };
