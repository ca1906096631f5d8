import type { PayoutQueries } from '../payouts/payout.queries';
import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { ParkPayoutState, ParkPayoutStates } from './park-payout-states';
import type { PayoutRules, PayoutRulesStore } from './payout-rules';

/** A park's instant-payout state, batched per request. */
export const parkPayoutStateLoader = loaderKey<string, ParkPayoutState>('fleet.parkPayoutState');
/** When a park's latest payout that counts was made (null: never), batched per request. */
export const lastParkPayoutLoader = loaderKey<string, Date | null>('fleet.lastParkPayout');
/** The rules in force, read once per request (the one key is `current`). */
export const payoutRulesLoader = loaderKey<'current', PayoutRules>('fleet.payoutRules');

export function fleetPayoutLoaders(parts: { states: ParkPayoutStates; rules: PayoutRulesStore; payouts: PayoutQueries }): LoaderProvider[] {
  return [
    provideLoader(parkPayoutStateLoader, (em) => (parkIds) => parts.states.of(em, parkIds)),
    provideLoader(lastParkPayoutLoader, (em) => async (parkIds) => {
      const last = await parts.payouts.lastCountedPayoutAt(em, 'PARK', parkIds);
      return parkIds.map((parkId) => last.get(parkId) ?? null);
    }),
    provideLoader(payoutRulesLoader, (em) => async (keys) => {
      const rules = await parts.rules.current(em);
      return keys.map(() => rules);
    }),
  ];
}
