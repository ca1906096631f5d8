import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { payoutLoader } from '../payouts/loaders';
import { PayoutType } from '../payouts/payout.types';
import type { GraphQLContext } from '../platform/graphql/context';
import { cursorTime, decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { ShopType } from '../shops/shop.types';
import { runCountLoader, runPageLoader } from './loaders';
import { ShopPayoutRunConnection, ShopPayoutRunType } from './run.types';

@Resolver(() => ShopType)
export class ShopRunsResolver {
  @FieldResolver(() => ShopPayoutRunConnection, { description: 'The shop’s scheduled runs, latest cut-off first' })
  async runs(
    @Root() shop: ShopType,
    @Ctx() ctx: GraphQLContext,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ShopPayoutRunConnection> {
    const size = pageSize(first);
    const afterCutoff = after ? cursorTime(decodeKeyCursor(after, 1)[0]!) : null;
    const key = { partyId: shop.partyId, shopId: shop.shopId };
    const page = await ctx.loaders.get(runPageLoader).load({ shop: key, size, afterCutoff });
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([new Date(row.cutoff).toISOString()]),
      nodeOf: ShopPayoutRunType.of,
      after,
      countQuery: () => ctx.loaders.get(runCountLoader).load(key),
    });
    return Object.assign(new ShopPayoutRunConnection(), connection);
  }
}

@Resolver(() => ShopPayoutRunType)
export class ShopPayoutRunResolver {
  @FieldResolver(() => PayoutType, { nullable: true, description: 'The payout the run made, when it made one' })
  async payout(@Root() run: ShopPayoutRunType, @Ctx() ctx: GraphQLContext): Promise<PayoutType | null> {
    const payout = run.payoutId ? await ctx.loaders.get(payoutLoader).load(run.payoutId) : null;
    return payout ? PayoutType.of(payout) : null;
  }
}
