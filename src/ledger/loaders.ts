import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import { cacheKeyOf, type AccountBalance, type AccountKey } from './ledger.service';
import type { LedgerServices } from './services';

/** An account's balance by its key, batched per request (null: never opened, so zero). */
export const accountBalanceLoader = loaderKey<AccountKey, AccountBalance | null>('ledger.accountBalance');

export function ledgerLoaders({ ledger }: LedgerServices): LoaderProvider[] {
  return [provideLoader(accountBalanceLoader, (em) => (keys) => ledger.balancesOf(em, keys), { cacheKeyFn: cacheKeyOf })];
}
