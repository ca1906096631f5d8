import { Arg, Authorized, Ctx, Int, Query, Resolver } from 'type-graphql';
import { checkReference } from '../access/payee';
import { scopedPayees, type Principal } from '../access/principals';
import { Access } from '../access/rules';
import { ForbiddenError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection, type SqlWhere } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import { parseAuditCursor, type AuditService } from './audit.service';
import { AuditEntryConnection, AuditEntryType, AuditFilter } from './audit.types';

/**
 * The entries a caller may read: an admin all of them; a dispatcher those about one of its parks
 * (`PARK:<id>` among the entry's targets), and asking for another park is FORBIDDEN.
 */
export function auditWhere(filter: AuditFilter | null | undefined, principal: Principal): SqlWhere {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    clauses.push(sql);
    params.push(value);
  };
  if (filter?.subject) add('subject = ?', filter.subject);
  if (filter?.operation) add('operation = ?', filter.operation);
  if (filter?.outcome) add('outcome = ?', filter.outcome);
  if (filter?.from) add('at >= ?::timestamptz', filter.from.toISOString());
  if (filter?.to) add('at < ?::timestamptz', filter.to.toISOString());
  const park = filter?.parkId ? `PARK:${checkReference(filter.parkId, 'filter.parkId')}` : null;
  if (park) add('targets @> ?::text[]', textArray([park]));
  if (principal.role !== 'admin') {
    const parks = scopedPayees(principal, 'PARK').map((payee) => `PARK:${'id' in payee ? payee.id : ''}`);
    if (parks.length === 0) throw new ForbiddenError('This token may not see any park’s audit entries');
    if (park && !parks.includes(park)) throw new ForbiddenError(`Not allowed to see the audit entries of ${park}`);
    add('targets && ?::text[]', textArray(parks));
  }
  return { sql: clauses.length > 0 ? clauses.join(' AND ') : 'TRUE', params };
}

@Resolver(() => AuditEntryType)
export class AuditLogResolver {
  constructor(private readonly services: { audit: AuditService }) {}

  @Authorized(Access.roles('admin', 'dispatcher'))
  @Query(() => AuditEntryConnection, {
    description: 'The audit log, newest first: an admin sees every entry, a dispatcher those about its parks',
  })
  async auditLog(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => AuditFilter, { nullable: true }) filter?: AuditFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<AuditEntryConnection> {
    const size = pageSize(first);
    const where = auditWhere(filter, ctx.principal);
    const cursor = after ? parseAuditCursor(decodeKeyCursor(after, 2)) : null;
    const page = await this.services.audit.page(ctx.em, where, size, cursor);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([row.at_key, row.id]),
      nodeOf: AuditEntryType.of,
      after,
      countQuery: () => this.services.audit.count(ctx.em, where),
    });
    return Object.assign(new AuditEntryConnection(), connection);
  }
}
