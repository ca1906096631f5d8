import type { Task } from 'graphile-worker';
import { Counter, Gauge, type Registry } from 'prom-client';
import { mailModule } from '../mail/module';
import { parksModule } from '../parks/module';
import { defineModule } from '../platform/modules';
import { CallbackLinks, type ResolvedLink } from './callback-links';
import { LinkCache } from './link-cache';
import { KeyExpiry } from './key-expiry';
import { Keyring, parseWalletKeys } from './keyring';
import { walletLoaders } from './loaders';
import { walletSettings } from './settings';
import { WalletResolver } from './wallet.resolver';
import { WalletService } from './wallet.service';

export interface WalletServices {
  wallets: WalletService;
  links: CallbackLinks;
  keyExpiry: KeyExpiry;
  onChange: (what: 'created' | 'deleted' | 'link-issued' | 'link-revoked') => void;
}

/** Park wallets with payment systems: credentials sealed under WALLET_KEYS, and secret callback links. */
export const walletsModule = defineModule({
  name: 'wallets',
  tables: ['wallet', 'wallet_retired_key', 'callback_link', 'wallet_key_notice'],
  requires: [parksModule, mailModule],
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
    keyNotices: new Counter({
      name: 'payouts_wallet_key_notices_total',
      help: 'QIWI key-expiry notices recorded, by threshold in days (0: expired) and whether an e-mail was enqueued (false: the park has no address)',
      labelNames: ['threshold_days', 'mailed'] as const,
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
    const { parks } = use(parksModule);
    const resolvedLinks = new LinkCache<ResolvedLink>(settings.CALLBACK_LINK_CACHE_TTL);
    return {
      wallets: new WalletService(parks, keyring, () => resolvedLinks.forget()),
      links: new CallbackLinks(settings.CALLBACK_BASE_URL, resolvedLinks),
      keyExpiry: new KeyExpiry(parks, use(mailModule).mail, logger.child({ component: 'key-expiry' }), (threshold, mailed) =>
        metrics.keyNotices.inc({ threshold_days: String(threshold), mailed: String(mailed) }),
      ),
      onChange: (change) => metrics.changes.inc({ change }),
    };
  },
  resolvers: [WalletResolver],
  tasks: ({ services, kernel }) => ({
    wallet__key_expiry: (async () => {
      await services.keyExpiry.run(kernel.orm.em.fork(), new Date());
    }) as Task<'wallet__key_expiry'>,
  }),
  cron: ({ settings }) => [
    {
      pattern: settings.WALLET_KEY_EXPIRY_CRON,
      task: 'wallet__key_expiry',
      options: { jobKey: 'wallet__key_expiry', jobKeyMode: 'preserve_run_at', max: 1 },
      comment: 'Daily (WALLET_KEY_EXPIRY_CRON): e-mails parks whose QIWI key expires within 30, 7 or 1 days, or has expired (once per wallet, key and threshold).',
    },
  ],
  loaders: ({ services }) => walletLoaders(services),
  scrape: ({ services, metrics }) => async (em) => {
    metrics.wallets.reset();
    for (const row of await services.wallets.countBySystem(em)) metrics.wallets.set({ payment_system: row.payment_system }, Number(row.n));
  },
});
