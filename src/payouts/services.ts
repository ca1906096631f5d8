import type { LedgerServices } from '../ledger/services';
import { CashPaymentFacts } from './cash-payment-facts';
import { PayoutLifecycle } from './payout-lifecycle';
import { PayoutSender } from './payout-sender';
import { PayoutSteps } from './payout-steps';
import { PayoutQueries } from './payout.queries';

/** What the payouts module gives other modules. */
export interface PayoutServices {
  /** Create and step payouts: every source uses it. */
  lifecycle: PayoutLifecycle;
  /** Send CREATED payouts, one transaction each: the payer's gateway uses it. */
  sender: PayoutSender;
  /** Read payouts (lists, loaders, other modules' checks). */
  queries: PayoutQueries;
  facts: CashPaymentFacts;
  /** Lets the payer's module add its message to every SENT step; names the topic of lifecycle messages. */
  steps: Pick<PayoutSteps, 'onSent' | 'payoutEventsTopic'>;
}

export function createPayoutServices(ledger: LedgerServices, payoutEventsTopic: string): PayoutServices {
  const steps = new PayoutSteps(ledger.ledger, payoutEventsTopic);
  return {
    lifecycle: new PayoutLifecycle(steps),
    sender: new PayoutSender(steps),
    queries: new PayoutQueries(),
    facts: new CashPaymentFacts(),
    steps,
  };
}
