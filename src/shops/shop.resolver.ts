import { Arg, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { Access } from '../access/rules';
import { accountBalanceLoader } from '../ledger/loaders';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { scheduleLoader } from '../schedules/loaders';
import { PayoutScheduleType } from '../schedules/schedule.types';
import { shopPayoutAccount } from './shop';
import { ShopQueries } from './shop.queries';
import type { ShopService } from './shop.service';
import { ShopConnection, ShopFilter, ShopType } from './shop.types';

const queries = new ShopQueries();

/** The shop a `shop(partyId, shopId)` call names, validated. */
const shopArgs = (args: { partyId: string; shopId: string }) => ({
  kind: 'SHOP' as const,
  partyId: checkReference(args.partyId, 'partyId'),
  shopId: checkReference(args.shopId, 'shopId'),
});

@Resolver(() => ShopType)
export class ShopResolver {
  constructor(private readonly services: { shops: ShopService }) {}

  @Authorized(Access.seesPayee(shopArgs))
  @Query(() => ShopType, { nullable: true, description: 'One shop; null when party-management has not created it' })
  async shop(@Arg('partyId') partyId: string, @Arg('shopId') shopId: string, @Ctx() ctx: GraphQLContext): Promise<ShopType | null> {
    const row = await this.services.shops.find(ctx.em, shopArgs({ partyId, shopId }));
    return row ? ShopType.of(row) : null;
  }

  @Authorized(Access.withinScopes)
  @Query(() => ShopConnection, { description: 'Shops the caller may see, by party and shop id' })
  async shops(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => ShopFilter, { nullable: true }) filter?: ShopFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ShopConnection> {
    const size = pageSize(first);
    const where = queries.where(filter, ctx.principal);
    const start = after ? decodeKeyCursor(after, 2) : null;
    const page = await queries.page(ctx.em, where, size, start ? { partyId: start[0]!, shopId: start[1]! } : null);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([row.party_id, row.shop_id]),
      nodeOf: ShopType.of,
      after,
      countQuery: () => queries.count(ctx.em, where),
    });
    return Object.assign(new ShopConnection(), connection);
  }

  @FieldResolver(() => Money, { description: 'What the shop is owed now, not yet in a payout (negative when it owes)' })
  async balance(@Root() shop: ShopType, @Ctx() ctx: GraphQLContext): Promise<Money> {
    const account = await ctx.loaders.get(accountBalanceLoader).load(shopPayoutAccount(shop, shop.currency));
    return Money.of(account?.balance ?? 0n, shop.currency);
  }

  @FieldResolver(() => PayoutScheduleType, { nullable: true, description: 'Null when unscheduled or the schedule is not defined yet' })
  async payoutSchedule(@Root() shop: ShopType, @Ctx() ctx: GraphQLContext): Promise<PayoutScheduleType | null> {
    const row = shop.payoutScheduleId ? await ctx.loaders.get(scheduleLoader).load(shop.payoutScheduleId) : null;
    return row ? PayoutScheduleType.of(row) : null;
  }
}
