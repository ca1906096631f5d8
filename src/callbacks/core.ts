import type { EntityManager } from '@mikro-orm/postgresql';
import type { CallbackCore } from '../payment-systems/adapter';
import type { TopUps } from '../topups/topups';
import type { WalletRow } from '../wallets/wallet';
import type { WalletService } from '../wallets/wallet.service';
import type { CallbackMetrics } from './metrics';

/**
 * The top-up core bound to one link's wallet, for one callback: what the adapter may do and no
 * more. Counts checks, payments, duplicates and refusals per system as it goes. `em` gives the
 * callback's EntityManager, made on first use: a new payment needs none.
 */
export function bindCore(em: () => EntityManager, wallet: WalletRow, services: { topups: TopUps; wallets: WalletService }, metrics: CallbackMetrics): CallbackCore {
  const system = wallet.payment_system;
  const refused = (code: string) => metrics.refusals.inc({ payment_system: system, code });
  let credentials: ReturnType<CallbackCore['credentials']> | undefined;
  return {
    wallet: { id: wallet.id, parkId: wallet.park_id, paymentSystem: system, currency: wallet.currency },
    credentials() {
      credentials ??= services.wallets.credentialsOf(wallet);
      return credentials;
    },
    async check(account, amount) {
      metrics.checks.inc({ payment_system: system });
      const result = await services.topups.check(em(), wallet, account, amount);
      if (!result.ok) refused(result.refusal);
      return result;
    },
    async pay(externalId, account, amount) {
      const result = await services.topups.acceptOutsideTransaction(em, wallet, externalId, account, amount);
      if (!result.transaction) refused(result.refusal ?? 'UNKNOWN_DRIVER');
      else if (!result.created) metrics.duplicates.inc({ payment_system: system });
      else if (result.refusal) refused(result.refusal);
      else metrics.payments.inc({ payment_system: system });
      return result;
    },
    find: (externalId) => services.topups.find(em(), wallet.id, externalId),
    statement: (from, to, limit) => services.topups.statement(em(), wallet.id, from, to, limit),
    withdraw: (externalId, account, amount) => services.topups.withdraw(em(), wallet, externalId, account, amount),
  };
}
