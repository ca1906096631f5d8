import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { CallbackLinks } from './callback-links';
import type { CallbackLinkRow } from './wallet';

/** Every callback link of a wallet, for the wallets a page shows, in one query. */
export const walletLinksLoader = loaderKey<string, CallbackLinkRow[]>('wallets.links');

export function walletLoaders({ links }: { links: CallbackLinks }): LoaderProvider[] {
  return [
    provideLoader(walletLinksLoader, (em) => async (walletIds) => {
      const rows = await links.listFor(em, walletIds);
      return walletIds.map((id) => rows.filter((row) => row.wallet_id === id));
    }),
  ];
}
