import type { PaymentSystem } from '../wallets/payment-systems';
import type { PaymentSystemAdapter } from './adapter';
import { city24Adapter } from './city24';
import { easypayAdapter } from './easypay';
import { elecsnetAdapter } from './elecsnet';
import { idramAdapter } from './idram';
import { mobilnikAdapter } from './mobilnik';
import { paystackAdapter } from './paystack';
import { qiwiAdapter } from './qiwi';
import { qiwiMdAdapter } from './qiwi-md';
import { qiwiQvpAdapter } from './qiwi-qvp';
import { tbcAdapter } from './tbc';
import { tellcellAdapter } from './tellcell';
import { uzpaynetAdapter } from './uzpaynet';

/**
 * Every payment system's callback adapter: one line per system. A system without an adapter is
 * absent, and the callback server answers 404 on its path.
 */
export const ADAPTERS: Partial<Record<PaymentSystem, PaymentSystemAdapter>> = {
  QIWI: qiwiAdapter,
  QIWI_MD: qiwiMdAdapter,
  QIWI_QVP: qiwiQvpAdapter,
  MOBILNIK: mobilnikAdapter,
  TELLCELL: tellcellAdapter,
  ELECSNET: elecsnetAdapter,
  TBC: tbcAdapter,
  IDRAM: idramAdapter,
  CITY24: city24Adapter,
  UZPAYNET: uzpaynetAdapter,
  EASYPAY: easypayAdapter,
  PAYSTACK: paystackAdapter,
};
