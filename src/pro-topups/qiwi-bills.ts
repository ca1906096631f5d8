import { parseMajorDecimal } from '../payment-systems/amounts';
import { formatMajor, isCurrency, minorDigits } from '../platform/money';
import { HttpRefusedError, type JsonHttpClient } from '../platform/http-client';
import type { OpenPayment, PaymentStatus, TopUpGateway } from './gateway';

/**
 * QIWI P2P bills (payment-systems.md, "QIWI P2P bills"; documented): PUT a bill under our billId
 * with the wallet's secret key as bearer, GET it for its status, POST …/reject to close it. A PUT
 * with the same billId again answers the same bill, so re-opening after a lost answer is safe.
 */
export class QiwiBills implements TopUpGateway {
  readonly system = 'QIWI' as const;
  readonly canCancel = true;

  constructor(
    private readonly http: JsonHttpClient,
    private readonly baseUrl: string,
  ) {}

  async open(payment: OpenPayment, secretKey: string): Promise<{ payUrl: string }> {
    const { body } = await this.http.request({
      method: 'PUT',
      url: this.billUrl(payment.externalId),
      headers: bearer(secretKey),
      body: {
        amount: { currency: payment.currency, value: formatMajor(payment.amount, payment.currency) },
        expirationDateTime: qiwiDateTime(payment.expiresAt),
        comment: `Top-up of driver ${payment.driverId}`.slice(0, 255),
        customFields: { parkId: payment.parkId, driverId: payment.driverId },
      },
    });
    const payUrl = (body as { payUrl?: unknown } | null)?.payUrl;
    if (typeof payUrl !== 'string' || !/^https?:\/\//.test(payUrl)) throw new Error('QIWI answered a bill without a payUrl');
    return { payUrl };
  }

  async status(billId: string, secretKey: string): Promise<PaymentStatus> {
    try {
      const { body } = await this.http.request({ method: 'GET', url: this.billUrl(billId), headers: bearer(secretKey) });
      return statusOf(body);
    } catch (error) {
      if (error instanceof HttpRefusedError && error.status === 404) return { state: 'UNKNOWN', detail: 'no such bill' };
      throw error;
    }
  }

  async cancel(billId: string, secretKey: string): Promise<PaymentStatus> {
    try {
      const { body } = await this.http.request({ method: 'POST', url: `${this.billUrl(billId)}/reject`, headers: bearer(secretKey) });
      return statusOf(body);
    } catch (error) {
      // Paid or closed meanwhile (QIWI refuses to reject a final bill), or never opened: read what it is.
      if (error instanceof HttpRefusedError) return this.status(billId, secretKey);
      throw error;
    }
  }

  private billUrl(billId: string): string {
    return `${this.baseUrl}/partner/bill/v1/bills/${encodeURIComponent(billId)}`;
  }
}

function bearer(secretKey: string): Record<string, string> {
  return { authorization: `Bearer ${secretKey}` };
}

/** `2026-12-04T17:05:00+00:00`: QIWI wants the offset written out. */
export function qiwiDateTime(at: Date): string {
  return `${at.toISOString().slice(0, 19)}+00:00`;
}

function statusOf(body: unknown): PaymentStatus {
  const bill = body as { status?: { value?: unknown; changedDateTime?: unknown }; amount?: { currency?: unknown; value?: unknown } } | null;
  const value = bill?.status?.value;
  if (value === 'WAITING') return { state: 'WAITING' };
  if (value === 'REJECTED') return { state: 'REJECTED' };
  if (value === 'EXPIRED') return { state: 'EXPIRED' };
  if (value !== 'PAID') return { state: 'UNKNOWN', detail: 'unreadable bill status' };
  const raw = bill?.amount?.value;
  const currency = bill?.amount?.currency;
  if (!isCurrency(currency)) return { state: 'UNKNOWN', detail: 'a paid bill without a readable currency' };
  // In that currency's minor units (JPY has none, KWD three), as the bill was opened with formatMajor.
  const amount = parseMajorDecimal(typeof raw === 'number' ? String(raw) : (raw as string | undefined), minorDigits(currency));
  if (!amount.ok) return { state: 'UNKNOWN', detail: 'a paid bill without a readable amount' };
  const changed = typeof bill?.status?.changedDateTime === 'string' ? new Date(bill.status.changedDateTime) : null;
  return { state: 'PAID', amount: amount.minor, currency, paidAt: changed && !Number.isNaN(changed.getTime()) ? changed : null };
}
