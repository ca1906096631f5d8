import { InvalidInputError } from './errors';

/** An ISO 8601 time with an offset (`2026-11-02T10:00:00Z`, `…+03:00`), as every contract writes times. */
export function parseInstant(value: unknown, field = 'occurredAt'): Date {
  const time = typeof value === 'string' && OFFSET.test(value) && isCalendarDate(value) ? new Date(value) : null;
  if (!time || Number.isNaN(time.getTime())) {
    throw new InvalidInputError(`${field} must be an ISO 8601 time with an offset`, { field });
  }
  return time;
}

const OFFSET = /^\d{4}-\d\d-\d\dT.*(Z|[+-]\d\d:?\d\d)$/i;

/** Whether the text's date is a day of the calendar: `Date` would read 2026-02-30 as 2 March. */
function isCalendarDate(value: string): boolean {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
