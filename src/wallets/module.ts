import { Counter, Gauge, type Registry } from 'prom-client';
import { parksModule } from '../parks/module';
import { defineModule } from '../platform/modules';
import { CallbackLinks } from './callback-links';
import { Keyring, parseWalletKeys } from './keyring';
import { walletLoaders } from './loaders';
import { walletSettings } from './settings';
import { WalletResolver } from './wallet.resolver';
import { WalletService } from './wallet.service';

export interface WalletServices {
  wallets: WalletService;
  links: CallbackLinks;
  onChange: (what: 'created' | 'deleted' | 'link-issued' | 'link-revoked') => void;
}

/** Park wallets with payment systems: credentials sealed under WALLET_KEYS, and secret callback links. */
export const walletsModule = defineModule({
  name: 'wallets',
  tables: ['wallet', 'callback_link'],
  requires: [parksModule],
  settings: walletSettings,
  metrics: (registry: Registry) => ({
    changes: new Counter({
      name: 'payouts_wallet_changes_total',
      help: 'Wallets created and deleted, callback links issued and revoked',
      labelNames: ['change'] as const,
      registers: [registry],
    }),
    wallets: new Gauge({
      name: 'payouts_wallets',
      help: 'Wallets not deleted, by payment system (read at scrape time)',
      labelNames: ['payment_system'] as const,
      registers: [registry],
    }),
  }),
  create: ({ settings, metrics, logger, use }): WalletServices => {
    let keyring: Keyring;
    if (settings.WALLET_KEYS) {
      keyring = Keyring.of(parseWalletKeys(settings.WALLET_KEYS).keys);
    } else {
      // Production refuses to start without WALLET_KEYS (settings.ts); anywhere else, say it loudly when first used.
      keyring = Keyring.throwaway((keyId) =>
        logger.warn(
          { keyId },
        'WALLET_KEYS is not set: wallet credentials are sealed under a THROW-AWAY key that dies with this process ' +
            '(credentials saved now cannot be read after a restart). Set WALLET_KEYS=id:$(openssl rand -base64 32) for real use.',
        ),
      );
    }
    return {
      wallets: new WalletService(use(parksModule).parks, keyring),
      links: new CallbackLinks(settings.CALLBACK_BASE_URL),
      onChange: (change) => metrics.changes.inc({ change }),
    };
  },
  resolvers: [WalletResolver],
  loaders: ({ services }) => walletLoaders(services),
  scrape: ({ services, metrics }) => async (em) => {
    metrics.wallets.reset();
    for (const row of await services.wallets.countBySystem(em)) metrics.wallets.set({ payment_system: row.payment_system }, Number(row.n));
  },
});
