import { byId, loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { ScheduleRow, ScheduleService } from './schedule.service';

/** A payout schedule by id, batched per request (null: not defined yet). */
export const scheduleLoader = loaderKey<string, ScheduleRow | null>('schedules.schedule');

export function scheduleLoaders(schedules: ScheduleService): LoaderProvider[] {
  return [provideLoader(scheduleLoader, (em) => byId((ids) => schedules.schedulesById(em, ids), (row) => row.id))];
}
