import type { EntityManager, FilterQuery, QBFilterQuery } from '@mikro-orm/postgresql';
import { payeeId } from '../access/payee';
import { scopedPayees, seesEverything, type Principal } from '../access/principals';
import { ForbiddenError, InvalidInputError } from '../platform/errors';
import type { Page } from '../platform/graphql/pagination';
import { queryBound } from '../platform/bound-query';
import { textArray } from '../platform/sql-arrays';
import { Payout, PayoutStatusChange } from './entities';
import { MONEY_BACK_STATUSES, type PayoutSource, type PayoutStatus } from './lifecycle';
import type { PayoutRow } from './payout-messages';
import type { PayoutFilter } from './payout.types';

/** What other modules may read of a payout to check their own records against it. */
export interface PayoutSummary {
  id: string;
  source: PayoutSource;
  status: PayoutStatus;
  party_id: string | null;
  shop_id: string | null;
  amount: string;
}

/** Read side of payouts: filtered, scoped to what the caller may see, keyset-paged newest first. */
export class PayoutQueries {
  where(filter: PayoutFilter | null | undefined, principal: Principal): FilterQuery<Payout> {
    const conditions: FilterQuery<Payout>[] = [];
    const f = filter ?? {};
    if (f.payeeId && !f.payeeKind) {
      throw new InvalidInputError('payeeId needs payeeKind', { field: 'filter.payeeId' });
    }
    if (f.partyId) conditions.push({ partyId: f.partyId });
    if (f.shopId) conditions.push({ shopId: f.shopId });
    if (f.payeeKind) conditions.push({ payeeKind: f.payeeKind });
    if (f.payeeId) conditions.push({ payeeId: f.payeeId });
    if (f.status?.length) conditions.push({ status: { $in: f.status } });
    if (f.source?.length) conditions.push({ source: { $in: f.source } });
    if (f.createdFrom) conditions.push({ createdAt: { $gte: f.createdFrom } });
    if (f.createdTo) conditions.push({ createdAt: { $lt: f.createdTo } });
    if (!seesEverything(principal)) {
      const visible = scopedPayees(principal).map((p) => ({ payeeKind: p.kind, payeeId: payeeId(p) }));
      if (visible.length === 0) throw new ForbiddenError('This token may not see any payee');
      conditions.push({ $or: visible });
    }
    return conditions.length === 0 ? {} : { $and: conditions };
  }

  async page(
    em: EntityManager,
    where: FilterQuery<Payout>,
    first: number,
    after: { at: Date; id: string } | null,
  ): Promise<Page<Payout>> {
    const qb = em
      .createQueryBuilder(Payout, 'p')
      .select('*')
      .where(where as QBFilterQuery<Payout>)
      .orderBy([{ createdAt: 'desc' }, { id: 'desc' }])
      .limit(first + 1);
    if (after) {
      // Keyset on the cursor row's own created_at: the database keeps microseconds, a JS Date (and
      // so the cursor) only milliseconds, and payouts made in one transaction share created_at.
      qb.andWhere('(p.created_at, p.id) < (SELECT c.created_at, c.id FROM payout c WHERE c.id = ?)', [after.id]);
    }
    // Plain rows, not managed entities: a read-only page needs no identity map or change tracking.
    const rows = await qb.execute<Payout[]>('all', true);
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  count(em: EntityManager, where: FilterQuery<Payout>): Promise<number> {
    return em.count(Payout, where);
  }

  async byIds(em: EntityManager, ids: readonly string[]): Promise<Payout[]> {
    return em.find(Payout, { id: { $in: [...ids] } });
  }

  /** The payouts a source made under these references (a request's, one per currency). */
  async bySourceRefs(em: EntityManager, source: PayoutSource, refs: readonly string[]): Promise<Payout[]> {
    return em.find(Payout, { source, sourceRef: { $in: [...refs] } }, { orderBy: { currency: 'asc' } });
  }

  /** Every status these payouts have had, oldest first. */
  async histories(em: EntityManager, payoutIds: readonly string[]): Promise<PayoutStatusChange[]> {
    return em.find(PayoutStatusChange, { payoutId: { $in: [...payoutIds] } }, { orderBy: { payoutId: 'asc', sequence: 'asc' } });
  }

  /** Source, status, shop and amount of these payouts (those that exist). */
  async summaries(em: EntityManager, ids: readonly string[]): Promise<PayoutSummary[]> {
    if (ids.length === 0) return [];
    return queryBound<PayoutSummary>(
      em,
      `SELECT id, source, status, party_id, shop_id, amount::text AS amount FROM payout WHERE id = ANY (?::uuid[])`,
      [textArray(ids)],
    );
  }

  /** The payouts of a source whose money has not come back (they pay, or will pay, their amount). */
  async live(em: EntityManager, source: PayoutSource): Promise<PayoutSummary[]> {
    return queryBound<PayoutSummary>(
      em,
      `SELECT id, source, status, party_id, shop_id, amount::text AS amount FROM payout
        WHERE source = ? AND status <> ALL (?::text[])`,
      [source, textArray(MONEY_BACK_STATUSES)],
    );
  }

  /** The payout created under this idempotency key, if any (a repeated request's answer). */
  async byIdempotencyKey(em: EntityManager, key: string): Promise<PayoutRow | null> {
    const [row] = await queryBound<PayoutRow>(em, 'SELECT * FROM payout WHERE idempotency_key = ?', [key], { name: 'payout_by_key' });
    return row ?? null;
  }

  /**
   * Of these payees of one kind, those already paid: a payout that counts (any status but
   * CANCELLED and REJECTED) created after `since`, or any payout under the payee's idempotency key.
   */
  async alreadyPaid(em: EntityManager, payeeKind: string, payees: readonly { id: string; key: string }[], since: Date): Promise<Set<string>> {
    if (payees.length === 0) return new Set();
    const rows = await queryBound<{ id: string }>(
      em,
      `SELECT k.id FROM unnest(?::text[], ?::text[]) AS k(id, key)
        WHERE EXISTS (SELECT 1 FROM payout p WHERE p.payee_kind = ? AND p.payee_id = k.id
                         AND p.status NOT IN ('CANCELLED', 'REJECTED') AND p.created_at > ?)
           OR EXISTS (SELECT 1 FROM payout p WHERE p.idempotency_key = k.key)`,
      [textArray(payees.map((payee) => payee.id)), textArray(payees.map((payee) => payee.key)), payeeKind, since],
    );
    return new Set(rows.map((row) => row.id));
  }

  /**
   * For each of these payees of one kind, when its latest payout that counts was created: any
   * status but those whose money came back unpaid (CANCELLED, REJECTED). Payees never paid are absent.
   */
  async lastCountedPayoutAt(em: EntityManager, payeeKind: string, payeeIds: readonly string[]): Promise<Map<string, Date>> {
    if (payeeIds.length === 0) return new Map();
    const rows = await queryBound<{ payee_id: string; created_at: string }>(
      em,
      `SELECT k.id AS payee_id, last.created_at
         FROM unnest(?::text[]) AS k(id),
         LATERAL (SELECT p.created_at FROM payout p
                   WHERE p.payee_kind = ? AND p.payee_id = k.id AND p.status NOT IN ('CANCELLED', 'REJECTED')
                   ORDER BY p.created_at DESC, p.id DESC LIMIT 1) last`,
      [textArray(payeeIds), payeeKind],
    );
    return new Map(rows.map((row) => [row.payee_id, new Date(row.created_at)]));
  }

  async countByStatus(em: EntityManager): Promise<{ status: string; count: number }[]> {
    const rows = await em.execute<{ status: string; count: string }[]>('SELECT status, count(*) AS count FROM payout GROUP BY status');
    return rows.map((row) => ({ status: row.status, count: Number(row.count) }));
  }
}
