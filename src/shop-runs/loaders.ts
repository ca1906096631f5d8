import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { Page } from '../platform/graphql/pagination';
import type { ShopKey } from '../shops/shop';
import { runCountsOf, runPagesOf } from './run.queries';
import type { RunRow } from './shop-payout-run';

export interface RunPageKey {
  shop: ShopKey;
  size: number;
  afterCutoff: Date | null;
}

/** A page of a shop's runs, batched per request: keys with the same page size and cursor are one query. */
export const runPageLoader = loaderKey<RunPageKey, Page<RunRow>>('shop-runs.page');
/** How many runs a shop has had, batched per request. */
export const runCountLoader = loaderKey<ShopKey, number>('shop-runs.count');

const shopKey = (shop: ShopKey) => JSON.stringify([shop.partyId, shop.shopId]);

export function runLoaders(): LoaderProvider[] {
  return [
    provideLoader(
      runPageLoader,
      (em) => async (keys) => {
        const answers: Page<RunRow>[] = new Array(keys.length);
        const groups = new Map<string, number[]>();
        keys.forEach((key, index) => {
          const group = `${key.size}|${key.afterCutoff?.toISOString() ?? ''}`;
          groups.set(group, [...(groups.get(group) ?? []), index]);
        });
        for (const indexes of groups.values()) {
          const first = keys[indexes[0]!]!;
          const pages = await runPagesOf(em, indexes.map((i) => keys[i]!.shop), first.size, first.afterCutoff);
          indexes.forEach((index, i) => (answers[index] = pages[i]!));
        }
        return answers;
      },
      { cacheKeyFn: (key) => `${shopKey(key.shop)}|${key.size}|${key.afterCutoff?.toISOString() ?? ''}` },
    ),
    provideLoader(runCountLoader, (em) => (shops) => runCountsOf(em, shops), { cacheKeyFn: shopKey }),
  ];
}
