import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import { parkPayoutAccount } from '../parks/park';
import type { ParkService } from '../parks/park.service';
import { PayoutAccount } from '../payouts/lifecycle';
import type { CreatePayoutInput, PayoutLifecycle } from '../payouts/payout-lifecycle';
import type { PayoutQueries } from '../payouts/payout.queries';
import type { Logger } from '../platform/logger';
import { transactionalRetrying } from '../platform/retry';
import type { PayoutRulesStore } from './payout-rules';
import type { SharedThrottle } from './throttle';

const DAY = 86_400_000;

export interface PeriodicRunResult {
  /** Active parks looked at. */
  parksChecked: number;
  payoutsCreated: number;
  /** What the payouts made pay, per currency. */
  totals: Map<string, bigint>;
  durationMs: number;
}

interface Due {
  parkId: string;
  currency: string;
}

/**
 * Periodic payouts: every active park with a positive balance and no payout (other than
 * CANCELLED or REJECTED) in the last N days gets one PERIODIC payout of its whole balance.
 *
 * The run walks the active parks by id in batches. Each batch is read without locks to find the
 * due parks, waits for the shared throttle, then in one transaction locks those parks' accounts,
 * checks again what it read (another worker may have paid them meanwhile) and creates the payouts.
 * Each payout's idempotency key names the park and the N-day period of the run, so no rerun, retry
 * or second worker pays a park twice in a period, whatever the locks did.
 */
export class PeriodicPayouts {
  constructor(
    private readonly orm: MikroORM,
    private readonly parks: ParkService,
    private readonly ledger: LedgerService,
    private readonly lifecycle: PayoutLifecycle,
    private readonly payouts: PayoutQueries,
    private readonly rules: PayoutRulesStore,
    private readonly throttle: SharedThrottle,
    private readonly options: { batchSize: number; onCreated?: (count: number) => void; onRunDone?: (seconds: number) => void },
    private readonly logger: Logger,
  ) {}

  async run(): Promise<PeriodicRunResult> {
    const started = performance.now();
    const em = this.orm.em.fork();
    const { periodicDays } = await this.rules.current(em);
    const [{ now }] = await em.execute<{ now: string }[]>('SELECT now()::text AS now');
    const runAt = new Date(now);
    const paidSince = new Date(runAt.getTime() - periodicDays * DAY);
    const period = `${periodicDays}d:${Math.floor(runAt.getTime() / (periodicDays * DAY))}`;
    const batchSize = this.throttle.batchSize(this.options.batchSize);
    const result: PeriodicRunResult = { parksChecked: 0, payoutsCreated: 0, totals: new Map(), durationMs: 0 };
    for (let after: string | null = null; ; ) {
      const parks = await this.parks.activeAfter(em, after, batchSize);
      if (parks.length === 0) break;
      after = parks[parks.length - 1]!.id;
      result.parksChecked += parks.length;
      // With a rate, the due parks are counted first (unlocked) to book the rate for them only;
      // without one, the transaction's own checks are enough.
      const due = this.throttle.limited ? await this.dueAmong(em, parks, paidSince, period) : parks.map(toDue);
      if (due.length === 0) continue;
      await this.throttle.take(em, due.length);
      const created = await transactionalRetrying(em, (tx) => this.pay(tx, due, paidSince, period));
      for (const payout of created) {
        result.totals.set(payout.currency, (result.totals.get(payout.currency) ?? 0n) + payout.amount);
      }
      result.payoutsCreated += created.length;
      this.options.onCreated?.(created.length);
      em.clear();
    }
    result.durationMs = performance.now() - started;
    this.options.onRunDone?.(result.durationMs / 1000);
    this.logger.info(
      { parksChecked: result.parksChecked, payoutsCreated: result.payoutsCreated, durationMs: Math.round(result.durationMs) },
      'periodic fleet payouts run done',
    );
    return result;
  }

  /** Parks of the batch with money in their currency, not paid in the last N days nor in this period (unlocked read). */
  private async dueAmong(em: EntityManager, parks: readonly { id: string; currency: string }[], paidSince: Date, period: string): Promise<Due[]> {
    const balances = await this.ledger.balancesOf(
      em,
      parks.map((park) => parkPayoutAccount(park.id, park.currency)),
    );
    const withMoney = parks.filter((_park, i) => (balances[i]?.balance ?? 0n) > 0n).map(toDue);
    const paid = await this.payouts.alreadyPaid(em, 'PARK', withMoney.map((park) => ({ id: park.parkId, key: keyOf(park.parkId, period) })), paidSince);
    return withMoney.filter((park) => !paid.has(park.parkId));
  }

  /**
   * Locks the due parks' accounts, checks them again (another worker may have paid them since the
   * read) and pays each its whole balance. A park paid in this period whose payout was then
   * rejected or cancelled waits for the next period: its key is spent.
   */
  private async pay(em: EntityManager, due: readonly Due[], paidSince: Date, period: string): Promise<CreatePayoutInput[]> {
    const currencyOf = new Map(due.map((park) => [park.parkId, park.currency]));
    const locked = await this.ledger.lockPositiveBalances(em, 'PARK', [...currencyOf.keys()], PayoutAccount.available);
    const payable = locked.filter((account) => currencyOf.get(account.key.owner.id) === account.key.currency);
    const paid = await this.payouts.alreadyPaid(
      em,
      'PARK',
      payable.map((account) => ({ id: account.key.owner.id, key: keyOf(account.key.owner.id, period) })),
      paidSince,
    );
    const inputs: CreatePayoutInput[] = payable
      .filter((account) => !paid.has(account.key.owner.id))
      .map((account) => ({
        payee: { kind: 'PARK', id: account.key.owner.id },
        amount: account.balance,
        currency: account.key.currency,
        source: 'PERIODIC',
        sourceRef: period,
        idempotencyKey: keyOf(account.key.owner.id, period),
        actor: 'fleet-periodic',
      }));
    await this.lifecycle.createMany(em, inputs);
    return inputs;
  }
}

/** One payout per park and period: the key no rerun, retry or second worker can use twice. */
function keyOf(parkId: string, period: string): string {
  return `periodic:${parkId}:${period}`;
}

function toDue(park: { id: string; currency: string }): Due {
  return { parkId: park.id, currency: park.currency };
}
