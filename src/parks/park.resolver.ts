import { Arg, Authorized, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { actorOf } from '../access/principals';
import { Access } from '../access/rules';
import { accountBalanceLoader } from '../ledger/loaders';
import { AccountBalance } from '../ledger/balance.resolver';
import { PayoutAccount } from '../payouts/lifecycle';
import { InvalidInputError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { parkPayoutAccount } from './park';
import { parseParkUpsert } from './park-events';
import { ParkQueries } from './park.queries';
import type { ParkService } from './park.service';
import { ParkConnection, ParkFilter, ParkType, UpsertParkInput } from './park.types';

const queries = new ParkQueries();

/** The park a `park(id)` call names, validated. */
const parkArgs = (args: { id: string }) => ({ kind: 'PARK' as const, id: checkReference(args.id, 'id') });

/** The accounts a park's page shows: available, held by CREATED payouts, in flight to the ERP. */
const SHOWN_ACCOUNTS = [PayoutAccount.available, PayoutAccount.reserved, PayoutAccount.inFlight];

@Resolver(() => ParkType)
export class ParkResolver {
  constructor(private readonly services: { parks: ParkService }) {}

  @Authorized(Access.seesPayee(parkArgs))
  @Query(() => ParkType, { nullable: true, description: 'One park; null when fleet.parks has not brought it' })
  async park(@Arg('id') id: string, @Ctx() ctx: GraphQLContext): Promise<ParkType | null> {
    const row = await this.services.parks.find(ctx.em, parkArgs({ id }).id);
    return row ? ParkType.of(row) : null;
  }

  @Authorized(Access.withinScopes)
  @Query(() => ParkConnection, { description: 'Parks the caller may see (a dispatcher: its own), by id' })
  async parks(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => ParkFilter, { nullable: true }) filter?: ParkFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<ParkConnection> {
    const size = pageSize(first);
    const where = queries.where(filter, ctx.principal);
    const afterId = after ? decodeKeyCursor(after, 1)[0]! : null;
    const page = await queries.page(ctx.em, where, size, afterId);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([row.id]),
      nodeOf: ParkType.of,
      after,
      countQuery: () => queries.count(ctx.em, where),
    });
    return Object.assign(new ParkConnection(), connection);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => ParkType, { description: 'Admin: create or replace a park by hand, with a reason (fleet.parks is the usual source)' })
  async upsertPark(@Arg('input', () => UpsertParkInput) input: UpsertParkInput, @Ctx() ctx: GraphQLContext): Promise<ParkType> {
    const reason = input.reason.trim();
    if (reason.length < 3 || reason.length > 1000) throw new InvalidInputError('reason must be 3–1000 characters', { field: 'reason' });
    const park = parseParkUpsert({ ...input, parkId: input.id, occurredAt: new Date() });
    const { park: row } = await ctx.em.transactional((em) => this.services.parks.upsert(em, park, actorOf(ctx.principal)));
    return ParkType.of(row);
  }

  @FieldResolver(() => Money, { description: 'What the park would be paid now: its payout account' })
  async balance(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<Money> {
    const account = await ctx.loaders.get(accountBalanceLoader).load(parkPayoutAccount(park.id, park.currency));
    return Money.of(account?.balance ?? 0n, park.currency);
  }

  @Cost({ maxItems: SHOWN_ACCOUNTS.length })
  @FieldResolver(() => [AccountBalance], { description: 'Its accounts: available (payout), held by CREATED payouts, and sent to the ERP' })
  async balances(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<AccountBalance[]> {
    const loader = ctx.loaders.get(accountBalanceLoader);
    const owner = { kind: 'PARK', id: park.id };
    const accounts = await loader.loadMany(SHOWN_ACCOUNTS.map((type) => ({ owner, type, currency: park.currency })));
    return accounts.flatMap((account, i) => {
      if (account instanceof Error) throw account;
      // An account never opened holds nothing and has no id to show.
      if (!account) return [];
      return [
        Object.assign(new AccountBalance(), {
          accountType: SHOWN_ACCOUNTS[i]!,
          currency: park.currency,
          balance: Money.of(account.balance, park.currency),
          accountId: account.id,
        }),
      ];
    });
  }
}
