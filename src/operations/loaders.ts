import type { EntityManager } from '@mikro-orm/postgresql';
import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { Page } from '../platform/graphql/pagination';
import { countsOf, pagesOf, type OperationRow, type OperationScope, type ScopeBatch } from './operation.queries';

/** One page of a scope's operations: what `Shop.operations` and `Payout.operations` ask for. */
export interface OperationPageKey {
  scope: OperationScope;
  size: number;
  afterId: string | null;
}

/**
 * A page of operations per shop or payout, batched per request: a list of payouts (or shops) each
 * asking for its operations is one statement, not one per item. Keys with the same page size,
 * cursor and filter are read together.
 */
export const operationPageLoader = loaderKey<OperationPageKey, Page<OperationRow>>('operations.page');
/** How many operations a shop or payout holds, batched per request. */
export const operationCountLoader = loaderKey<OperationScope, number>('operations.count');

export function operationLoaders(): LoaderProvider[] {
  return [
    provideLoader(
      operationPageLoader,
      (em) => async (keys) => {
        const answers: Page<OperationRow>[] = new Array(keys.length);
        for (const indexes of groupBy(keys, (key) => `${batchKind(key.scope)}|${key.size}|${key.afterId ?? ''}`).values()) {
          const first = keys[indexes[0]!]!;
          const pages = await pagesOf(em, batchOf(indexes.map((i) => keys[i]!.scope)), first.size, first.afterId);
          indexes.forEach((index, i) => (answers[index] = pages[i]!));
        }
        return answers;
      },
      { cacheKeyFn: (key) => JSON.stringify(key) },
    ),
    provideLoader(
      operationCountLoader,
      (em: EntityManager) => async (scopes) => {
        const answers: number[] = new Array(scopes.length);
        for (const indexes of groupBy(scopes, batchKind).values()) {
          const counts = await countsOf(em, batchOf(indexes.map((i) => scopes[i]!)));
          indexes.forEach((index, i) => (answers[index] = counts[i]!));
        }
        return answers;
      },
      { cacheKeyFn: (scope) => JSON.stringify(scope) },
    ),
  ];
}

function batchKind(scope: OperationScope): string {
  return 'payoutId' in scope ? 'payout' : `shop${scope.unpaidOnly ? ':unpaid' : ''}`;
}

/** Scopes of one kind (see `batchKind`) as one batch. */
function batchOf(scopes: OperationScope[]): ScopeBatch {
  const first = scopes[0]!;
  if ('payoutId' in first) return { kind: 'payout', payoutIds: scopes.map((s) => (s as { payoutId: string }).payoutId) };
  return {
    kind: 'shop',
    shops: scopes.map((s) => ({ partyId: (s as { partyId: string }).partyId, shopId: (s as { shopId: string }).shopId })),
    unpaidOnly: Boolean(first.unpaidOnly),
  };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, index) => {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  return groups;
}
