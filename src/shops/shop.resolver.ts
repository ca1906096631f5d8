import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { assertCanSee } from '../platform/auth';
import { InvalidInputError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageComplexity, pageSize, toConnection } from '../platform/graphql/pagination';
import { checkReference } from '../platform/payee';
import { PayoutType } from '../payouts/payout.types';
import { PayoutScheduleType } from '../schedules/schedule.types';
import { shopPayoutAccount } from './shop';
import { ShopQueries } from './shop.queries';
import { ShopConnection, ShopFilter, ShopPayoutRunConnection, ShopPayoutRunType, ShopType } from './shop.types';

const queries = new ShopQueries();

@Resolver(() => ShopType)
export class ShopResolver {
  @Query(() => ShopType, { nullable: true, description: 'One shop; null when party-management has not created it' })
  async shop(@Arg('partyId') partyId: string, @Arg('shopId') shopId: string, @Ctx() ctx: GraphQLContext): Promise<ShopType | null> {
    const key = { partyId: checkReference(partyId, 'partyId'), shopId: checkReference(shopId, 'shopId') };
    assertCanSee(ctx.principal, { kind: 'SHOP', ...key });
    const row = await ctx.app.shops.find(ctx.em, key);
    return row ? ShopType.of(row) : null;
  }

  @Query(() => ShopConnection, { description: 'Shops the caller may see, by party and shop id', complexity: pageComplexity })
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
    const { owner, type, currency } = shopPayoutAccount(shop, shop.currency);
    const account = await ctx.loaders.account.load([owner.kind, owner.id, type, currency].join('\u0000'));
    return Money.of(account?.balance ?? 0n, shop.currency);
  }

  @FieldResolver(() => PayoutScheduleType, { nullable: true, description: 'Null when unscheduled or the schedule is not defined yet' })
  async payoutSchedule(@Root() shop: ShopType, @Ctx() ctx: GraphQLContext): Promise<PayoutScheduleType | null> {
    const row = shop.payoutScheduleId ? await ctx.loaders.schedule.load(shop.payoutScheduleId) : null;
    return row ? PayoutScheduleType.of(row) : null;
  }

  @FieldResolver(() => ShopPayoutRunConnection, { description: 'The shop’s scheduled runs, latest cut-off first', complexity: pageComplexity })
  async runs(
    @Root() shop: ShopType,
    @Ctx() ctx: GraphQLContext,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ShopPayoutRunConnection> {
    const size = pageSize(first);
    const afterCutoff = after ? new Date(decodeKeyCursor(after, 1)[0]!) : null;
    if (afterCutoff && Number.isNaN(afterCutoff.getTime())) throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
    const page = await queries.runs(ctx.em, shop, size, afterCutoff);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([new Date(row.cutoff).toISOString()]),
      nodeOf: ShopPayoutRunType.of,
      after,
      countQuery: () => queries.countRuns(ctx.em, shop),
    });
    return Object.assign(new ShopPayoutRunConnection(), connection);
  }
}

@Resolver(() => ShopPayoutRunType)
export class ShopPayoutRunResolver {
  @FieldResolver(() => PayoutType, { nullable: true, description: 'The payout the run made, when it made one' })
  async payout(@Root() run: ShopPayoutRunType, @Ctx() ctx: GraphQLContext): Promise<PayoutType | null> {
    const payout = run.payoutId ? await ctx.loaders.payout.load(run.payoutId) : null;
    return payout ? PayoutType.of(payout) : null;
  }
}
