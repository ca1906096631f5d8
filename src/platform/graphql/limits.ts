import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type TypeNode,
  type ValidationContext,
  visit,
} from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';
import type { ApolloServerPlugin } from '@apollo/server';
import { DomainError } from '../errors';

/** A validation rule refusing documents nested deeper than `maxDepth` fields. */
export function depthLimit(maxDepth: number) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const depthOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0;
      let deepest = 0;
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          // Introspection (__schema, __type) is bounded by the schema itself; tools nest it deeply.
          if (selection.name.value.startsWith('__')) continue;
          deepest = Math.max(deepest, selection.selectionSet ? 1 + depthOf(selection.selectionSet, seen) : 1);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, seen));
        } else {
          const name = selection.name.value;
          if (seen.has(name)) continue; // a fragment cycle is another rule's error
          deepest = Math.max(deepest, depthOf(fragments.get(name)?.selectionSet, new Set([...seen, name])));
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`Query depth ${depth} exceeds the limit of ${maxDepth}`, { nodes: [operation] }),
          );
        }
      },
    };
  };
}

/**
 * Refuses an operation whose estimated cost (fields × page sizes) exceeds `maxCost`, before it
 * runs. Page sizes are the only arguments a cost reads, and they are Int: an operation with no Int
 * variable costs the same every time, so its cost is worked out once per parsed document (Apollo
 * keeps one per distinct query) instead of walking the document on every request.
 */
export function costLimit(maxCost: number): ApolloServerPlugin {
  const known = new WeakMap<DocumentNode, Map<string, number>>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema, operation }) {
          const fixed = operation !== undefined && !hasIntVariables(operation);
          const operationKey = request.operationName ?? '';
          let cost = fixed ? known.get(document)?.get(operationKey) : undefined;
          if (cost === undefined) {
            try {
              cost = getComplexity({
                schema,
                query: document,
                operationName: request.operationName,
                variables: request.variables ?? {},
                estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
              });
            } catch (error) {
              // A field's estimator refused its arguments (e.g. a page size out of range).
              if (error instanceof DomainError) {
                throw new GraphQLError(error.message, {
                  extensions: { ...error.details, code: error.code, http: { status: 400 } },
                });
              }
              // Variables that do not coerce: execution refuses them as BAD_USER_INPUT before any resolver
              // runs. (By name: the library may hold another copy of graphql, so instanceof can miss.)
              if (error instanceof Error && error.name === 'GraphQLError') return;
              throw error;
            }
            if (fixed) {
              const costs = known.get(document) ?? new Map<string, number>();
              costs.set(operationKey, cost);
              known.set(document, costs);
            }
          }
          if (cost > maxCost) {
            throw new GraphQLError(`Query cost ${cost} exceeds the limit of ${maxCost}`, {
              extensions: { code: 'BAD_USER_INPUT', cost, maxCost, http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}

function hasIntVariables(operation: OperationDefinitionNode): boolean {
  return (operation.variableDefinitions ?? []).some((definition) => namedType(definition.type) === 'Int');
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}

/**
 * A validation rule refusing operation types the schema lacks (a subscription here). graphql 16
 * only notices at execution, and reports it as an internal error.
 */
export function knownOperationTypes(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(operation) {
      if (!context.getSchema().getRootType(operation.operation)) {
        context.reportError(new GraphQLError(`This API has no ${operation.operation} operations`, { nodes: [operation] }));
      }
    },
  };
}

/** PostgreSQL text cannot hold NUL, so no input may contain one: refused before anything runs. */
export function refuseNulCharacters(): ApolloServerPlugin {
  // Documents known to hold no NUL in their literals: Apollo keeps one parsed document per query.
  const clean = new WeakSet<DocumentNode>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          let found = containsNul(request.variables);
          if (!found && !clean.has(document)) {
            visit(document, {
              StringValue(node) {
                if (node.value.includes('\u0000')) found = true;
              },
            });
            if (!found) clean.add(document);
          }
          if (found) {
            throw new GraphQLError('Text must not contain NUL characters', {
              extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}

/** Iterative, so deeply nested variables cannot overflow the stack. */
function containsNul(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return true;
    } else if (value !== null && typeof value === 'object') {
      for (const child of Object.values(value)) pending.push(child);
    }
  }
  return false;
}
