import { accrualsModule } from '../accruals/module';
import { auditModule } from '../audit/module';
import { callbacksModule } from '../callbacks/module';
import { deadLettersModule } from '../dead-letters/module';
import { erpModule } from '../erp/module';
import { fleetPayoutsModule } from '../fleet-payouts/module';
import { ledgerModule } from '../ledger/module';
import { mailModule } from '../mail/module';
import { operationsModule } from '../operations/module';
import { parksModule } from '../parks/module';
import { payoutsModule } from '../payouts/module';
import { proTopUpsModule } from '../pro-topups/module';
import { requestsModule } from '../requests/module';
import { schedulesModule } from '../schedules/module';
import { shopRunsModule } from '../shop-runs/module';
import { shopsModule } from '../shops/module';
import { signalqModule } from '../signalq/module';
import { topupsModule } from '../topups/module';
import { walletsModule } from '../wallets/module';
import type { AnyModule } from '../platform/modules';

/**
 * Every module of the service. Adding one is a folder with a `module.ts` and a line here; the
 * order is free (each is built after the modules it requires) but fixes the order of the GraphQL
 * fields and crontab lines they add.
 */
export const MODULES: readonly AnyModule[] = [
  ledgerModule,
  payoutsModule,
  erpModule,
  accrualsModule,
  requestsModule,
  schedulesModule,
  shopsModule,
  operationsModule,
  shopRunsModule,
  parksModule,
  fleetPayoutsModule,
  signalqModule,
  mailModule,
  walletsModule,
  topupsModule,
  proTopUpsModule,
  callbacksModule,
  deadLettersModule,
  auditModule,
];
