import { InvalidInputError } from '../platform/errors';
import { civilDate, type Day, dayOf, daysInMonth } from './local-time';

/**
 * A 5-field cron expression: `minute hour day-of-month month day-of-week`, as crontab(5) reads it.
 *
 * Each field is `*` or a comma-separated list of `n`, `a-b`, `*\/s`, `a-b/s` or `a/s` (from `a` to
 * the field's end). Months may be `JAN`–`DEC`, weekdays `SUN`–`SAT`, and 0 or 7 is Sunday.
 * The day of the month may also be `L`, the month's last day. As in crontab, when both the day of
 * the month and the day of the week are restricted (neither starts with `*`) a date matches if
 * either does; otherwise it must match both.
 *
 * The cron knows nothing of time zones: it says which local dates match and at which wall times.
 */
export class Cron {
  /** Wall times it fires at on a matching date, in ms since local midnight, ascending. */
  readonly times: readonly number[];

  private constructor(
    minutes: readonly number[],
    hours: readonly number[],
    private readonly daysOfMonth: ReadonlySet<number>,
    private readonly lastDayOfMonth: boolean,
    private readonly months: ReadonlySet<number>,
    private readonly weekdays: ReadonlySet<number>,
    /** Both day fields restricted: either one matching is enough. */
    private readonly eitherDay: boolean,
  ) {
    this.times = hours.flatMap((h) => minutes.map((m) => (h * 60 + m) * 60_000));
  }

  /** Throws InvalidInputError (field `cron`) for anything but a valid 5-field cron that can fire. */
  static parse(expression: string): Cron {
    const fields = typeof expression === 'string' ? expression.trim().split(/\s+/) : [];
    if (fields.length !== 5) {
      throw invalid('cron must have exactly 5 fields: minute hour day-of-month month day-of-week');
    }
    const [minute, hour, dayOfMonth, month, weekday] = fields as [string, string, string, string, string];
    const dom = parseField(dayOfMonth, DAY_OF_MONTH);
    const cron = new Cron(
      [...parseField(minute, MINUTE).values].sort((a, b) => a - b),
      [...parseField(hour, HOUR).values].sort((a, b) => a - b),
      dom.values,
      dom.last,
      parseField(month, MONTH).values,
      new Set([...parseField(weekday, WEEKDAY).values].map((d) => d % 7)),
      !dayOfMonth.startsWith('*') && !weekday.startsWith('*'),
    );
    // The Gregorian calendar repeats every 400 years: no match in one cycle means never.
    const cycleStart = dayOf(2000, 1, 1);
    if (cron.nextDay(cycleStart, dayOf(2400, 1, 1)) === null) {
      throw invalid(`cron ${JSON.stringify(expression.trim())} never fires: no date matches its day and month fields`);
    }
    return cron;
  }

  matchesDay(day: Day): boolean {
    const date = civilDate(day);
    if (!this.months.has(date.month)) return false;
    const dom = this.daysOfMonth.has(date.day) || (this.lastDayOfMonth && date.day === daysInMonth(date.year, date.month));
    const dow = this.weekdays.has(date.isoWeekday % 7);
    return this.eitherDay ? dom || dow : dom && dow;
  }

  /** The first matching date in [from, until), or null. */
  nextDay(from: Day, until: Day): Day | null {
    let day = from;
    while (day < until) {
      const { year, month } = civilDate(day);
      if (!this.months.has(month)) {
        day = dayOf(year, month + 1, 1);
        continue;
      }
      if (this.matchesDay(day)) return day;
      day += 1;
    }
    return null;
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  allowLast?: boolean;
}

const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31, allowLast: true };
const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
};
const WEEKDAY: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] };

function parseField(text: string, spec: FieldSpec): { values: Set<number>; last: boolean } {
  const values = new Set<number>();
  let last = false;
  for (const item of text.split(',')) {
    if (spec.allowLast && item.toUpperCase() === 'L') {
      last = true;
      continue;
    }
    const match = /^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw invalid(`cron ${spec.name} field: "${item}" is not a value, range or step`);
    const [, range, stepText] = match as unknown as [string, string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw invalid(`cron ${spec.name} field: a step must be at least 1`);
    let from = spec.min;
    let to = spec.max;
    if (range !== '*') {
      const [a, b] = range.split('-') as [string, string | undefined];
      from = fieldValue(a, spec);
      to = b !== undefined ? fieldValue(b, spec) : stepText !== undefined ? spec.max : from;
      if (from > to) throw invalid(`cron ${spec.name} field: range "${range}" runs backwards`);
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, last };
}

function fieldValue(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  const value = named >= 0 ? named + spec.min : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= spec.min && value <= spec.max)) {
    throw invalid(`cron ${spec.name} field: "${text}" is not between ${spec.min} and ${spec.max}`);
  }
  return value;
}

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message, { field: 'cron' });
}
