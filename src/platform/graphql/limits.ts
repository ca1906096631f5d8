import {
  GraphQLError,
  Kind,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getVariableValues,
  isInterfaceType,
  isListType,
  isObjectType,
  type ASTVisitor,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  visit,
} from 'graphql';
import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { DomainError } from '../errors';
import { unstorable, unstorableIn } from '../text';
import { PAGE_LIST_FIELDS, QUERY_COST, costOf, isPaged, pageOf } from './cost';

/** What an operation may ask for at most; the settings GRAPHQL_MAX_*. */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxFields: number;
  maxCost: number;
}

/** An operation's size: deepest field, aliases, fields (fragments counted where spread) and cost. */
export interface OperationMeasure {
  depth: number;
  aliases: number;
  fields: number;
  cost: number;
}

/** Answering `__schema` or `__type` is bounded by the schema, not the data: a flat price, its subtree unwalked. */
export const INTROSPECTION_COST = 500;

/** A refusal of the operation for its shape or its arguments, before anything runs. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * Measures the operation in one walk over its fields, fragments expanded where they are spread:
 * depth, aliases and fields are counted as the document asks for them; the cost is what the
 * answer may hold at most. Every field costs 1 per value (a paged field or `totalCount`, which each
 * run a query, QUERY_COST; or what the field declares); a list multiplies
 * what is under it by the items it may hold (its page, its `count`-like argument, or its declared
 * maximum), so nesting multiplies. The walk stops at the first limit exceeded, so a document
 * built to be expensive to walk (fragments spread in fragments) is refused as soon as it is too big.
 * Throws a `Refusal` for a limit exceeded or an argument the cost cannot be worked out from.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  limits: OperationLimits,
): OperationMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const measure: OperationMeasure = { depth: 0, aliases: 0, fields: 0, cost: 0 };
  let spreads = 0;

  const fieldCost = (node: FieldNode, parent: GraphQLCompositeType, depth: number, page: number | undefined): number => {
    measure.fields += 1;
    if (measure.fields > limits.maxFields) {
      throw new Refusal(`The operation asks for more than ${limits.maxFields} fields`, 'GRAPHQL_VALIDATION_FAILED', { maxFields: limits.maxFields });
    }
    if (node.alias) {
      measure.aliases += 1;
      if (measure.aliases > limits.maxAliases) {
        throw new Refusal(`The operation uses more than ${limits.maxAliases} aliases`, 'GRAPHQL_VALIDATION_FAILED', { maxAliases: limits.maxAliases });
      }
    }
    const name = node.name.value;
    if (name === '__typename') return 1;
    // Tools (GraphiQL, codegen against a URL) nest introspection deeply; its answer is the schema's size.
    if (name === '__schema' || name === '__type') return INTROSPECTION_COST;
    if (depth > limits.maxDepth) {
      throw new Refusal(`Query depth ${depth} exceeds the limit of ${limits.maxDepth}`, 'GRAPHQL_VALIDATION_FAILED', { maxDepth: limits.maxDepth });
    }
    measure.depth = Math.max(measure.depth, depth);
    const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
    if (!field) throw new Refusal(`Cannot query field "${name}" on type "${parent.name}"`, 'GRAPHQL_VALIDATION_FAILED');
    const declared = costOf(field);
    const paged = isPaged(field);
    const own = declared.cost ?? (paged ? QUERY_COST : 1);
    if (!node.selectionSet) return own; // a value, or a list of values: one field's work
    const args = argumentsOf(field, node, variables);
    let items = 1;
    if (isListType(getNullableType(field.type))) {
      if (declared.items) items = declared.items(args);
      else if (declared.maxItems !== undefined) items = declared.maxItems;
      else if (PAGE_LIST_FIELDS.has(name) && page !== undefined) items = page;
      else throw new Refusal(`The list ${parent.name}.${name} declares no size`, 'GRAPHQL_VALIDATION_FAILED');
    }
    const childPage = paged ? pageOf(field, args) : undefined;
    const type = getNamedType(field.type) as GraphQLCompositeType;
    return own + items * setCost(node.selectionSet, type, depth + 1, childPage);
  };

  const setCost = (set: SelectionSetNode, parent: GraphQLCompositeType, depth: number, page: number | undefined): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += fieldCost(selection, parent, depth, page);
        continue;
      }
      spreads += 1;
      if (spreads > limits.maxFields) {
        throw new Refusal(`The operation spreads fragments more than ${limits.maxFields} times`, 'GRAPHQL_VALIDATION_FAILED', { maxFields: limits.maxFields });
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
      if (!fragment) throw new Refusal(`Unknown fragment "${selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : ''}"`, 'GRAPHQL_VALIDATION_FAILED');
      const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
      cost += setCost(fragment.selectionSet, (condition as GraphQLCompositeType | undefined) ?? parent, depth, page);
    }
    return cost;
  };

  const root = schema.getRootType(operation.operation);
  if (!root) throw new Refusal(`This API has no ${operation.operation} operations`, 'GRAPHQL_VALIDATION_FAILED');
  measure.cost = setCost(operation.selectionSet, root, 1, undefined);
  return measure;
}

/** A field's arguments as execution will see them; an argument the field refuses refuses the operation. */
function argumentsOf(field: Parameters<typeof getArgumentValues>[0], node: FieldNode, variables: Record<string, unknown>): Record<string, unknown> {
  try {
    return getArgumentValues(field, node, variables);
  } catch (error) {
    throw new Refusal(error instanceof Error ? error.message : String(error), 'BAD_USER_INPUT');
  }
}

/**
 * Refuses, before anything runs, an operation that names none in the document, whose variables do
 * not fit, that exceeds a limit, or whose cost cannot be worked out: no error of the measuring
 * lets an operation through. An operation without variables measures the same every time, so its
 * measure (or refusal) is kept per parsed document (Apollo keeps one per distinct query).
 */
export function operationLimits(limits: OperationLimits): ApolloServerPlugin {
  const known = new WeakMap<DocumentNode, Map<string, OperationMeasure | Refusal>>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation(context) {
          const { request, document, schema, operation } = context;
          if (!operation) throw unresolvedOperation(request.operationName, document);
          const fixed = (operation.variableDefinitions ?? []).length === 0;
          const key = operation.name?.value ?? '';
          let outcome = fixed ? known.get(document)?.get(key) : undefined;
          if (!outcome) {
            outcome = judge(schema, document, operation, request.variables ?? {}, limits);
            if (fixed) {
              const outcomes = known.get(document) ?? new Map<string, OperationMeasure | Refusal>();
              outcomes.set(key, outcome);
              known.set(document, outcomes);
            }
          }
          if (outcome instanceof Refusal) {
            throw new GraphQLError(outcome.message, { extensions: { ...outcome.details, code: outcome.code, http: { status: 400 } } });
          }
        },
      };
    },
  };
}

function judge(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Record<string, unknown>,
  limits: OperationLimits,
): OperationMeasure | Refusal {
  try {
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables, { maxErrors: 1 });
    if (coerced.errors) return new Refusal(coerced.errors[0]!.message, 'BAD_USER_INPUT');
    const measure = measureOperation(schema, document, operation, coerced.coerced, limits);
    if (!(measure.cost <= limits.maxCost)) {
      return new Refusal(`Query cost ${measure.cost} exceeds the limit of ${limits.maxCost}`, 'BAD_USER_INPUT', { cost: measure.cost, maxCost: limits.maxCost });
    }
    return measure;
  } catch (error) {
    if (error instanceof Refusal) return error;
    // A field's size declaration refused its arguments (e.g. a page size out of range).
    if (error instanceof DomainError) return new Refusal(error.message, error.code, error.details);
    // Anything else (a stack overflow on a pathological document, a bug) refuses too: never run unmeasured.
    return new Refusal('The operation’s cost could not be worked out', 'BAD_USER_INPUT');
  }
}

/** No operation of that name, or several and none named: the client's mistake, said plainly. */
function unresolvedOperation(operationName: string | undefined, document: DocumentNode): GraphQLError {
  const names = document.definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION ? [d.name?.value ?? '(anonymous)'] : []));
  const message =
    operationName !== undefined && operationName !== null
      ? `The document has no operation named "${operationName.slice(0, 100)}"; it has ${names.join(', ').slice(0, 500) || 'none'}`
      : `The document has several operations (${names.join(', ')}); say which to run with operationName`;
  return new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } });
}

/**
 * The request metric's label for an operation: the root field it asks for, which the schema knows,
 * never a name the client chose (those are unbounded). Several distinct root fields are "multiple".
 */
export function operationLabel(document: DocumentNode | undefined, operation: OperationDefinitionNode | undefined): string {
  if (!document || !operation) return 'unresolved';
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const roots = new Set<string>();
  const seen = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) roots.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return `${operation.operation} ${roots.size === 1 ? [...roots][0]! : 'multiple'}`;
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

/**
 * Text PostgreSQL, or anyone reading it back, cannot hold faithfully is refused before anything
 * runs, wherever it is in the input: NUL (PostgreSQL text cannot hold it) and strings that are not
 * well-formed Unicode (a lone UTF-16 surrogate becomes U+FFFD on the way to the database, so two
 * different idempotency keys or references would become one).
 */
export function refuseUnstorableText(): ApolloServerPlugin {
  // Documents known to hold no such literal: Apollo keeps one parsed document per query.
  const clean = new WeakSet<DocumentNode>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }: GraphQLRequestContext<object>) {
          let found = unstorableIn(request.variables);
          if (!found && !clean.has(document!)) {
            visit(document!, {
              StringValue(node) {
                found ??= unstorable(node.value);
              },
            });
            if (!found) clean.add(document!);
          }
          if (found) {
            throw new GraphQLError(found, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
          }
        },
      };
    },
  };
}
