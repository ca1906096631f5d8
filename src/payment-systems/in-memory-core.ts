import type { DriverRow, DriverStatus } from '../parks/driver';
import type { AcceptResult, CheckResult } from '../topups/topups';
import { WITHDRAWN, type Refusal, type TransactionRow } from '../topups/transaction';
import type { Credentials, PaymentSystem } from '../wallets/payment-systems';
import type { CallbackCore } from './adapter';

/**
 * A `CallbackCore` held in memory, for the adapters' unit tests of parsing, authentication and
 * rendering: the same rules as the real core (one transaction per external id, a repeat returns
 * the first; the first refusal that applies), none of its storage. The real core is exercised by
 * the callback tests through HTTP.
 */
export class InMemoryCore implements CallbackCore {
  readonly wallet;
  readonly transactions = new Map<string, TransactionRow>();
  readonly drivers = new Map<string, DriverStatus>();
  parkActive = true;
  walletEnabled = true;
  minAmount: bigint | null = null;
  maxAmount: bigint | null = null;
  /** When the next payment is recorded (`created_at`). */
  now = new Date('2026-12-03T10:00:00Z');
  private nextId = 1000;

  constructor(
    paymentSystem: PaymentSystem,
    currency: string,
    private readonly opened: Credentials | null,
  ) {
    this.wallet = { id: '00000000-0000-4000-8000-000000000001', parkId: 'park1', paymentSystem, currency };
  }

  credentials(): Credentials | null {
    return this.opened;
  }

  async check(account: string, amount: bigint | null): Promise<CheckResult> {
    const status = this.drivers.get(account);
    if (!status) return { ok: false, refusal: 'UNKNOWN_DRIVER', driver: null };
    const driver = this.driverRow(account, status);
    const refusal = this.refusalOf(status, amount);
    return refusal ? { ok: false, refusal, driver } : { ok: true, driver };
  }

  async pay(externalId: string, account: string, amount: bigint): Promise<AcceptResult> {
    const known = this.transactions.get(externalId);
    if (known) return { transaction: known, refusal: known.status === 'REJECTED' ? (known.reason as Refusal) : null, created: false };
    const checked = await this.check(account, amount);
    if (!checked.ok && !checked.driver) return { transaction: null, refusal: checked.refusal, created: false };
    const refusal = checked.ok ? null : checked.refusal;
    return { transaction: this.record(externalId, account, amount, refusal), refusal, created: true };
  }

  private record(externalId: string, account: string, amount: bigint, reason: string | null): TransactionRow {
    // Only what adapters read: a row's other columns (those other flows add) stay unset here.
    const transaction = {
      id: String(this.nextId++),
      wallet_id: this.wallet.id,
      park_id: this.wallet.parkId,
      driver_id: account,
      payment_system: this.wallet.paymentSystem,
      external_id: externalId,
      amount,
      currency: this.wallet.currency,
      status: reason ? 'REJECTED' : 'ACCEPTED',
      reason,
      created_at: this.now,
      processed_at: null,
    } as TransactionRow;
    this.transactions.set(externalId, transaction);
    return transaction;
  }

  async find(externalId: string): Promise<TransactionRow | null> {
    return this.transactions.get(externalId) ?? null;
  }

  async statement(from: Date, to: Date, limit: number): Promise<TransactionRow[]> {
    return [...this.transactions.values()]
      .filter((t) => t.status !== 'REJECTED' && t.created_at >= from && t.created_at <= to)
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || Number(a.id) - Number(b.id))
      .slice(0, limit);
  }

  async withdraw(externalId: string, account: string, amount: bigint): Promise<TransactionRow | null> {
    const known = this.transactions.get(externalId);
    if (known) return known;
    if (!this.drivers.has(account)) return null;
    return this.record(externalId, account, amount, WITHDRAWN);
  }

  /** What was credited or is being credited (ACCEPTED or PROCESSED), in minor units. */
  credited(): bigint {
    return [...this.transactions.values()].filter((t) => t.status !== 'REJECTED').reduce((sum, t) => sum + t.amount, 0n);
  }

  private refusalOf(status: DriverStatus, amount: bigint | null): Refusal | null {
    if (status !== 'WORKING') return 'DRIVER_FIRED';
    if (!this.parkActive) return 'PARK_DISABLED';
    if (!this.walletEnabled) return 'WALLET_DISABLED';
    if (amount !== null && this.minAmount !== null && amount < this.minAmount) return 'AMOUNT_TOO_SMALL';
    if (amount !== null && this.maxAmount !== null && amount > this.maxAmount) return 'AMOUNT_TOO_LARGE';
    return null;
  }

  private driverRow(id: string, status: DriverStatus): DriverRow {
    const at = new Date('2026-12-01T00:00:00Z');
    return { park_id: this.wallet.parkId, id, name: `Driver ${id}`, phone: null, status, version_at: at, created_at: at, updated_at: at };
  }
}
