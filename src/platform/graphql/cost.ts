import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isScalarType,
  isEnumType,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';
import { Extensions } from 'type-graphql';
import { pageSize } from './pagination';

/**
 * What a field declares about its cost (in its GraphQL extensions, read by the walk in
 * `limits.ts`). Every field costs 1 per value it answers; a list multiplies what is under it by
 * how many items it may hold, so a list of objects must say that number.
 */
export interface FieldCost {
  /** The field's own cost per value instead of the default (1; a paged field QUERY_COST): e.g. a count query. */
  cost?: number;
  /** The most items an unpaged list ever holds: a bound the data keeps, not a guess. */
  maxItems?: number;
  /** Items of a list sized by its arguments (validated here: a bad argument refuses the operation). */
  items?: (args: Record<string, unknown>) => number;
  /** Items of the page a paged field answers (`nodes`, `edges` under it); default `pageSize(first)`. */
  page?: (args: Record<string, unknown>) => number;
}

/**
 * The price of a field that runs a database query of its own each time it is answered: a paged
 * field (its page) and `totalCount` (its count). Measured: thirty aliased `totalCount`s of empty
 * pages (60 queries) took 13 times as long as a `payouts(first: 20)` page (one query, 250 field
 * values). At 50 a page of 20 payouts, each with its first 20 operations and their count, still
 * fits: a paged field under a list is priced per item, though loaders read the items' pages together.
 */
export const QUERY_COST = 50;

/** Fields whose items are the page of the paged field above them. */
export const PAGE_LIST_FIELDS: ReadonlySet<string> = new Set(['nodes', 'edges']);

/** Declares a field's cost: `@FieldCost({ maxItems: 8 })` above `@Field(() => [X])`. */
export function Cost(declaration: FieldCost): MethodDecorator & PropertyDecorator {
  return Extensions({ cost: declaration }) as MethodDecorator & PropertyDecorator;
}

export function costOf(field: GraphQLField<unknown, unknown>): FieldCost {
  return (field.extensions?.cost as FieldCost | undefined) ?? {};
}

/** A paged field: it takes `first`, and what it answers holds `nodes` or `edges`. */
export function isPaged(field: GraphQLField<unknown, unknown>): boolean {
  const type = getNamedType(field.type);
  return (
    (costOf(field).page !== undefined || field.args.some((arg) => arg.name === 'first')) &&
    isObjectType(type) &&
    Object.keys(type.getFields()).some((name) => PAGE_LIST_FIELDS.has(name))
  );
}

/** The page a paged field answers, from its (coerced) arguments. */
export function pageOf(field: GraphQLField<unknown, unknown>, args: Record<string, unknown>): number {
  const declared = costOf(field).page;
  return declared ? declared(args) : pageSize(args.first as number | null | undefined);
}

/**
 * Lists whose size nothing declares: a list of objects (or of lists) that is neither sized by its
 * declaration nor the `nodes`/`edges` of a type only paged fields answer. The schema is refused
 * with them, so a new list cannot escape the cost limit.
 */
export function undeclaredLists(schema: GraphQLSchema): string[] {
  const pagedTypes = new Set<string>();
  const unpagedUses = new Set<string>();
  const types = Object.values(schema.getTypeMap()).filter((type) => isObjectType(type) && !type.name.startsWith('__'));
  for (const type of types) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type).name;
      if (isPaged(field)) pagedTypes.add(named);
      else unpagedUses.add(named);
    }
  }
  const undeclared: string[] = [];
  for (const type of types) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const nullable = getNullableType(field.type);
      if (!isListType(nullable)) continue;
      const item = getNamedType(field.type);
      if (isScalarType(item) || isEnumType(item)) continue; // a list of plain values costs its one field
      const declared = costOf(field);
      if (declared.maxItems !== undefined || declared.items !== undefined) continue;
      const pagedList = PAGE_LIST_FIELDS.has(field.name) && pagedTypes.has(type.name) && !unpagedUses.has(type.name);
      if (!pagedList) undeclared.push(`${type.name}.${field.name}`);
    }
  }
  return undeclared.sort();
}
