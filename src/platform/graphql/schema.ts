import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type ClassType, type ContainerType } from 'type-graphql';
import { authChecker, type AccessRule } from '../auth';
import { undeclaredLists } from './cost';

export interface SchemaOptions {
  /** Every resolver class the modules bring. */
  resolvers: readonly ClassType[];
  /** Hands out resolver instances; without one (printing the SDL) nothing is resolved. */
  container?: ContainerType;
}

/**
 * Builds the GraphQL schema from the modules' resolvers with one auth checker. Deny by default:
 * a query or mutation without an access declaration (`@Authorized(rule)`) is refused here, at
 * start-up, so no undeclared operation is ever served.
 */
export async function buildGraphqlSchema(options: SchemaOptions): Promise<GraphQLSchema> {
  if (options.resolvers.length === 0) throw new Error('no GraphQL resolvers: a schema needs at least one query');
  const schema = await buildSchema({
    resolvers: [...options.resolvers] as [ClassType, ...ClassType[]],
    container: options.container ?? { get: refuseToResolve },
    authChecker,
    validate: false,
    emitSchemaFile: false,
  });
  const undeclared = undeclaredOperations(options.resolvers);
  if (undeclared.length > 0) {
    throw new Error(`GraphQL operations without an access declaration (@Authorized): ${undeclared.join(', ')}`);
  }
  const unsized = undeclaredLists(schema);
  if (unsized.length > 0) {
    throw new Error(
      `GraphQL lists of objects without a declared size (@Cost({ maxItems }) or @Cost({ items }), or a paged field's nodes/edges): ${unsized.join(', ')}`,
    );
  }
  return schema;
}

/** Queries and mutations of these resolvers with no access rule. */
export function undeclaredOperations(resolvers: readonly ClassType[]): string[] {
  return operationsOf(resolvers)
    .filter((operation) => operation.rules.length === 0)
    .map((operation) => operation.name);
}

/** Every query and mutation of these resolvers with the access rule it declares: who may call what, in one table. */
export function accessTable(resolvers: readonly ClassType[]): { operation: string; access: string }[] {
  return operationsOf(resolvers).map((operation) => ({
    operation: operation.name,
    access: operation.rules.map((rule) => rule.description).join(' and ') || 'none',
  }));
}

/** The root operations of these resolvers and the rules declared on them (on the method, or the class). */
function operationsOf(resolvers: readonly ClassType[]): { name: string; rules: AccessRule[] }[] {
  const storage = getMetadataStorage();
  const rulesOf = (target: unknown, method: string): AccessRule[] =>
    (storage.authorizedFields.find((field) => field.target === target && field.fieldName === method)?.roles ??
      storage.authorizedResolver.find((resolver) => resolver.target === target)?.roles ??
      []) as AccessRule[];
  const roots = [
    ...storage.queries.map((q) => ({ ...q, type: 'Query' })),
    ...storage.mutations.map((m) => ({ ...m, type: 'Mutation' })),
    ...storage.subscriptions.map((s) => ({ ...s, type: 'Subscription' })),
  ];
  return roots
    .filter((operation) => resolvers.includes(operation.target as ClassType))
    .map((operation) => ({ name: `${operation.type}.${operation.schemaName}`, rules: rulesOf(operation.target, operation.methodName) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function refuseToResolve(someClass: ClassType): never {
  throw new Error(`${someClass.name} has no instance: this schema was built without services`);
}
