import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { payoutsModule } from '../payouts/module';
import { defineModule } from '../platform/modules';
import { shopsModule } from '../shops/module';
import { invoicingHandler } from './invoicing.inbound';
import { operationInvariants } from './invariants';
import { operationLoaders } from './loaders';
import { PayoutOperationsResolver, ShopOperationsResolver } from './operation.resolver';
import { OperationService } from './operation.service';

export interface OperationServices {
  operations: OperationService;
}

/** Shops' financial operations from `invoicing`, credited to their payout accounts; a scheduled payout marks those it pays. */
export const operationsModule = defineModule({
  name: 'operations',
  tables: ['shop_operation'],
  requires: [ledgerModule, payoutsModule, shopsModule],
  settings: z.object({ TOPIC_INVOICING: z.string().default('invoicing') }),
  create: ({ use }): OperationServices => {
    const operations = new OperationService(use(ledgerModule).ledger, use(shopsModule).shops);
    // Money back from a scheduled payout makes its operations unpaid again, in the same transaction.
    use(payoutsModule).lifecycle.onMoneyBack((em, payout) => operations.releaseOperations(em, payout));
    return { operations };
  },
  resolvers: [ShopOperationsResolver, PayoutOperationsResolver],
  loaders: () => operationLoaders(),
  inbound: ({ services, settings }) => [invoicingHandler(settings.TOPIC_INVOICING, services.operations)],
  invariants: ({ use }) => operationInvariants(use(payoutsModule).queries),
});
