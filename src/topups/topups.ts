import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import { driverBalanceAccount, type DriverRow } from '../parks/driver';
import type { DriverService } from '../parks/driver.service';
import { queryBound } from '../platform/bound-query';
import { plainArray, textArray } from '../platform/sql-arrays';
import { InvalidInputError } from '../platform/errors';
import type { JobQueue, KeyedJob, TaskName, TaskPayload } from '../platform/jobs';
import type { AcceptBatches } from './accept-batches';
import type { WalletRow } from '../wallets/wallet';
import { clearingAccount, toTransactionRow, WITHDRAWN, type Refusal, type RequestFailure, type TransactionRow } from './transaction';

export type CheckResult = { ok: true; driver: DriverRow } | { ok: false; refusal: Refusal; driver: DriverRow | null };

export interface AcceptResult {
  /** Null only when the account names no driver of the park (nothing to record). */
  transaction: TransactionRow | null;
  /** Why it was refused at once (the transaction, if any, is REJECTED with it). */
  refusal: Refusal | null;
  /** False when this externalId was seen before: the same transaction, nothing new. */
  created: boolean;
}

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Credits an ACCEPTED top-up to the driver (or rejects it), once; retried with backoff. */
      topup__credit: { walletId: string; externalId: string };
      /** The credit gate: credits the ACCEPTED top-ups no job of their own holds (`creditAccepted`). */
      topup__credit_accepted: Record<string, never>;
      /** Books the credit again for top-ups whose job a killed worker holds (crontab, every minute). */
      topup__rebook_overdue: Record<string, never>;
    }
  }
}

const EXTERNAL_ID = /^[\x21-\x7e]{1,200}$/;

/** A top-up the driver asks for (createTopUp): recorded awaiting payment before the payment system is asked. */
export interface PaymentRequest<T extends TaskName> {
  wallet: WalletRow;
  driverId: string;
  /** Ours, sent to the payment system (QIWI's billId, Paystack's reference). */
  externalId: string;
  amount: bigint;
  idempotencyKey: string;
  expiresAt: Date;
  /** The job that watches it (polls the payment system), booked with the row in one statement. */
  watch: { task: T; jobKey: string; payload: TaskPayload<T>; runAt: Date; maxAttempts?: number };
}

/** What the payment system reports paid for a top-up awaiting payment. */
export interface ReportedPayment {
  amount: bigint;
  currency: string;
  /** The driver the payment names (Paystack's metadata), when it names one. */
  driverId?: string;
}

/**
 * The core every payment system goes through: an adapter parses its protocol, finds the wallet
 * from the callback link, and calls `check` and `accept`; it only translates the answer. A top-up
 * is recorded REJECTED with the reason, or ACCEPTED and then credited whatever happens next:
 * PROCESSED (clearing → the driver's balance). A callback's accept books no job: the credit gate finds ACCEPTED rows by itself
 * (`creditAccepted`). An accept in a caller's transaction, or a settled request, books the row's
 * own `topup__credit` job with the row. An ACCEPTED row left uncredited either way gets its own job
 * from the sweep (`rebookOverdue`), so no top-up waits forever.
 */
export class TopUps {
  constructor(
    private readonly drivers: DriverService,
    private readonly ledger: LedgerService,
    private readonly jobs: JobQueue,
    private readonly batches: AcceptBatches,
    /**
     * The largest single top-up any wallet takes, in minor units, whatever its own bounds: a payment
     * system's clearing account is shared by every park, and a few payments near bigint's range (a
     * forged or mistyped sum through a leaked link) would leave it unable to take any credit more.
     */
    private readonly amountCeiling: bigint,
    /** Each status a top-up reaches; `creditLagSeconds` (recorded → credited) with PROCESSED. */
    private readonly observe: (status: string, paymentSystem: string, creditLagSeconds?: number) => void = () => {},
  ) {}

  /** May this account of the wallet's park be topped up now (a working driver, the park and wallet on)? One query. */
  async check(em: EntityManager, wallet: WalletRow, account: string, amount: bigint | null = null): Promise<CheckResult> {
    const found = await this.drivers.findPayable(em, wallet.park_id, account);
    if (!found) return { ok: false, refusal: 'UNKNOWN_DRIVER', driver: null };
    const refusal = refusalOf(wallet, found.parkStatus, found.driver, amount, this.amountCeiling);
    return refusal ? { ok: false, refusal, driver: found.driver } : { ok: true, driver: found.driver };
  }

  /**
   * Records a payment system's top-up once per (wallet, externalId): ACCEPTED with its credit job,
   * or REJECTED at once with the reason. A repeated externalId returns the first transaction.
   */
  async accept(em: EntityManager, wallet: WalletRow, externalId: string, account: string, amount: bigint): Promise<AcceptResult> {
    validatePayment(externalId, amount);
    if (!em.isInTransaction()) {
      const accepted = await this.acceptAtOnce(wallet, externalId, account, amount);
      if (accepted) return accepted;
    }
    return this.acceptOneByOne(em, wallet, externalId, account, amount);
  }

  /**
   * `accept` for a caller with no transaction of its own (a payment system's callback): the
   * batched path first; `em()` is asked for an EntityManager only when the longer path runs.
   * Forking one per callback had been a tenth of the callbacks process's CPU.
   */
  async acceptOutsideTransaction(em: () => EntityManager, wallet: WalletRow, externalId: string, account: string, amount: bigint): Promise<AcceptResult> {
    validatePayment(externalId, amount);
    return (await this.acceptAtOnce(wallet, externalId, account, amount)) ?? this.acceptOneByOne(em(), wallet, externalId, account, amount);
  }

  /**
   * Anything the batched path did not record — a refusal, a repeat, a payment for a top-up
   * awaiting it, a caller's transaction: the driver with the park's status first, then the row (a
   * repeat finds the first row on the unique key).
   */
  private async acceptOneByOne(em: EntityManager, wallet: WalletRow, externalId: string, account: string, amount: bigint): Promise<AcceptResult> {
    const checked = await this.check(em, wallet, account, amount);
    if (!checked.ok && !checked.driver) {
      const known = await this.find(em, wallet.id, externalId);
      return known ? { transaction: known, refusal: refusalReason(known), created: false } : { transaction: null, refusal: checked.refusal, created: false };
    }
    const driver = checked.driver!;
    const refusal = checked.ok ? null : checked.refusal;
    const insert = {
      sql: `INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status, reason)
            VALUES (?::uuid, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wallet_id, external_id) DO NOTHING RETURNING *`,
      params: [wallet.id, wallet.park_id, driver.id, wallet.payment_system, externalId, amount.toString(), wallet.currency, refusal ? 'REJECTED' : 'ACCEPTED', refusal],
    };
    const credit = { payload: { walletId: wallet.id, externalId }, runAt: new Date(), jobKey: creditJobKey(wallet.id, externalId) };
    let inserted: TransactionRow | undefined;
    if (refusal) {
      [inserted] = await queryBound<TransactionRow>(em, insert.sql, insert.params, { name: 'topup_reject' });
    } else if (em.isInTransaction()) {
      // Inside the caller's transaction: the row and its credit job commit together or not at all.
      [inserted] = await this.jobs.afterStatementReturning<TransactionRow, 'topup__credit'>(em, insert, 'topup__credit', credit.jobKey, credit, { name: 'topup_accept_with_job' });
    } else {
      // On its own, as the batched path: the credit gate finds the row.
      [inserted] = await queryBound<TransactionRow>(em, insert.sql, insert.params, { name: 'topup_accept' });
    }
    if (inserted) {
      const transaction = toTransactionRow(inserted);
      this.observe(transaction.status, wallet.payment_system);
      return { transaction, refusal: refusalReason(transaction), created: true };
    }
    const existing = (await this.find(em, wallet.id, externalId))!;
    if (existing.awaiting_payment || paidLate(existing)) {
      // A payment for a top-up the driver asked for (Paystack's webhook): it is paid now, even if we had given up on it.
      const settled = await this.settle(em, wallet.id, externalId, { amount, currency: wallet.currency, driverId: driver.id });
      // Settled or held back now (a mismatch): new either way; a settle that raced ours is the repeat.
      const decidedNow = settled.settled || settled.transaction.reason === 'AMOUNT_MISMATCH';
      return { transaction: settled.transaction, refusal: refusalReason(settled.transaction), created: decidedNow };
    }
    return { transaction: existing, refusal: refusalReason(existing), created: false };
  }

  /**
   * Records a top-up the driver asked for, ACCEPTED and awaiting payment, with the job that
   * watches it; the same idempotency key returns the first one (`created` false) whatever else
   * differs. Nothing is credited until `settle`.
   */
  async request<T extends TaskName>(em: EntityManager, request: PaymentRequest<T>): Promise<{ transaction: TransactionRow; created: boolean }> {
    const { wallet } = request;
    validatePayment(request.externalId, request.amount);
    const [inserted] = await this.jobs.afterStatementReturning<TransactionRow, T>(
      em,
      {
        sql: `INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status,
                                             awaiting_payment, idempotency_key, expires_at)
              VALUES (?::uuid, ?, ?, ?, ?, ?, ?, 'ACCEPTED', true, ?, ?)
              ON CONFLICT (park_id, driver_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
        params: [wallet.id, wallet.park_id, request.driverId, wallet.payment_system, request.externalId, request.amount.toString(), wallet.currency,
          request.idempotencyKey, request.expiresAt],
      },
      request.watch.task,
      request.watch.jobKey,
      { payload: request.watch.payload, runAt: request.watch.runAt, maxAttempts: request.watch.maxAttempts },
      { name: 'topup_request' },
    );
    if (inserted) {
      const transaction = toTransactionRow(inserted);
      this.observe(transaction.status, wallet.payment_system);
      return { transaction, created: true };
    }
    return { transaction: (await this.findRequest(em, wallet.park_id, request.driverId, request.idempotencyKey))!, created: false };
  }

  async findRequest(em: EntityManager, parkId: string, driverId: string, idempotencyKey: string): Promise<TransactionRow | null> {
    const [row] = await queryBound<TransactionRow>(em, 'SELECT * FROM topup_transaction WHERE park_id = ? AND driver_id = ? AND idempotency_key = ?', [
      parkId,
      driverId,
      idempotencyKey,
    ]);
    return row ? toTransactionRow(row) : null;
  }

  /**
   * Keeps where the driver pays, once the payment system answered (the first answer stays); null if
   * the top-up no longer awaits payment (closed while the payment system was being asked).
   */
  async setPayUrl(em: EntityManager, id: string, payUrl: string): Promise<TransactionRow | null> {
    const [row] = await queryBound<TransactionRow>(em, 'UPDATE topup_transaction SET pay_url = coalesce(pay_url, ?) WHERE id = ? AND awaiting_payment RETURNING *', [
      payUrl,
      id,
    ]);
    return row ? toTransactionRow(row) : null;
  }

  /**
   * The payment system says a top-up the driver asked for was paid: if it paid what was asked
   * (amount, currency, and the driver when it names one), the top-up stops awaiting and its credit
   * job is booked, in one statement; the credit job does the rest, as for a callback. So is one we
   * had given up on (`paidLate`: its time ran out, or the system first reported it failed) and the
   * payer paid after all: the money was taken, so it is credited, ACCEPTED again. A payment that
   * differs is REJECTED (AMOUNT_MISMATCH) and never credited, for a person to look at. Anything
   * else is returned as it is (a repeat: `settled` false).
   */
  async settle(em: EntityManager, walletId: string, externalId: string, paid: ReportedPayment): Promise<{ transaction: TransactionRow; settled: boolean }> {
    const [updated] = await this.jobs.afterStatementReturning<TransactionRow, 'topup__credit'>(
      em,
      {
        sql: `UPDATE topup_transaction SET status = 'ACCEPTED', reason = NULL, processed_at = NULL, awaiting_payment = false, paid_at = now()
               WHERE wallet_id = ?::uuid AND external_id = ? AND ${PAYABLE_SQL} AND amount = ? AND currency = ? AND driver_id = coalesce(?, driver_id)
               RETURNING *`,
        params: [walletId, externalId, paid.amount.toString(), paid.currency, paid.driverId ?? null],
      },
      'topup__credit',
      creditJobKey(walletId, externalId),
      { payload: { walletId, externalId }, runAt: new Date() },
      { name: 'topup_settle' },
    );
    if (updated) return { transaction: toTransactionRow(updated), settled: true };
    const heldBack = await this.reject(em, walletId, externalId, 'AMOUNT_MISMATCH', PAYABLE_SQL);
    return { transaction: heldBack ?? (await this.find(em, walletId, externalId))!, settled: false };
  }

  /**
   * A top-up awaiting payment that will not be paid (expired, rejected, refused): REJECTED with why.
   * Null if it is not awaiting — or, with `ifPayUrl`, if its pay URL is no longer that (the payment
   * system opened it after all, since it was last asked; null: not opened).
   */
  async giveUp(em: EntityManager, walletId: string, externalId: string, reason: RequestFailure, { ifPayUrl }: { ifPayUrl?: string | null } = {}): Promise<TransactionRow | null> {
    if (ifPayUrl === undefined) return this.reject(em, walletId, externalId, reason, 'awaiting_payment');
    return this.reject(em, walletId, externalId, reason, 'awaiting_payment AND pay_url IS NOT DISTINCT FROM ?', [ifPayUrl]);
  }

  /** A top-up the driver asked for, REJECTED with why if it is in the state `condition` (SQL) names; null if not. */
  private async reject(
    em: EntityManager,
    walletId: string,
    externalId: string,
    reason: RequestFailure,
    condition: string,
    conditionParams: readonly unknown[] = [],
  ): Promise<TransactionRow | null> {
    const [row] = await queryBound<TransactionRow>(
      em,
      `UPDATE topup_transaction SET status = 'REJECTED', reason = ?, awaiting_payment = false, processed_at = now()
        WHERE wallet_id = ?::uuid AND external_id = ? AND ${condition} RETURNING *`,
      [reason, walletId, externalId, ...conditionParams],
    );
    if (!row) return null;
    const transaction = toTransactionRow(row);
    this.observe(transaction.status, transaction.payment_system);
    return transaction;
  }

  /**
   * The common case: a new payment that nothing refuses is recorded ACCEPTED together with the
   * other callers' of the moment (one statement, one commit), for the credit gate to find. Null
   * when nothing was recorded for it (a refusal, a repeat): the caller takes the longer path, which
   * knows why. The wallet's own refusals are known here; the driver's and the
   * park's are conditions of the statement (those of `refusalOf`, which the longer path applies).
   */
  private async acceptAtOnce(wallet: WalletRow, externalId: string, account: string, amount: bigint): Promise<AcceptResult | null> {
    if (walletRefusalOf(wallet, amount, this.amountCeiling)) return null;
    const transaction = await this.batches.record({ wallet, externalId, account, amount });
    if (!transaction) return null;
    this.observe(transaction.status, wallet.payment_system);
    return { transaction, refusal: null, created: true };
  }

  /**
   * The credit gate's batch: up to `limit` ACCEPTED top-ups that no credit job of their own holds
   * (a caller's transaction, a settled request or the sweep booked one; or one held longer than
   * `heldSeconds`, by a killed worker), oldest first, credited together in one transaction
   * (`creditMany`). Should that transaction fail, each is credited on its own (`credit`), a few at a
   * time, and one that fails then gets a job of its own, retried with backoff, which this then
   * leaves to it. Returns how many it found (`limit`: there may be more), how many failed, and why
   * the one transaction failed, if it did.
   */
  async creditAccepted(em: EntityManager, limit: number, heldSeconds: number): Promise<{ found: number; failed: number; togetherFailed?: unknown }> {
    const found = await this.uncredited(em, 0, heldSeconds, limit);
    if (found.length === 0) return { found: 0, failed: 0 };
    let togetherFailed: unknown;
    try {
      await this.creditMany(em.fork(), found.map((row) => ({ walletId: row.wallet_id, externalId: row.external_id })));
      return { found: found.length, failed: 0 };
    } catch (error) {
      // One of them cannot be credited (a trigger, a ledger refusal): crediting each alone finds which.
      togetherFailed = error;
    }
    const failed: KeyedJob<'topup__credit'>[] = [];
    let next = 0;
    const creditor = async () => {
      for (let row = found[next++]; row; row = found[next++]) {
        try {
          await this.credit(em.fork(), row.wallet_id, row.external_id);
        } catch {
          // Its own job fails the same way, and graphile-worker logs why at each attempt.
          failed.push({ payload: { walletId: row.wallet_id, externalId: row.external_id }, runAt: new Date(), jobKey: creditJobKey(row.wallet_id, row.external_id) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CREDITS_AT_ONCE, found.length) }, creditor));
    await this.jobs.addKeyed(em, 'topup__credit', failed);
    return { found: found.length, failed: failed.length, togetherFailed };
  }

  /**
   * Credits these top-ups in one transaction: the money of all of them moved in one ledger call,
   * each transfer under its own idempotency key (`topup:<id>`), and every row PROCESSED in one
   * statement. An ACCEPTED top-up is credited whatever changed since it was accepted (the driver
   * fired, the park or the wallet switched off, the wallet's bounds): the payment system was told
   * it was accepted and has taken the payer's money, so it is the driver's, and the clearing
   * account must match the system's registry. The checks belong to the accept, and were made
   * there. A row another transaction holds is skipped (whoever holds it is crediting it, and if
   * that fails the gate finds the row again), and one no longer ACCEPTED, or still awaiting
   * payment, is left as it is. One commit for the lot: crediting one per transaction had held the
   * clearing account's row through every commit in turn, a few hundred credits a second at most.
   * Anything that fails throws, and nothing of it is kept. Returns the rows it credited.
   */
  async creditMany(em: EntityManager, keys: readonly { walletId: string; externalId: string }[]): Promise<TransactionRow[]> {
    const decided = await em.transactional(async (tx) => {
      const locked = (
        await queryBound<TransactionRow>(
          tx,
          `SELECT t.* FROM unnest(?::uuid[], ?::text[]) AS k(wallet_id, external_id)
             JOIN topup_transaction t ON t.wallet_id = k.wallet_id AND t.external_id = k.external_id
            WHERE t.status = 'ACCEPTED' AND NOT t.awaiting_payment
            ORDER BY t.id FOR UPDATE OF t SKIP LOCKED`,
          [textArray(keys.map((key) => key.walletId)), textArray(keys.map((key) => key.externalId))],
        )
      ).map(toTransactionRow);
      if (locked.length === 0) return [];
      await this.ledger.moveMany(
        tx,
        locked.map((t) => ({
          from: clearingAccount(t.payment_system, t.currency),
          to: driverBalanceAccount(t.park_id, t.driver_id, t.currency),
          transfer: { idempotencyKey: creditTransferKey(t), amount: t.amount, kind: 'TOPUP', reference: `${t.payment_system}:${t.external_id}` },
        })),
      );
      const rows = await queryBound<TransactionRow>(
        tx,
        `UPDATE topup_transaction SET status = 'PROCESSED', processed_at = now() WHERE id = ANY(?::bigint[]) RETURNING *`,
        [plainArray(locked.map((t) => t.id))],
      );
      return rows.map(toTransactionRow);
    });
    for (const done of decided) this.observeDecided(done);
    return decided;
  }

  /**
   * A worker killed mid-job keeps its lock for hours: every ACCEPTED top-up older than
   * `overdueSeconds` with no credit job of its own key that is pending or held less than that gets
   * its job booked. So does one the credit gate has not credited by then, whether the gate died or
   * is merely behind (the gate then leaves it to that job); crediting is idempotent, so a slow
   * worker that is still alive does no harm. Returns how many.
   */
  async rebookOverdue(em: EntityManager, overdueSeconds: number, limit = 1000): Promise<number> {
    const overdue = await this.uncredited(em, overdueSeconds, overdueSeconds, limit);
    const jobs = overdue.map((row) => ({
      payload: { walletId: row.wallet_id, externalId: row.external_id },
      runAt: new Date(),
      jobKey: creditJobKey(row.wallet_id, row.external_id),
    }));
    await this.jobs.addKeyed(em, 'topup__credit', jobs);
    return jobs.length;
  }

  /**
   * ACCEPTED top-ups (not awaiting payment) recorded at least `ageSeconds` ago that no credit job
   * of their own holds (one held longer than `heldSeconds` counts as dead), oldest first: what the
   * gate credits and the sweep books. One statement, so those that have a job never fill `limit`.
   */
  private uncredited(em: EntityManager, ageSeconds: number, heldSeconds: number, limit: number): Promise<{ wallet_id: string; external_id: string }[]> {
    return queryBound<{ wallet_id: string; external_id: string }>(
      em,
      `SELECT t.wallet_id, t.external_id FROM topup_transaction t
        WHERE t.status = 'ACCEPTED' AND NOT t.awaiting_payment AND t.created_at <= now() - make_interval(secs => ?)
          AND ${this.jobs.noLiveJobSql(CREDIT_JOB_KEY_SQL)}
        ORDER BY t.id LIMIT ?`,
      [ageSeconds, heldSeconds, limit],
      { name: 'topup_uncredited' },
    );
  }

  /**
   * The external ids of a wallet's top-ups still awaiting payment (oldest first): what its payment
   * system still has open; with `createdBefore`, only those recorded before then.
   */
  async awaitingOn(em: EntityManager, walletId: string, createdBefore: string | null = null): Promise<string[]> {
    const rows = await queryBound<{ external_id: string }>(
      em,
      'SELECT external_id FROM topup_transaction WHERE wallet_id = ?::uuid AND awaiting_payment AND (?::timestamptz IS NULL OR created_at < ?::timestamptz) ORDER BY id',
      [walletId, createdBefore, createdBefore],
      { name: 'topup_awaiting_on' },
    );
    return rows.map((row) => row.external_id);
  }

  async countAccepted(em: EntityManager): Promise<number> {
    const [row] = await queryBound<{ n: string }>(em, `SELECT count(*) AS n FROM topup_transaction WHERE status = 'ACCEPTED' AND NOT awaiting_payment`, []);
    return Number(row!.n);
  }

  /** Parks and drivers with a credited top-up since `since`, per payment system (metrics, at scrape time). */
  async usageBySystem(em: EntityManager, since: Date): Promise<{ paymentSystem: string; parks: number; drivers: number }[]> {
    const rows = await queryBound<{ payment_system: string; parks: string; drivers: string }>(
      em,
      `SELECT payment_system, count(DISTINCT park_id) AS parks, count(DISTINCT (park_id, driver_id)) AS drivers
         FROM topup_transaction WHERE created_at >= ? AND status = 'PROCESSED' GROUP BY payment_system`,
      [since],
    );
    return rows.map((row) => ({ paymentSystem: row.payment_system, parks: Number(row.parks), drivers: Number(row.drivers) }));
  }

  async find(em: EntityManager, walletId: string, externalId: string): Promise<TransactionRow | null> {
    const [row] = await queryBound<TransactionRow>(em, 'SELECT * FROM topup_transaction WHERE wallet_id = ?::uuid AND external_id = ?', [walletId, externalId], {
      name: 'topup_find',
    });
    return row ? toTransactionRow(row) : null;
  }

  /**
   * A wallet's top-ups recorded from `from` to `to` (both included) that were not refused (ACCEPTED or PROCESSED), by
   * when they were recorded, at most `limit`: a payment system's statement (UZPAYNET's
   * `GetStatement`). A top-up the driver asked for counts once paid.
   */
  async statement(em: EntityManager, walletId: string, from: Date, to: Date, limit: number): Promise<TransactionRow[]> {
    const rows = await queryBound<TransactionRow>(
      em,
      `SELECT * FROM topup_transaction
        WHERE wallet_id = ?::uuid AND created_at BETWEEN ? AND ? AND status <> 'REJECTED' AND NOT awaiting_payment
        ORDER BY created_at, id LIMIT ?`,
      [walletId, from, to, limit],
    );
    return rows.map(toTransactionRow);
  }

  /**
   * Records that the payment system withdrew a payment it announced but never completed (EasyPay
   * cancels a Payment it will not Confirm): REJECTED `WITHDRAWN` under its external id, so a later
   * pay of that id is the repeat of a refusal and credits nothing. A payment already recorded is
   * returned as it is (a credited one is never withdrawn); an account naming no driver of the park
   * records nothing (null). One statement.
   */
  async withdraw(em: EntityManager, wallet: WalletRow, externalId: string, account: string, amount: bigint): Promise<TransactionRow | null> {
    validatePayment(externalId, amount);
    const found = await this.drivers.findPayable(em, wallet.park_id, account);
    if (!found) return this.find(em, wallet.id, externalId);
    const [inserted] = await queryBound<TransactionRow>(
      em,
      `INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status, reason)
       VALUES (?::uuid, ?, ?, ?, ?, ?, ?, 'REJECTED', ?) ON CONFLICT (wallet_id, external_id) DO NOTHING RETURNING *`,
      [wallet.id, wallet.park_id, found.driver.id, wallet.payment_system, externalId, amount.toString(), wallet.currency, WITHDRAWN],
      { name: 'topup_withdraw' },
    );
    if (!inserted) return this.find(em, wallet.id, externalId);
    const transaction = toTransactionRow(inserted);
    this.observe(transaction.status, wallet.payment_system);
    return transaction;
  }

  /**
   * The credit job's work: `creditMany` for one top-up. Returns it as decided, or as it is when
   * there was nothing to decide (already decided, awaiting payment, or held by a credit under way);
   * null if there is no such top-up. A failure throws: the job is retried with backoff, and the
   * ledger's idempotency key makes a second credit impossible.
   */
  async credit(em: EntityManager, walletId: string, externalId: string): Promise<TransactionRow | null> {
    const [decided] = await this.creditMany(em, [{ walletId, externalId }]);
    return decided ?? this.find(em, walletId, externalId);
  }

  /** A credited or rejected top-up's status for the metrics, with its credit lag when credited. */
  private observeDecided(done: TransactionRow): void {
    // From the payment: a top-up the driver asked for was paid long after it was recorded.
    const lag = done.status === 'PROCESSED' && done.processed_at ? (done.processed_at.getTime() - (done.paid_at ?? done.created_at).getTime()) / 1000 : undefined;
    this.observe(done.status, done.payment_system, lag);
  }
}

/**
 * How a top-up the driver asked for can end unpaid and still be paid: its time ran out (Paystack
 * cannot close a checkout), the system reported the payment failed and the payer tried again, or
 * the system refused to open it when it had in fact opened it (a retried Paystack initialize is
 * refused as a duplicate reference). A signed report that it was paid outweighs each of them.
 */
const PAID_LATE_REASONS: readonly RequestFailure[] = ['EXPIRED', 'PAYMENT_REJECTED', 'PAYMENT_SYSTEM_REFUSED'];

/** A top-up we gave up on that a payment may still settle. */
function paidLate(transaction: TransactionRow): boolean {
  return transaction.status === 'REJECTED' && PAID_LATE_REASONS.includes(transaction.reason as RequestFailure);
}

/** A top-up a reported payment settles, in SQL: awaiting payment, or `paidLate`. */
const PAYABLE_SQL = `(awaiting_payment OR (status = 'REJECTED' AND reason IN (${PAID_LATE_REASONS.map((reason) => `'${reason}'`).join(', ')})))`;

/** One credit job per top-up, under this key. */
export function creditJobKey(walletId: string, externalId: string): string {
  return `topup__credit:${walletId}:${externalId}`;
}

/** The ledger transfer of a top-up's credit, under this idempotency key: one, whoever credits it. */
function creditTransferKey(transaction: Pick<TransactionRow, 'id'>): string {
  return `topup:${transaction.id}`;
}

/** `creditJobKey` of a `topup_transaction t` row, in SQL. */
const CREDIT_JOB_KEY_SQL = `'topup__credit:' || t.wallet_id || ':' || t.external_id`;

/** Top-ups the credit gate credits at the same time (each a transaction, so a pooled connection). */
const CREDITS_AT_ONCE = 4;

/** The first reason a top-up may not go to this driver now, or null. */
function refusalOf(wallet: WalletRow, parkStatus: string, driver: DriverRow, amount: bigint | null, ceiling: bigint): Refusal | null {
  if (driver.status !== 'WORKING') return 'DRIVER_FIRED';
  if (parkStatus !== 'ACTIVE') return 'PARK_DISABLED';
  return walletRefusalOf(wallet, amount, ceiling);
}

/** The wallet's part of `refusalOf`: switched off or deleted, or the amount out of its bounds or over the ceiling. */
function walletRefusalOf(wallet: WalletRow, amount: bigint | null, ceiling: bigint): Refusal | null {
  if (!wallet.enabled || wallet.deleted_at !== null) return 'WALLET_DISABLED';
  if (amount !== null && wallet.min_amount !== null && amount < BigInt(wallet.min_amount)) return 'AMOUNT_TOO_SMALL';
  if (amount !== null && wallet.max_amount !== null && amount > BigInt(wallet.max_amount)) return 'AMOUNT_TOO_LARGE';
  if (amount !== null && amount > ceiling) return 'AMOUNT_TOO_LARGE';
  return null;
}

function validatePayment(externalId: string, amount: bigint): void {
  if (!EXTERNAL_ID.test(externalId)) throw new InvalidInputError('externalId must be 1–200 printable characters', { field: 'externalId' });
  if (amount <= 0n) throw new InvalidInputError('amount must be positive', { field: 'amount' });
}

function refusalReason(transaction: TransactionRow): Refusal | null {
  return transaction.status === 'REJECTED' ? (transaction.reason as Refusal) : null;
}
