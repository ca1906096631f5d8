import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';

/** Names a per-request DataLoader a module provides; other resolvers ask for it by this key. */
export interface LoaderKey<K, V> {
  readonly name: string;
  /** Only carries the types. */
  readonly types?: { key: K; value: V };
}

export function loaderKey<K, V>(name: string): LoaderKey<K, V> {
  return { name };
}

/** How to build one loader for a request: its batch function over the request's EntityManager. */
export interface LoaderProvider<K = any, V = any> {
  key: LoaderKey<K, V>;
  batch(em: EntityManager): DataLoader.BatchLoadFn<K, V>;
  options?: DataLoader.Options<K, V, unknown>;
}

export function provideLoader<K, V>(
  key: LoaderKey<K, V>,
  batch: (em: EntityManager) => DataLoader.BatchLoadFn<K, V>,
  options?: DataLoader.Options<K, V, unknown>,
): LoaderProvider<K, V> {
  return { key, batch, options };
}

/**
 * One request's loaders, each made on first use: a list of payouts asks for all their histories
 * in one query, and a request that needs no loader makes none.
 */
export class RequestLoaders {
  private readonly made = new Map<LoaderKey<unknown, unknown>, DataLoader<unknown, unknown>>();

  constructor(
    private readonly em: EntityManager,
    private readonly providers: ReadonlyMap<LoaderKey<any, any>, LoaderProvider>,
  ) {}

  get<K, V>(key: LoaderKey<K, V>): DataLoader<K, V> {
    let loader = this.made.get(key as LoaderKey<unknown, unknown>);
    if (!loader) {
      const provider = this.providers.get(key);
      if (!provider) throw new Error(`no module provides the loader "${key.name}"`);
      loader = new DataLoader(provider.batch(this.em), provider.options);
      this.made.set(key as LoaderKey<unknown, unknown>, loader);
    }
    return loader as DataLoader<K, V>;
  }
}

/** Indexes providers by key, refusing two for the same key. */
export function loaderProviders(providers: readonly LoaderProvider[]): Map<LoaderKey<any, any>, LoaderProvider> {
  const byKey = new Map<LoaderKey<any, any>, LoaderProvider>();
  for (const provider of providers) {
    if (byKey.has(provider.key)) throw new Error(`two modules provide the loader "${provider.key.name}"`);
    byKey.set(provider.key, provider);
  }
  return byKey;
}

/** A batch function for loaders by id: one query for all the ids, answers in the ids' order. */
export function byId<K, V>(find: (ids: readonly K[]) => Promise<V[]>, idOf: (row: V) => K): DataLoader.BatchLoadFn<K, V | null> {
  return async (ids) => {
    const rows = await find(ids);
    const found = new Map(rows.map((row) => [idOf(row), row]));
    return ids.map((id) => found.get(id) ?? null);
  };
}

/** A batch function for one-to-many loaders: every key's rows (possibly none), in the keys' order. */
export function groupedBy<K, V>(find: (keys: readonly K[]) => Promise<V[]>, keyOf: (row: V) => K): DataLoader.BatchLoadFn<K, V[]> {
  return async (keys) => {
    const groups = new Map<K, V[]>();
    for (const row of await find(keys)) {
      const group = groups.get(keyOf(row));
      if (group) group.push(row);
      else groups.set(keyOf(row), [row]);
    }
    return keys.map((key) => groups.get(key) ?? []);
  };
}
