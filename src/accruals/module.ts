import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { defineModule } from '../platform/modules';
import { AccrualResolver } from './accrual.resolver';
import { AccrualService } from './accrual.service';
import { accrualsHandler } from './accruals.inbound';

export interface AccrualServices {
  accruals: AccrualService;
}

/** Money owed to payees that are not shops (clients, parks), from the `accruals` topic or an admin. */
export const accrualsModule = defineModule({
  name: 'accruals',
  tables: ['accrual'],
  requires: [ledgerModule],
  settings: z.object({ TOPIC_ACCRUALS: z.string().default('accruals') }),
  create: ({ use }): AccrualServices => ({ accruals: new AccrualService(use(ledgerModule).ledger) }),
  resolvers: [AccrualResolver],
  inbound: ({ services, settings }) => [accrualsHandler(settings.TOPIC_ACCRUALS, services.accruals)],
});
