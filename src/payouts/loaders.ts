import { byId, groupedBy, loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { CashPaymentFactRow } from './cash-payment-facts';
import type { Payout, PayoutStatusChange } from './entities';
import type { PayoutServices } from './services';

/** A payout by id, batched per request (null: no such payout). */
export const payoutLoader = loaderKey<string, Payout | null>('payouts.payout');
/** The payouts a payout request made, by the request's id. */
export const payoutsOfRequestLoader = loaderKey<string, Payout[]>('payouts.ofRequest');
export const statusHistoryLoader = loaderKey<string, PayoutStatusChange[]>('payouts.statusHistory');
export const cashPaymentFactLoader = loaderKey<string, CashPaymentFactRow | null>('payouts.cashPaymentFact');

export function payoutLoaders({ queries, facts }: PayoutServices): LoaderProvider[] {
  return [
    provideLoader(payoutLoader, (em) => byId((ids) => queries.byIds(em, ids), (row) => row.id)),
    provideLoader(payoutsOfRequestLoader, (em) => groupedBy((refs) => queries.bySourceRefs(em, 'REQUEST', refs), (row) => row.sourceRef!)),
    provideLoader(statusHistoryLoader, (em) => groupedBy((ids) => queries.histories(em, ids), (row) => row.payoutId)),
    provideLoader(cashPaymentFactLoader, (em) => byId((ids) => facts.forPayouts(em, ids), (row) => row.payout_id)),
  ];
}
