import { InvalidInputError } from './errors';

/** An ISO 8601 time with an offset (`2026-11-02T10:00:00Z`, `…+03:00`), as every contract writes times. */
export function parseInstant(value: unknown, field = 'occurredAt'): Date {
  return new Date(parseInstantMs(value, field));
}

/** `parseInstant` as milliseconds since the epoch: no Date made, for what reads a million a minute. */
export function parseInstantMs(value: unknown, field = 'occurredAt'): number {
  const ms = typeof value === 'string' && OFFSET.test(value) && isCalendarDate(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidInputError(`${field} must be an ISO 8601 time with an offset`, { field });
  return ms;
}

const OFFSET = /^\d{4}-\d\d-\d\dT.*(Z|[+-]\d\d:?\d\d)$/i;

/** Whether the text's date is a day of the calendar: `Date` would read 2026-02-30 as 2 March. */
function isCalendarDate(value: string): boolean {
  // Digits read in place (OFFSET has checked their positions): this runs for every event ingested.
  const year = digits(value, 0, 4);
  const month = digits(value, 5, 2);
  const day = digits(value, 8, 2);
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

function digits(text: string, from: number, count: number): number {
  let number = 0;
  for (let i = from; i < from + count; i += 1) number = number * 10 + (text.charCodeAt(i) - 48);
  return number;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
