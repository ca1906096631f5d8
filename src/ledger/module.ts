import { defineModule } from '../platform/modules';
import { BalanceResolver } from './balance.resolver';
import { LedgerAccount, LedgerTransfer } from './entities';
import { ledgerInvariants } from './invariants';
import { ledgerLoaders } from './loaders';
import { createLedgerServices } from './services';

/** The double-entry ledger: accounts, immutable transfers, and the rules that keep the books. */
export const ledgerModule = defineModule({
  name: 'ledger',
  tables: ['ledger_account', 'ledger_transfer'],
  entities: [LedgerAccount, LedgerTransfer],
  create: createLedgerServices,
  resolvers: [BalanceResolver],
  loaders: ({ services }) => ledgerLoaders(services),
  invariants: () => ledgerInvariants,
});
