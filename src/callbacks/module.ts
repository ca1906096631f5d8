import { defineModule } from '../platform/modules';
import { ADAPTERS } from '../payment-systems/registry';
import { topupsModule } from '../topups/module';
import { walletsModule } from '../wallets/module';
import { CallbackDispatcher } from './dispatcher';
import { callbackMetrics, type CallbackMetrics } from './metrics';
import { callbackSettings, type CallbackSettings } from './settings';

export interface CallbackModuleServices {
  dispatcher: CallbackDispatcher;
  settings: CallbackSettings;
  metrics: CallbackMetrics;
}

/**
 * The external API payment systems call: one adapter per system (`payment-systems/registry.ts`)
 * behind `/callbacks/<system>/<secret>`, served by `payouts callbacks` and `payouts start` on
 * CALLBACK_PORT (see `server.ts`). Owns no table: links are the wallets', top-ups the topups'.
 */
export const callbacksModule = defineModule({
  name: 'callbacks',
  requires: [walletsModule, topupsModule],
  settings: callbackSettings,
  metrics: callbackMetrics,
  create: ({ settings, metrics, kernel, logger, use }): CallbackModuleServices => {
    const { links, wallets } = use(walletsModule);
    const { topups } = use(topupsModule);
    return {
      dispatcher: new CallbackDispatcher(ADAPTERS, { orm: kernel.orm, links, wallets, topups }, settings, metrics, logger),
      settings,
      metrics,
    };
  },
  scrape: ({ use, settings, metrics }) => async (em) => {
    const usage = await use(topupsModule).topups.usageBySystem(em, new Date(Date.now() - settings.PAYMENT_SYSTEM_USAGE_WINDOW));
    metrics.parks.reset();
    metrics.drivers.reset();
    for (const row of usage) {
      metrics.parks.set({ payment_system: row.paymentSystem }, row.parks);
      metrics.drivers.set({ payment_system: row.paymentSystem }, row.drivers);
    }
  },
});
