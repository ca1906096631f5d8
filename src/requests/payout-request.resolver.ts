import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { actorOf, assertCanSee } from '../access/principals';
import { Access } from '../access/rules';
import { NotFoundError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { pageSize, toConnection } from '../platform/graphql/pagination';
import { payoutsOfRequestLoader } from '../payouts/loaders';
import { PayoutType } from '../payouts/payout.types';
import { PayoutRequestQueries } from './payout-request.queries';
import type { PayoutRequestService } from './payout-request.service';
import {
  PayoutRequestConnection,
  PayoutRequestFilter,
  PayoutRequestType,
  RequestPayoutInput,
} from './payout-request.types';

const queries = new PayoutRequestQueries();

async function visibleRequest(ctx: GraphQLContext, id: string) {
  const row = await queries.byId(ctx.em, id);
  if (!row) throw new NotFoundError(`Payout request ${id} not found`, { id });
  assertCanSee(ctx.principal, { kind: 'CLIENT', id: row.client_id });
  return row;
}

/** A request makes one payout per currency the client holds money in: a handful in practice, this many for the cost limit. */
const MAX_REQUEST_PAYOUTS = 20;

@Resolver(() => PayoutRequestType)
export class PayoutRequestResolver {
  constructor(private readonly services: { requests: PayoutRequestService }) {}

  @Authorized(Access.seesPayee((args: { input: RequestPayoutInput }) => ({ kind: 'CLIENT', id: args.input.clientId })))
  @Mutation(() => PayoutRequestType, {
    description: 'Records a request to pay the client’s payout balances; the req-gate makes the payouts',
  })
  async requestPayout(
    @Arg('input', () => RequestPayoutInput) input: RequestPayoutInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PayoutRequestType> {
    const { request } = await this.services.requests.record(ctx.em, { ...input, actor: actorOf(ctx.principal) });
    return PayoutRequestType.of(request);
  }

  @Authorized(Access.withinScopes)
  @Query(() => PayoutRequestType, { nullable: true, description: 'One payout request; null when it does not exist' })
  async payoutRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutRequestType | null> {
    try {
      return PayoutRequestType.of(await visibleRequest(ctx, id));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  @Authorized(Access.withinScopes)
  @Query(() => PayoutRequestConnection, {
    description: 'Payout requests the caller may see, newest first',
  })
  async payoutRequests(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => PayoutRequestFilter, { nullable: true }) filter?: PayoutRequestFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<PayoutRequestConnection> {
    const size = pageSize(first);
    const where = queries.where(filter, ctx.principal);
    const page = await queries.page(ctx.em, where, size, after || null);
    const connection = toConnection(page, {
      cursorOf: (row) => row.id,
      nodeOf: PayoutRequestType.of,
      after,
      countQuery: () => queries.count(ctx.em, where),
    });
    return Object.assign(new PayoutRequestConnection(), connection);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => PayoutRequestType, { description: 'Admin: put a request in ERROR back in the queue' })
  async retryPayoutRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutRequestType> {
    const request = await visibleRequest(ctx, id);
    ctx.targets.add(`CLIENT:${request.client_id}`);
    return PayoutRequestType.of(await this.services.requests.retry(ctx.em, id));
  }

  @Cost({ maxItems: MAX_REQUEST_PAYOUTS })
  @FieldResolver(() => [PayoutType], { description: 'The payouts the request created, one per currency' })
  async payouts(@Root() request: PayoutRequestType, @Ctx() ctx: GraphQLContext): Promise<PayoutType[]> {
    return (await ctx.loaders.get(payoutsOfRequestLoader).load(request.id)).map(PayoutType.of);
  }
}
