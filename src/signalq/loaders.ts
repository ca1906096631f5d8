import { loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { SignalqConfigRow, SignalqConfigs } from './config';
import { latestPeriods, type SignalqPeriodRow } from './periods';

/** A park's config (its latest version; null: none), batched per request. */
export const signalqConfigLoader = loaderKey<string, SignalqConfigRow | null>('signalq.config');
/** A park's latest recorded periods, newest first, batched per request. */
export const signalqPeriodsLoader = loaderKey<string, SignalqPeriodRow[]>('signalq.periods');

export function signalqLoaders(configs: SignalqConfigs): LoaderProvider[] {
  return [
    provideLoader(signalqConfigLoader, (em) => async (parkIds) => {
      const latest = await configs.latestOf(em, parkIds);
      return parkIds.map((id) => latest.get(id) ?? null);
    }),
    provideLoader(signalqPeriodsLoader, (em) => async (parkIds) => {
      const periods = await latestPeriods(em, parkIds);
      return parkIds.map((id) => periods.get(id) ?? []);
    }),
  ];
}
