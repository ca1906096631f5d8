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
      const due = await this.dueAmong(em, parks, paidSince);
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

  /** Parks of the batch with money in their currency and no payout that counts since `paidSince` (unlocked read). */
  private async dueAmong(em: EntityManager, parks: readonly { id: string; currency: string }[], paidSince: Date): Promise<Due[]> {
    const balances = await this.ledger.balancesOf(
      em,
      parks.map((park) => parkPayoutAccount(park.id, park.currency)),
    );
    const withMoney = parks.filter((_park, i) => (balances[i]?.balance ?? 0n) > 0n);
    const lastPaid = await this.payouts.lastCountedPayoutAt(
      em,
      'PARK',
      withMoney.map((park) => park.id),
    );
    return withMoney.map((park) => ({ parkId: park.id, currency: park.currency })).filter((park) => !paidRecently(lastPaid.get(park.parkId), paidSince));
  }

  /** Locks the due parks' accounts, checks them again and pays each its whole balance. */
  private async pay(em: EntityManager, due: readonly Due[], paidSince: Date, period: string): Promise<CreatePayoutInput[]> {
    const currencyOf = new Map(due.map((park) => [park.parkId, park.currency]));
    const locked = await this.ledger.lockPositiveBalances(em, 'PARK', [...currencyOf.keys()], PayoutAccount.available);
    const payable = locked.filter((account) => currencyOf.get(account.key.owner.id) === account.key.currency);
    const lastPaid = await this.payouts.lastCountedPayoutAt(
      em,
      'PARK',
      payable.map((account) => account.key.owner.id),
    );
    const inputs: CreatePayoutInput[] = payable
      .filter((account) => !paidRecently(lastPaid.get(account.key.owner.id), paidSince))
      .map((account) => ({
        payee: { kind: 'PARK', id: account.key.owner.id },
        amount: account.balance,
        currency: account.key.currency,
        source: 'PERIODIC',
        sourceRef: period,
        idempotencyKey: `periodic:${account.key.owner.id}:${period}`,
        actor: 'fleet-periodic',
      }));
    // A park paid in this period whose payout was then rejected or cancelled waits for the next period.
    const used = await this.payouts.usedIdempotencyKeys(
      em,
      inputs.map((input) => input.idempotencyKey),
    );
    const fresh = inputs.filter((input) => !used.has(input.idempotencyKey));
    await this.lifecycle.createMany(em, fresh);
    return fresh;
  }
}

function paidRecently(lastPaidAt: Date | undefined, paidSince: Date): boolean {
  return lastPaidAt !== undefined && lastPaidAt > paidSince;
}
