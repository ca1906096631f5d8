import type { MikroORM } from '@mikro-orm/postgresql';
import type { DriverService } from '../parks/driver.service';
import { KeptConnection } from '../platform/bound-query';
import { sqlState } from '../platform/database-errors';
import { textArray } from '../platform/sql-arrays';
import { fulfilled, StatementBatches } from '../platform/statement-batches';
import type { WalletRow } from '../wallets/wallet';
import type { TransactionRow } from './transaction';

/** A payment a payment system reported, for a wallet whose own rules (enabled, bounds) let it through. */
export interface NewTopUp {
  wallet: WalletRow;
  externalId: string;
  account: string;
  amount: bigint;
}

/**
 * Records new top-ups that nothing refuses, every caller waiting at the moment in one statement
 * and one commit: a payment is its driver (the parks module's query) and an ACCEPTED row, and
 * durable before any caller hears of it. Concurrent callers would otherwise each pay a commit
 * with its WAL flush; here, while a statement runs, the next batch gathers. Nothing else is
 * booked: the credit gate finds ACCEPTED rows by itself (`TopUps.creditAccepted`). A job per row,
 * or one per statement, had been a third of PostgreSQL's work per payment and made these commits
 * wait for one another (a NOTIFY takes a database-wide lock through the commit).
 *
 * A caller gets its row, or null when the statement recorded none for it — a refusal, a repeat,
 * a payment for a top-up awaiting it — and then takes the longer path, which knows why.
 */
export class AcceptBatches {
  /**
   * One statement at a time while it runs as it should: the next batch gathers meanwhile. Four side
   * by side (as before) made batches half the size and cost PostgreSQL 1.4–1.9× the CPU per payment,
   * their inserts contending for the same index pages and WAL; a second starts beside one only if
   * it has run 50 ms, so that a statement stuck on a lock holds up no one else for long. If all four
   * stall (the database away), at most 20 batches' worth of callers wait; the rest are answered the
   * protocol's temporary error at once, and the payment systems retry.
   */
  private readonly batches = new StatementBatches<NewTopUp, TransactionRow | null>((topUps) => this.run(topUps), {
    maxBatch: 500,
    maxInFlight: 4,
    overlapAfterMs: 50,
    maxWaiting: 10_000,
  });

  /**
   * The connection its statements go through, kept while they keep coming (`KeptConnection`): each
   * goes on the wire as its batch starts. It never touches an identity map, so one EntityManager
   * serves every statement; a fork per statement had cost more of the process's CPU than building
   * the statement.
   */
  private readonly connection: KeptConnection;

  constructor(
    orm: MikroORM,
    private readonly drivers: DriverService,
  ) {
    this.connection = new KeptConnection(orm.em.fork());
  }

  record(topUp: NewTopUp): Promise<TransactionRow | null> {
    return this.batches.submit(topUp);
  }

  private async run(topUps: readonly NewTopUp[]): Promise<PromiseSettledResult<TransactionRow | null>[]> {
    let recorded: Recorded[];
    try {
      recorded = await this.insert(topUps);
    } catch (error) {
      // A value PostgreSQL refuses (a data exception) would fail every payment batched with it, from
      // any park or system: each takes the longer path alone instead, where only its own fails.
      if (topUps.length > 1 && sqlState(error)?.startsWith('22')) return topUps.map(() => fulfilled(null));
      throw error;
    }
    const byKey = new Map(recorded.map((row) => [keyOf(row.wallet_id, row.external_id), row]));
    return topUps.map((topUp) => {
      const key = keyOf(topUp.wallet.id, topUp.externalId);
      // A second copy of one payment in the same batch gets null: the longer path finds the first.
      const row = byKey.get(key);
      byKey.delete(key);
      return fulfilled(row ? recordedRow(topUp, row) : null);
    });
  }

  private async insert(topUps: readonly NewTopUp[]): Promise<Recorded[]> {
    return this.connection.query<Recorded>(
      `WITH input AS (
         SELECT * FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[])
           AS i(wallet_id, park_id, payment_system, external_id, account, phone, amount, currency))
       INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status)
       SELECT i.wallet_id, found.park_id, found.id, i.payment_system, i.external_id, i.amount, i.currency, 'ACCEPTED'
         FROM input i CROSS JOIN LATERAL (${this.drivers.payableSql('i.park_id', 'i.account', 'i.phone')}) found
        WHERE found.status = 'WORKING' AND found.park_status = 'ACTIVE'
       ON CONFLICT (wallet_id, external_id) DO NOTHING RETURNING id, wallet_id, external_id, driver_id, created_at`,
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
      // Prepared once per connection: planning it had cost more than running it for a dozen payments.
      { name: 'topup_accept_many' },
    );
  }
}

/** What the statement returns of a row it recorded: what the database chose. */
interface Recorded {
  id: string;
  wallet_id: string;
  external_id: string;
  driver_id: string;
  /** As text: the ORM's driver setting (see `withDates`). */
  created_at: string;
}

/**
 * The row as stored: what the statement was given, what the database chose, the table's defaults
 * for the rest (a test compares it with the row read back). Returning every column had made the
 * statement format, and the process parse, four timestamps and a dozen more fields per payment.
 */
function recordedRow(topUp: NewTopUp, recorded: Recorded): TransactionRow {
  const { wallet } = topUp;
  return {
    id: String(recorded.id),
    wallet_id: wallet.id,
    park_id: wallet.park_id,
    driver_id: recorded.driver_id,
    payment_system: wallet.payment_system,
    external_id: topUp.externalId,
    amount: topUp.amount,
    currency: wallet.currency,
    status: 'ACCEPTED',
    reason: null,
    created_at: new Date(recorded.created_at),
    processed_at: null,
    awaiting_payment: false,
    idempotency_key: null,
    pay_url: null,
    expires_at: null,
    paid_at: null,
  };
}

function keyOf(walletId: string, externalId: string): string {
  return `${walletId}\u0000${externalId}`;
}
