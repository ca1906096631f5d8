import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { LedgerService } from '../ledger/ledger.service';
import { SYSTEM_OWNER } from '../ledger/ledger.service';
import { parkPayoutAccount } from '../parks/park';
import type { CreatePayoutInput, PayoutLifecycle } from '../payouts/payout-lifecycle';
import { queryBound } from '../platform/bound-query';
import { sqlState } from '../platform/database-errors';
import { ConflictError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { transactionalRetrying } from '../platform/retry';
import { textArray } from '../platform/sql-arrays';
import { DUE_PERIODS, RECORD_LINES } from './activity.sql';

/** The company's expense account camera rent is paid from (a SYSTEM account: it may go negative). */
export const CAMERA_RENT_ACCOUNT = 'signalq-rent';

/** Failing this long, a line waits for an admin's `runSignalqBilling(parkId)` instead of every run. */
const MANUAL_AFTER = '1 day';

/** Session advisory lock key: one billing run at a time across every process. */
const RUN_LOCK = 'signalq_billing_run';

export interface SignalqRunResult {
  periodsRecorded: number;
  linesRecorded: number;
  /** Lines that became CREATED in this run with a payout (zero lines are CREATED when recorded). */
  linesPaid: number;
  payoutsCreated: number;
  /** Lines whose payment failed in this run: they keep the error and are tried again. */
  linesFailed: number;
  totals: Map<string, bigint>;
  /** Time spent reading the history and recording lines (the statements computing active days). */
  activityReadMs: number;
  durationMs: number;
}

export interface BillingHooks {
  onActivityRead?: (seconds: number) => void;
  onLinesRecorded?: (count: number) => void;
  onPaid?: (payouts: number, totals: Map<string, bigint>) => void;
  onRunDone?: (seconds: number) => void;
}

interface DuePeriod {
  park_id: string;
  version_id: string;
  period_start: string;
  period_end: string;
  timezone: string;
  min_active_minutes: number;
  daily_rate: string;
  currency: string;
}

interface OpenLine {
  id: string;
  park_id: string;
  device_id: string;
  period_start: string;
  amount: string;
  currency: string;
}

export class BillingRunBusyError extends ConflictError {
  constructor() {
    super('A camera billing run is in progress; try again when it is done');
  }
}

/**
 * The camera billing run. First it records every ended period not recorded yet (all of them since
 * the config's first period, so a park whose period ended while the service was down is caught up):
 * one line per (park, camera, period) with its active days, computed in SQL. Then it pays the open
 * lines of enabled parks: each line is marked IN_PROGRESS (committed), then in one transaction the
 * park's payout account is credited from the camera-rent expense account and a SIGNALQ payout is
 * created, both keyed by (park, device, period), and the line becomes CREATED. A failure leaves the
 * line IN_PROGRESS with its error for the next run; after a day of failures only an admin's run of
 * that park retries it. A disabled park's lines are recorded and wait, NOT_CREATED, until it is
 * enabled again.
 */
export class SignalqBilling {
  constructor(
    private readonly orm: MikroORM,
    private readonly pgPool: Pool,
    private readonly ledger: LedgerService,
    private readonly lifecycle: PayoutLifecycle,
    private readonly options: { periodBatch: number; parkBatch: number },
    private readonly hooks: BillingHooks,
    private readonly logger: Logger,
  ) {}

  /**
   * Runs once, unless another process is running: then `busy` decides (the crontab's run returns
   * null and leaves it to the one running; an admin's gets BillingRunBusyError). `asOf` is the
   * time that decides which periods have ended (now; tests and replays give another).
   */
  async run(options: { parkId?: string | null; manual?: boolean; asOf?: Date } = {}): Promise<SignalqRunResult | null> {
    const client = await this.pgPool.connect();
    let locked = false;
    try {
      locked = (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [RUN_LOCK])).rows[0]!.locked;
      if (!locked) {
        if (options.manual) throw new BillingRunBusyError();
        this.logger.info('signalq billing run skipped: another process is running it');
        return null;
      }
      return await this.runLocked(options.parkId ?? null, Boolean(options.manual), options.asOf ?? new Date());
    } finally {
      if (locked) await client.query('SELECT pg_advisory_unlock(hashtext($1))', [RUN_LOCK]).catch(() => undefined);
      client.release();
    }
  }

  private async runLocked(parkId: string | null, manual: boolean, asOf: Date): Promise<SignalqRunResult> {
    const started = performance.now();
    const result: SignalqRunResult = {
      periodsRecorded: 0,
      linesRecorded: 0,
      linesPaid: 0,
      payoutsCreated: 0,
      linesFailed: 0,
      totals: new Map(),
      activityReadMs: 0,
      durationMs: 0,
    };
    const em = this.orm.em.fork();
    for (;;) {
      const due = await queryBound<DuePeriod>(em, DUE_PERIODS, [parkId, parkId, asOf, asOf, this.options.periodBatch]);
      if (due.length === 0) break;
      const readStarted = performance.now();
      const [recorded] = await transactionalRetrying(em, async (tx) => {
        // The spans of a batch are sorted and grouped in memory: with the default 4 MB they spill to disk.
        await queryBound(tx, `SET LOCAL work_mem = '64MB'`, []);
        return queryBound<{ lines: number }>(tx, RECORD_LINES, [
          textArray(due.map((d) => d.park_id)),
          `{${due.map((d) => d.version_id).join(',')}}`,
          textArray(due.map((d) => d.period_start)),
          textArray(due.map((d) => d.period_end)),
          textArray(due.map((d) => d.timezone)),
          `{${due.map((d) => d.min_active_minutes).join(',')}}`,
          `{${due.map((d) => d.daily_rate).join(',')}}`,
          textArray(due.map((d) => d.currency)),
        ]);
      });
      const readMs = performance.now() - readStarted;
      result.activityReadMs += readMs;
      this.hooks.onActivityRead?.(readMs / 1000);
      result.periodsRecorded += due.length;
      result.linesRecorded += recorded!.lines;
      this.hooks.onLinesRecorded?.(recorded!.lines);
    }
    for (let after = ''; ; ) {
      const parks = await this.parksWithOpenLines(em, parkId, manual, after);
      if (parks.length === 0) break;
      after = parks[parks.length - 1]!;
      await this.payParks(em, parks, manual, result);
    }
    result.durationMs = performance.now() - started;
    this.hooks.onRunDone?.(result.durationMs / 1000);
    this.logger.info(
      {
        parkId,
        periodsRecorded: result.periodsRecorded,
        linesRecorded: result.linesRecorded,
        linesPaid: result.linesPaid,
        linesFailed: result.linesFailed,
        durationMs: Math.round(result.durationMs),
      },
      'signalq billing run done',
    );
    return result;
  }

  /** Enabled parks (their latest config) with lines to pay, by id; lines failing for a day only when run by hand. */
  private async parksWithOpenLines(em: EntityManager, parkId: string | null, manual: boolean, after: string): Promise<string[]> {
    const rows = await queryBound<{ park_id: string }>(
      em,
      `SELECT DISTINCT p.park_id FROM signalq_payment p
        WHERE p.payment_progress <> 'CREATED' AND p.park_id > ? AND (?::text IS NULL OR p.park_id = ?)
          AND (? OR p.failing_since IS NULL OR p.failing_since > now() - ?::interval)
          AND (SELECT c.enabled FROM signalq_config_version c WHERE c.park_id = p.park_id ORDER BY c.effective_from DESC LIMIT 1)
        ORDER BY p.park_id LIMIT ?`,
      [after, parkId, parkId, manual, MANUAL_AFTER, this.options.parkBatch],
    );
    return rows.map((row) => row.park_id);
  }

  /** Pays a batch of parks in one transaction; when that fails, each park on its own, so one park's failure stops no other. */
  private async payParks(em: EntityManager, parks: readonly string[], manual: boolean, result: SignalqRunResult): Promise<void> {
    const lines = await transactionalRetrying(em, (tx) => this.markInProgress(tx, parks, manual));
    if (lines.length === 0) return;
    try {
      this.count(result, await transactionalRetrying(em, (tx) => this.pay(tx, lines)));
      return;
    } catch (error) {
      if (parks.length === 1) {
        await this.recordFailure(em, lines, error, result);
        return;
      }
    }
    for (const park of parks) {
      const own = lines.filter((line) => line.park_id === park);
      if (own.length === 0) continue;
      try {
        this.count(result, await transactionalRetrying(em, (tx) => this.pay(tx, own)));
      } catch (error) {
        await this.recordFailure(em, own, error, result);
      }
    }
  }

  private count(result: SignalqRunResult, paid: { lines: number; totals: Map<string, bigint> }): void {
    result.linesPaid += paid.lines;
    result.payoutsCreated += paid.lines;
    for (const [currency, amount] of paid.totals) result.totals.set(currency, (result.totals.get(currency) ?? 0n) + amount);
    this.hooks.onPaid?.(paid.lines, paid.totals);
  }

  /** NOT_CREATED → IN_PROGRESS, committed before the money moves: a crash leaves them IN_PROGRESS for the next run. */
  private async markInProgress(em: EntityManager, parks: readonly string[], manual: boolean): Promise<OpenLine[]> {
    return queryBound<OpenLine>(
      em,
      `UPDATE signalq_payment SET payment_progress = 'IN_PROGRESS', attempts = attempts + 1, updated_at = now()
        WHERE park_id = ANY (?::text[]) AND payment_progress <> 'CREATED'
          AND (? OR failing_since IS NULL OR failing_since > now() - ?::interval)
       RETURNING id::text, park_id, device_id, period_start::text, amount::text, currency`,
      [textArray(parks), manual, MANUAL_AFTER],
    );
  }

  /**
   * Pays lines in one transaction: the ledger credit and the payout of each line are keyed by
   * (park, device, period), so a line paid by an earlier attempt whose commit went unseen moves
   * nothing again. Lines already CREATED (another process got there first) are left alone.
   */
  private async pay(em: EntityManager, candidates: readonly OpenLine[]): Promise<{ lines: number; totals: Map<string, bigint> }> {
    const lines = await queryBound<OpenLine>(
      em,
      `SELECT id::text, park_id, device_id, period_start::text, amount::text, currency FROM signalq_payment
        WHERE id = ANY (?::bigint[]) AND payment_progress = 'IN_PROGRESS' ORDER BY id FOR UPDATE`,
      [`{${candidates.map((line) => line.id).join(',')}}`],
    );
    if (lines.length === 0) return { lines: 0, totals: new Map() };
    const keys = lines.map((line) => `signalq:${line.park_id}:${line.device_id}:${line.period_start}`);
    await this.ledger.moveMany(
      em,
      lines.map((line, i) => ({
        from: { owner: SYSTEM_OWNER, type: CAMERA_RENT_ACCOUNT, currency: line.currency.trim() },
        to: parkPayoutAccount(line.park_id, line.currency.trim()),
        transfer: { idempotencyKey: keys[i]!, amount: BigInt(line.amount), kind: 'signalq_rent', reference: keys[i]! },
      })),
    );
    const inputs: CreatePayoutInput[] = lines.map((line, i) => ({
      payee: { kind: 'PARK', id: line.park_id },
      amount: BigInt(line.amount),
      currency: line.currency.trim(),
      source: 'SIGNALQ',
      sourceRef: keys[i]!,
      idempotencyKey: keys[i]!,
      actor: 'signalq-billing',
    }));
    const payouts = await this.lifecycle.createMany(em, inputs);
    await queryBound(
      em,
      `UPDATE signalq_payment p SET payment_progress = 'CREATED', payout_id = u.payout_id, error = NULL, failing_since = NULL,
              updated_at = now()
         FROM unnest(?::bigint[], ?::uuid[]) AS u(id, payout_id) WHERE p.id = u.id`,
      [`{${lines.map((line) => line.id).join(',')}}`, textArray(payouts.map((change) => change.payout.id))],
    );
    const totals = new Map<string, bigint>();
    for (const line of lines) totals.set(line.currency.trim(), (totals.get(line.currency.trim()) ?? 0n) + BigInt(line.amount));
    return { lines: lines.length, totals };
  }

  private async recordFailure(em: EntityManager, lines: readonly OpenLine[], error: unknown, result: SignalqRunResult): Promise<void> {
    const message = failureText(error);
    this.logger.warn({ parkId: lines[0]?.park_id, lines: lines.length, err: error }, 'signalq payment failed; the next run tries again');
    await queryBound(
      em,
      `UPDATE signalq_payment SET error = ?, failing_since = coalesce(failing_since, now()), updated_at = now()
        WHERE id = ANY (?::bigint[]) AND payment_progress <> 'CREATED'`,
      [message, `{${lines.map((line) => line.id).join(',')}}`],
    );
    result.linesFailed += lines.length;
  }
}

/** What a line shows of its failure: the reason, without the statement a database error quotes. */
function failureText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const state = sqlState(error);
  // knex prefixes the failed statement: "<sql> - <PostgreSQL's message>".
  const reason = state !== undefined && text.includes(' - ') ? text.slice(text.lastIndexOf(' - ') + 3) : text;
  return (state !== undefined ? `${reason} (SQLSTATE ${state})` : reason).slice(0, 2000);
}
