import { byId, groupedBy, loaderKey, provideLoader, type LoaderProvider } from '../platform/graphql/loaders';
import type { CalendarRow, ScheduleRow, ScheduleService } from './schedule.service';

/** A payout schedule by id, batched per request (null: not defined yet). */
export const scheduleLoader = loaderKey<string, ScheduleRow | null>('schedules.schedule');
/** A calendar by id, batched per request. */
export const calendarLoader = loaderKey<string, CalendarRow | null>('schedules.calendar');
/** The schedules of a calendar, batched per request: a list of calendars asks once for all. */
export const schedulesOfCalendarLoader = loaderKey<string, ScheduleRow[]>('schedules.ofCalendar');

export function scheduleLoaders(schedules: ScheduleService): LoaderProvider[] {
  return [
    provideLoader(scheduleLoader, (em) => byId((ids) => schedules.schedulesById(em, ids), (row) => row.id)),
    provideLoader(calendarLoader, (em) => byId((ids) => schedules.calendarsById(em, ids), (row) => row.id)),
    provideLoader(schedulesOfCalendarLoader, (em) => groupedBy((ids) => schedules.schedulesOfCalendars(em, ids), (row) => row.calendar_id)),
  ];
}
