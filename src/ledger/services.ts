import { LedgerService } from './ledger.service';

/** What the ledger gives other modules. */
export interface LedgerServices {
  ledger: LedgerService;
}

export function createLedgerServices(): LedgerServices {
  return { ledger: new LedgerService() };
}
