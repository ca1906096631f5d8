import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, InvalidInputError, NotFoundError } from '../platform/errors';
import { plainArray, textArray } from '../platform/sql-arrays';
import { SYSTEM_OWNER, worldAccount, type AccountKey, type LedgerService } from '../ledger/ledger.service';
import { shopOwnerId, shopPayoutAccount, type ShopKey } from '../shops/shop';
import type { ShopService } from '../shops/shop.service';
import type { ShopOperation } from './operation';
import type { PayoutRow } from '../payouts/payout-messages';

/** The system account that collects fees taken from shops. */
export const FEES_ACCOUNT = 'fees';

/** One ledger transfer an operation makes. */
interface Leg {
  key: string;
  from: AccountKey;
  to: AccountKey;
  amount: bigint;
  kind: string;
  reference: string;
}

/** The operations of a shop a run pays: how many, and what they add up to. */
export interface UnpaidOperations {
  count: number;
  total: bigint;
}

/**
 * A shop's financial operations from `invoicing`. Each is recorded once per business id and
 * moves its payable effect into the shop's `payout` account: money in from `world`, fees out
 * to the system's `fees` account. Works on whole batches: a handful of statements per batch.
 */
export class OperationService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly shops: ShopService,
  ) {}

  /**
   * Records the operations not seen before and posts their ledger legs, in the caller's
   * transaction. Throws on the first operation that cannot be applied (unknown shop, wrong
   * currency), naming it, so the caller can set that one aside.
   */
  async record(em: EntityManager, operations: readonly ShopOperation[]): Promise<number> {
    if (operations.length === 0) return 0;
    await this.checkShops(em, operations);
    const inserted = await em.execute<{ business_id: string }[]>(
      `INSERT INTO shop_operation (party_id, shop_id, business_id, kind, invoice_id, payment_id, amount, fee, payable,
                                   currency, occurred_at, event_id)
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[],
                            ?::bigint[], ?::text[], ?::timestamptz[], ?::text[])
       ON CONFLICT (business_id) DO NOTHING
       RETURNING business_id`,
      [
        textArray(operations.map((o) => o.partyId)),
        textArray(operations.map((o) => o.shopId)),
        textArray(operations.map((o) => o.businessId)),
        plainArray(operations.map((o) => o.kind)),
        textArray(operations.map((o) => o.invoiceId)),
        textArray(operations.map((o) => o.paymentId)),
        plainArray(operations.map((o) => o.amount)),
        plainArray(operations.map((o) => o.fee)),
        plainArray(operations.map((o) => o.payable)),
        plainArray(operations.map((o) => o.currency)),
        textArray(operations.map((o) => o.occurredAt.toISOString())),
        textArray(operations.map((o) => o.eventId)),
      ],
    );
    // The same operation under two eventIds (or twice in one batch) is recorded, and moves money, once.
    const fresh = new Set(inserted.map((r) => r.business_id));
    const legs = operations.filter((o) => fresh.delete(o.businessId)).flatMap(legsOf);
    await this.post(em, legs);
    return inserted.length;
  }

  /**
   * How many of the shop's operations are not yet in a payout and happened before the cut-off,
   * and their sum. Not locked: the caller holds the shop's lock, and `markPaid` checks it marks
   * exactly these.
   */
  async unpaidBefore(em: EntityManager, shop: ShopKey, cutoff: Date): Promise<UnpaidOperations> {
    const [row] = await em.execute<{ count: string; total: string | null }[]>(
      `SELECT count(*) AS count, sum(payable) AS total FROM shop_operation
        WHERE party_id = ? AND shop_id = ? AND payout_id IS NULL AND occurred_at < ?`,
      [shop.partyId, shop.shopId, cutoff],
    );
    return { count: Number(row!.count), total: BigInt(row!.total ?? 0) };
  }

  /**
   * Marks the shop's unpaid operations before the cut-off with their payout. They must be the
   * ones `unpaidBefore` counted: one that arrived in between (a late operation before the
   * cut-off) fails the run, which is retried and then pays it too.
   */
  async markPaid(em: EntityManager, shop: ShopKey, cutoff: Date, payoutId: string, expected: UnpaidOperations): Promise<void> {
    const [marked] = await em.execute<{ count: string; total: string | null }[]>(
      `WITH marked AS (
         UPDATE shop_operation SET payout_id = ?
          WHERE party_id = ? AND shop_id = ? AND payout_id IS NULL AND occurred_at < ?
          RETURNING payable)
       SELECT count(*) AS count, sum(payable) AS total FROM marked`,
      [payoutId, shop.partyId, shop.shopId, cutoff],
    );
    if (Number(marked!.count) !== expected.count || BigInt(marked!.total ?? 0) !== expected.total) {
      throw new ConflictError('The shop’s operations changed while its run was paying them', { payoutId });
    }
  }

  /**
   * Told when a payout's money comes back (cancelled, rejected, returned), in that step's
   * transaction: a scheduled payout's operations are unpaid again and the shop's next run pays them.
   */
  async releaseOperations(em: EntityManager, payout: PayoutRow): Promise<void> {
    if (payout.source !== 'SCHEDULE') return;
    await em.execute(
      'UPDATE shop_operation SET payout_id = NULL, released_from = array_append(released_from, payout_id) WHERE payout_id = ?',
      [payout.id],
    );
  }

  private async checkShops(em: EntityManager, operations: readonly ShopOperation[]): Promise<void> {
    const keys = new Map<string, ShopKey>();
    for (const o of operations) keys.set(shopOwnerId(o), { partyId: o.partyId, shopId: o.shopId });
    const currencies = await this.shops.currencies(em, [...keys.values()]);
    for (const o of operations) {
      const currency = currencies.get(shopOwnerId(o));
      if (!currency) {
        throw new NotFoundError(`Shop ${shopOwnerId(o)} does not exist (operation ${o.businessId})`, { field: 'shopId' });
      }
      if (currency !== o.currency) {
        throw new InvalidInputError(`Operation ${o.businessId} is in ${o.currency}, but shop ${shopOwnerId(o)} is paid in ${currency}`, {
          field: 'currency',
        });
      }
    }
  }

  private async post(em: EntityManager, legs: readonly Leg[]): Promise<void> {
    if (legs.length === 0) return;
    const nameOf = (key: AccountKey) => `${key.owner.kind}/${key.owner.id}/${key.type}/${key.currency}`;
    const accounts = new Map<string, AccountKey>();
    for (const leg of legs) accounts.set(nameOf(leg.from), leg.from).set(nameOf(leg.to), leg.to);
    const names = [...accounts.keys()];
    const found = await this.ledger.accountIds(em, [...accounts.values()]);
    const ids = new Map(names.map((name, i) => [name, found[i]!]));
    await this.ledger.postMany(
      em,
      legs.map((leg) => ({
        idempotencyKey: leg.key,
        debitAccountId: ids.get(nameOf(leg.from))!,
        creditAccountId: ids.get(nameOf(leg.to))!,
        amount: leg.amount,
        currency: leg.from.currency,
        kind: leg.kind,
        reference: leg.reference,
      })),
    );
  }
}

/** The transfers that give an operation its payable effect on the shop's account. */
function legsOf(operation: ShopOperation): Leg[] {
  const shop = shopPayoutAccount(operation, operation.currency);
  const world = worldAccount(operation.currency);
  const fees: AccountKey = { owner: SYSTEM_OWNER, type: FEES_ACCOUNT, currency: operation.currency };
  const kind = `operation_${operation.kind.toLowerCase()}`;
  const leg = (suffix: string, from: AccountKey, to: AccountKey, amount: bigint): Leg => ({
    key: `operation:${operation.businessId}:${suffix}`,
    from,
    to,
    amount,
    kind,
    reference: operation.businessId,
  });
  const legs: Leg[] = [];
  const incoming = operation.kind === 'PAYMENT' || (operation.kind === 'ADJUSTMENT' && operation.amount > 0n);
  const amount = operation.amount < 0n ? -operation.amount : operation.amount;
  legs.push(incoming ? leg('amount', world, shop, amount) : leg('amount', shop, world, amount));
  if (operation.fee > 0n) legs.push(leg('fee', shop, fees, operation.fee));
  return legs;
}
