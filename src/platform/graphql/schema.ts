import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type ClassType, type ContainerType } from 'type-graphql';
import { authChecker } from '../auth';

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
  return schema;
}

/** Queries and mutations of these resolvers with no access rule (type-graphql fills `roles` as it builds). */
export function undeclaredOperations(resolvers: readonly ClassType[]): string[] {
  const storage = getMetadataStorage();
  const operations = [
    ...storage.queries.map((q) => ({ ...q, type: 'Query' })),
    ...storage.mutations.map((m) => ({ ...m, type: 'Mutation' })),
    ...storage.subscriptions.map((s) => ({ ...s, type: 'Subscription' })),
  ];
  return operations
    .filter((operation) => resolvers.includes(operation.target as ClassType) && !operation.roles?.length)
    .map((operation) => `${operation.type}.${operation.schemaName}`);
}

function refuseToResolve(someClass: ClassType): never {
  throw new Error(`${someClass.name} has no instance: this schema was built without services`);
}
