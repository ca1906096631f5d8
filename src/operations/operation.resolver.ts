import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { InvalidInputError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { PayoutType } from '../payouts/payout.types';
import { ShopType } from '../shops/shop.types';
import { operationCountLoader, operationPageLoader } from './loaders';
import type { OperationScope } from './operation.queries';
import { ShopOperationConnection, ShopOperationType } from './operation.types';

/**
 * A page of operations in `scope`; null is a scope nothing can be in, answered without a query.
 * Through the request's loaders: the operations of every shop or payout of a list are one query.
 */
async function operationsPage(ctx: GraphQLContext, scope: OperationScope | null, first?: number, after?: string): Promise<ShopOperationConnection> {
  const size = pageSize(first);
  const afterId = after ? decodeKeyCursor(after, 1)[0]! : null;
  if (afterId !== null && !/^\d{1,18}$/.test(afterId)) {
    throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  }
  const page = scope ? await ctx.loaders.get(operationPageLoader).load({ scope, size, afterId }) : { rows: [], hasNextPage: false };
  const connection = toConnection(page, {
    cursorOf: (row) => encodeKeyCursor([String(row.id)]),
    nodeOf: ShopOperationType.of,
    after,
    countQuery: async () => (scope ? ctx.loaders.get(operationCountLoader).load(scope) : 0),
  });
  return Object.assign(new ShopOperationConnection(), connection);
}

@Resolver(() => ShopType)
export class ShopOperationsResolver {
  @FieldResolver(() => ShopOperationConnection, { description: 'The shop’s operations, newest recorded first' })
  operations(
    @Root() shop: ShopType,
    @Ctx() ctx: GraphQLContext,
    @Arg('unpaidOnly', { defaultValue: false, description: 'Only those not yet in a payout' }) unpaidOnly: boolean,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ShopOperationConnection> {
    return operationsPage(ctx, { partyId: shop.partyId, shopId: shop.shopId, unpaidOnly }, first, after);
  }
}

@Resolver(() => PayoutType)
export class PayoutOperationsResolver {
  @FieldResolver(() => ShopOperationConnection, { description: 'For a scheduled payout: the operations it pays (or held, if its money came back)' })
  operations(
    @Root() payout: PayoutType,
    @Ctx() ctx: GraphQLContext,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ShopOperationConnection> {
    // Only a scheduled payout pays operations: for the others there is nothing to look up.
    return operationsPage(ctx, payout.source === 'SCHEDULE' ? { payoutId: payout.id } : null, first, after);
  }
}
