import { parseMinorInteger } from '../payment-systems/amounts';
import { HttpRefusedError, type JsonHttpClient } from '../platform/http-client';
import type { OpenPayment, PaymentStatus, TopUpGateway } from './gateway';

/**
 * Paystack's transactions API (payment-systems.md, "Paystack"; documented): initialize under our
 * reference with the wallet's secret key as bearer (→ `authorization_url`), verify by reference.
 * The `charge.success` webhook credits the payment (src/payment-systems/paystack.ts); verify is
 * asked once, when the top-up's time is up, so a lost webhook still credits it.
 */
export class PaystackApi implements TopUpGateway {
  readonly system = 'PAYSTACK' as const;
  readonly canCancel = false;

  constructor(
    private readonly http: JsonHttpClient,
    private readonly baseUrl: string,
    /** Paystack needs a customer e-mail; drivers have none here, so one is made per driver under this domain. */
    private readonly emailDomain: string,
  ) {}

  async open(payment: OpenPayment, secretKey: string): Promise<{ payUrl: string }> {
    const { body } = await this.http.request({
      method: 'POST',
      url: `${this.baseUrl}/transaction/initialize`,
      headers: { authorization: `Bearer ${secretKey}` },
      body: {
        email: driverEmail(payment.parkId, payment.driverId, this.emailDomain),
        // An integer in the currency's subunit (kobo, pesewas); createTopUp keeps it within a double's exact integers.
        amount: Number(payment.amount),
        currency: payment.currency,
        reference: payment.externalId,
        metadata: { parkId: payment.parkId, driverId: payment.driverId },
      },
    });
    const url = (body as { data?: { authorization_url?: unknown } } | null)?.data?.authorization_url;
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new Error('Paystack answered without an authorization_url');
    return { payUrl: url };
  }

  async status(reference: string, secretKey: string): Promise<PaymentStatus> {
    try {
      const { body } = await this.http.request({
        method: 'GET',
        url: `${this.baseUrl}/transaction/verify/${encodeURIComponent(reference)}`,
        headers: { authorization: `Bearer ${secretKey}` },
      });
      return statusOf(body);
    } catch (error) {
      // "Transaction reference not found": never initialised.
      if (error instanceof HttpRefusedError && (error.status === 404 || error.status === 400)) return { state: 'UNKNOWN', detail: 'no such transaction' };
      throw error;
    }
  }

  /** Paystack has no way to close a checkout: what verify says is final enough once its time is up. */
  async cancel(reference: string, secretKey: string): Promise<PaymentStatus> {
    return this.status(reference, secretKey);
  }
}

/** A stable, valid address per driver (Paystack keys its customers by e-mail); never mailed by us. */
export function driverEmail(parkId: string, driverId: string, domain: string): string {
  const local = `${parkId}.${driverId}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return `${local}@${domain}`;
}

function statusOf(body: unknown): PaymentStatus {
  const data = (body as { data?: { status?: unknown; amount?: unknown; currency?: unknown; paid_at?: unknown } } | null)?.data;
  switch (data?.status) {
    case 'success': {
      const amount = parseMinorInteger(data.amount as string | number | undefined);
      if (!amount.ok || typeof data.currency !== 'string') return { state: 'UNKNOWN', detail: 'a successful transaction without a readable amount' };
      const paidAt = typeof data.paid_at === 'string' ? new Date(data.paid_at) : null;
      return { state: 'PAID', amount: amount.minor, currency: data.currency, paidAt: paidAt && !Number.isNaN(paidAt.getTime()) ? paidAt : null };
    }
    case 'failed':
    case 'reversed':
      return { state: 'REJECTED' };
    case 'abandoned':
      return { state: 'EXPIRED' };
    case 'ongoing':
    case 'pending':
    case 'processing':
    case 'queued':
      return { state: 'WAITING' };
    default:
      return { state: 'UNKNOWN', detail: 'unreadable transaction status' };
  }
}
