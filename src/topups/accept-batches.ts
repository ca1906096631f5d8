import type { MikroORM } from '@mikro-orm/postgresql';
import type { DriverService } from '../parks/driver.service';
import { queryBound } from '../platform/bound-query';
import { textArray } from '../platform/sql-arrays';
import type { WalletRow } from '../wallets/wallet';
import { toTransactionRow, type TransactionRow } from './transaction';

/** A payment a payment system reported, for a wallet whose own rules (enabled, bounds) let it through. */
export interface NewTopUp {
  wallet: WalletRow;
  externalId: string;
  account: string;
  amount: bigint;
}

interface Waiting {
  topUp: NewTopUp;
  resolve: (row: TransactionRow | null) => void;
  reject: (error: unknown) => void;
}

/** Rows one statement records at most. */
const MAX_BATCH = 500;
/** Statements at once: while one waits for its commit (the WAL flush), others gather and run. */
const MAX_IN_FLIGHT = 4;

/**
 * Records new top-ups that nothing refuses, every caller waiting at the moment in one statement
 * and one commit: a payment is its driver (the parks module's query) and an ACCEPTED row, and
 * durable before any caller hears of it. Concurrent callers would otherwise each pay a commit
 * with its WAL flush; here, while a few statements run, the next batch gathers.
 *
 * A caller gets its row, or null when the statement recorded none for it — a refusal, a repeat,
 * a payment for a top-up awaiting it — and then takes the longer path, which knows why.
 */
export class AcceptBatches {
  private pending: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly drivers: DriverService,
  ) {}

  record(topUp: NewTopUp): Promise<TransactionRow | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ topUp, resolve, reject });
      // Let the callers of this tick join the same statement.
      if (this.pending.length === 1) setImmediate(() => this.start());
    });
  }

  /** Starts statements for what is waiting, a few at a time: one waits for its commit while the next runs. */
  private start(): void {
    while (this.pending.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const batch = this.pending.splice(0, MAX_BATCH);
      this.inFlight += 1;
      void this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.start();
      });
    }
  }

  private async run(batch: readonly Waiting[]): Promise<void> {
    try {
      const rows = await this.insert(batch.map((waiting) => waiting.topUp));
      const byKey = new Map(rows.map((row) => [keyOf(row.wallet_id, row.external_id), row]));
      for (const { topUp, resolve } of batch) {
        const key = keyOf(topUp.wallet.id, topUp.externalId);
        // A second copy of one payment in the same batch gets null: the longer path finds the first.
        resolve(byKey.get(key) ?? null);
        byKey.delete(key);
      }
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  private async insert(topUps: readonly NewTopUp[]): Promise<TransactionRow[]> {
    const rows = await queryBound<TransactionRow>(
      this.orm.em.fork(),
      `WITH input AS (
         SELECT * FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[])
           AS i(wallet_id, park_id, payment_system, external_id, account, phone, amount, currency))
       INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status)
       SELECT i.wallet_id, found.park_id, found.id, i.payment_system, i.external_id, i.amount, i.currency, 'ACCEPTED'
         FROM input i CROSS JOIN LATERAL (${this.drivers.payableSql('i.park_id', 'i.account', 'i.phone')}) found
        WHERE found.status = 'WORKING' AND found.park_status = 'ACTIVE'
       ON CONFLICT (wallet_id, external_id) DO NOTHING RETURNING *`,
      [
        textArray(topUps.map((t) => t.wallet.id)),
        textArray(topUps.map((t) => t.wallet.park_id)),
        textArray(topUps.map((t) => t.wallet.payment_system)),
        textArray(topUps.map((t) => t.externalId)),
        textArray(topUps.map((t) => t.account)),
        textArray(topUps.map((t) => this.drivers.phoneOf(t.account))),
        `{${topUps.map((t) => t.amount.toString()).join(',')}}`,
        textArray(topUps.map((t) => t.wallet.currency)),
      ],
    );
    return rows.map(toTransactionRow);
  }
}

function keyOf(walletId: string, externalId: string): string {
  return `${walletId}\u0000${externalId}`;
}
