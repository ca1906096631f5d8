import { isUuid } from '../platform/ids';
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { CashPaymentFactType } from '../erp/cash-payment-fact.type';
import { assertCanSee } from '../platform/auth';
import { NotFoundError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeCursor, encodeCursor, pageComplexity, pageSize, toConnection } from '../platform/graphql/pagination';
import { payeeFromStored } from '../platform/payee';
import { Payout } from './entities';
import { PayoutQueries } from './payout.queries';
import {
  PayoutConnection,
  PayoutFilter,
  PayoutStatusChangeType,
  PayoutType,
} from './payout.types';

const queries = new PayoutQueries();

async function visiblePayout(ctx: GraphQLContext, id: string): Promise<Payout> {
  const payout = isUuid(id) ? await ctx.em.findOne(Payout, { id }) : null;
  if (!payout) throw new NotFoundError(`Payout ${id} not found`, { id });
  assertCanSee(ctx.principal, payeeFromStored(payout.payeeKind, payout.payeeId));
  return payout;
}

@Resolver(() => PayoutType)
export class PayoutResolver {
  @Query(() => PayoutType, { nullable: true, description: 'One payout; null when it does not exist' })
  async payout(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutType | null> {
    try {
      return PayoutType.of(await visiblePayout(ctx, id));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  @Query(() => PayoutConnection, {
    description: 'Payouts the caller may see, newest first',
    complexity: pageComplexity,
  })
  async payouts(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => PayoutFilter, { nullable: true }) filter?: PayoutFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<PayoutConnection> {
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

  @Mutation(() => PayoutType, { description: 'Cancels a payout that is still CREATED; its reservation is released' })
  async cancelPayout(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutType> {
    await visiblePayout(ctx, id);
    const { app, principal } = ctx;
    await ctx.em.transactional((em) =>
      app.payouts.cancel(em, id, { actor: `${principal.role}:${principal.subject}`, reason: 'cancelled by user' }),
    );
    ctx.em.clear();
    return PayoutType.of(await visiblePayout(ctx, id));
  }

  @FieldResolver(() => CashPaymentFactType, { nullable: true, description: 'Recorded when the payout was sent; null before' })
  async cashPaymentFact(@Root() payout: PayoutType, @Ctx() ctx: GraphQLContext): Promise<CashPaymentFactType | null> {
    const fact = await ctx.loaders.cashPaymentFact.load(payout.id);
    return fact ? CashPaymentFactType.of(fact) : null;
  }

  @FieldResolver(() => [PayoutStatusChangeType], { description: 'Every status the payout has had, oldest first' })
  async statusHistory(@Root() payout: PayoutType, @Ctx() ctx: GraphQLContext): Promise<PayoutStatusChangeType[]> {
    const changes = await ctx.loaders.statusHistory.load(payout.id);
    return changes.map(PayoutStatusChangeType.of);
  }
}
