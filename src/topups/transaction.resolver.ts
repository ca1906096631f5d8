import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { actorOf } from '../access/principals';
import { Access } from '../access/rules';
import type { ParkService } from '../parks/park.service';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { isUuid } from '../platform/ids';
import { validateTimezone } from '../schedules/schedule-rules';
import { ExportOptionsInput, TransactionExportType } from './export.types';
import { covers, fileNameOf, type TransactionExports } from './exports';
import { criteriaOf, scopeOf, whereOf, type TransactionQueries } from './transaction.queries';
import { TransactionConnection, TransactionFilter, TransactionType } from './transaction.types';

export interface TransactionResolverServices {
  queries: TransactionQueries;
  exports: TransactionExports;
  parks: ParkService;
}

@Resolver()
export class TransactionResolver {
  constructor(private readonly services: TransactionResolverServices) {}

  @Authorized(Access.withinScopes)
  @Query(() => TransactionConnection, { description: 'Top-ups, newest first: dispatchers see their parks’, a driver his own' })
  async transactions(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => TransactionFilter, { nullable: true }) filter?: TransactionFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<TransactionConnection> {
    const size = pageSize(first);
    const scope = scopeOf(ctx.principal);
    const where = whereOf(criteriaOf(filter as Record<string, unknown> | undefined, scope), scope);
    const afterId = after ? decodeKeyCursor(after, 1)[0]! : null;
    if (afterId !== null && !/^\d{1,19}$/.test(afterId)) throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
    const page = await this.services.queries.page(ctx.em, where, size, afterId);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([row.id]),
      nodeOf: TransactionType.of,
      after,
      countQuery: () => this.services.queries.count(ctx.em, where),
    });
    return Object.assign(new TransactionConnection(), connection, {
      sumsQuery: async () => (await this.services.queries.sums(ctx.em, where)).map((sum) => Money.of(sum.total, sum.currency)),
    });
  }

  @Authorized(Access.withinScopes)
  @Mutation(() => TransactionExportType, { description: 'Starts an Excel export of the transactions a filter matches and returns at once; poll transactionExport' })
  async exportTransactions(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => TransactionFilter, { nullable: true }) filter?: TransactionFilter,
    @Arg('options', () => ExportOptionsInput, { nullable: true }) options?: ExportOptionsInput,
  ): Promise<TransactionExportType> {
    const scope = scopeOf(ctx.principal);
    const criteria = criteriaOf(filter as Record<string, unknown> | undefined, scope);
    let timezone = options?.timezone ? validateTimezone(options.timezone) : null;
    if (!timezone && criteria.parkId) timezone = (await this.services.parks.find(ctx.em, criteria.parkId))?.timezone ?? null;
    const row = await this.services.exports.start(ctx.em, { criteria, scope, timezone: timezone ?? 'UTC', requestedBy: actorOf(ctx.principal) });
    return TransactionExportType.of(row);
  }

  @Authorized(Access.withinScopes)
  @Query(() => TransactionExportType, { nullable: true, description: 'An export, for a token that sees all it covers' })
  async transactionExport(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<TransactionExportType | null> {
    if (!isUuid(id)) throw new InvalidInputError('id must be an id this API returned', { field: 'id' });
    const row = await this.services.exports.find(ctx.em, id);
    if (!row) return null;
    if (!covers(scopeOf(ctx.principal), row.scope)) throw new ForbiddenError('This export covers transactions this token may not see');
    return TransactionExportType.of(row);
  }
}

/** `GET /exports/<id>`: the finished file, to a token whose scope covers the export's. */
export async function exportDownload(
  exports: TransactionExports,
  em: GraphQLContext['em'],
  principal: GraphQLContext['principal'],
  id: string,
): Promise<{ fileName: string; body: NodeJS.ReadableStream }> {
  if (!isUuid(id)) throw new NotFoundError('No such export');
  const row = await exports.find(em, id);
  if (!row) throw new NotFoundError('No such export');
  if (!covers(scopeOf(principal), row.scope)) throw new ForbiddenError('This export covers transactions this token may not see');
  if (row.status !== 'DONE') throw new NotFoundError(`The export is ${row.status}, not ready to download`);
  return { fileName: fileNameOf(row), body: exports.content(id) };
}
