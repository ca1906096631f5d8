import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { payeeFromStored, payeeRef } from '../access/payee';
import { actorOf, assertCanSee } from '../access/principals';
import { Access } from '../access/rules';
import { NotFoundError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { isUuid } from '../platform/ids';
import { CashPaymentFactType } from './cash-payment-fact.type';
import { Payout } from './entities';
import { cashPaymentFactLoader, statusHistoryLoader } from './loaders';
import { PayoutConnection, PayoutFilter, PayoutStatusChangeType, PayoutType } from './payout.types';
import type { PayoutServices } from './services';

/** The longest history a payout can have: CREATED, SENT, ACCEPTED, PAID, RETURNED (a repeated status adds none). */
const MAX_STATUS_CHANGES = 5;

@Resolver(() => PayoutType)
export class PayoutResolver {
  constructor(private readonly services: PayoutServices) {}

  @Authorized(Access.withinScopes)
  @Query(() => PayoutType, { nullable: true, description: 'One payout; null when it does not exist' })
  async payout(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutType | null> {
    try {
      return PayoutType.of(await visiblePayout(ctx, id));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  @Authorized(Access.withinScopes)
  @Query(() => PayoutConnection, {
    description: 'Payouts the caller may see, newest first',
  })
  async payouts(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => PayoutFilter, { nullable: true }) filter?: PayoutFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<PayoutConnection> {
    const { queries } = this.services;
    const size = pageSize(first);
    const where = queries.where(filter, ctx.principal);
    const page = await queries.page(ctx.em, where, size, after ? decodeCursor(after) : null);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeCursor(row.createdAt, row.id),
      nodeOf: PayoutType.of,
      after,
      countQuery: () => queries.count(ctx.em, where),
    });
    return Object.assign(new PayoutConnection(), connection);
  }

  @Authorized(Access.withinScopes)
  @Mutation(() => PayoutType, { description: 'Cancels a payout that is still CREATED; its reservation is released' })
  async cancelPayout(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutType> {
    const payout = await visiblePayout(ctx, id);
    // The audit entry is the payee's too: a park's dispatcher sees the cancel of the park's payout.
    ctx.targets.add(payeeRef(payeeFromStored(payout.payeeKind, payout.payeeId)));
    await ctx.em.transactional((em) => this.services.lifecycle.cancel(em, id, { actor: actorOf(ctx.principal), reason: 'cancelled by user' }));
    ctx.em.clear();
    return PayoutType.of(await visiblePayout(ctx, id));
  }

  @FieldResolver(() => CashPaymentFactType, { nullable: true, description: 'Recorded when the payout was sent; null before' })
  async cashPaymentFact(@Root() payout: PayoutType, @Ctx() ctx: GraphQLContext): Promise<CashPaymentFactType | null> {
    const fact = await ctx.loaders.get(cashPaymentFactLoader).load(payout.id);
    return fact ? CashPaymentFactType.of(fact) : null;
  }

  @Cost({ maxItems: MAX_STATUS_CHANGES })
  @FieldResolver(() => [PayoutStatusChangeType], { description: 'Every status the payout has had, oldest first' })
  async statusHistory(@Root() payout: PayoutType, @Ctx() ctx: GraphQLContext): Promise<PayoutStatusChangeType[]> {
    const changes = await ctx.loaders.get(statusHistoryLoader).load(payout.id);
    return changes.map(PayoutStatusChangeType.of);
  }
}

/** The payout, if it exists and the caller sees its payee. */
async function visiblePayout(ctx: GraphQLContext, id: string): Promise<Payout> {
  const payout = isUuid(id) ? await ctx.em.findOne(Payout, { id }) : null;
  if (!payout) throw new NotFoundError(`Payout ${id} not found`, { id });
  assertCanSee(ctx.principal, payeeFromStored(payout.payeeKind, payout.payeeId));
  return payout;
}
