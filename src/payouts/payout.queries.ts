import type { EntityManager, FilterQuery, QBFilterQuery } from '@mikro-orm/postgresql';
import { seesEverything, type Principal } from '../platform/auth';
import { ForbiddenError, InvalidInputError } from '../platform/errors';
import { parsePayeeRef } from '../platform/payee';
import { Payout } from './entities';
import type { PayoutFilter } from './payout.types';
import type { Page } from '../platform/graphql/pagination';



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
      const visible = [...principal.payees].map(parsePayeeRef).map((p) => ({
        payeeKind: p.kind,
        payeeId: p.kind === 'SHOP' ? `${p.partyId}/${p.shopId}` : p.id,
      }));
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
}
