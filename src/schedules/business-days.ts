import { civilDate, type Day } from './local-time';

/**
 * Which local dates are business days: neither a weekend day nor a holiday.
 * The caller guarantees at least one weekday is not a weekend day, so every search ends.
 */
export class BusinessDays {
  private readonly weekend: ReadonlySet<number>;
  private readonly holidays: ReadonlySet<Day>;

  constructor(weekendDays: readonly number[], holidays: Iterable<Day>) {
    this.weekend = new Set(weekendDays);
    this.holidays = new Set(holidays);
  }

  isBusinessDay(day: Day): boolean {
    return !this.weekend.has(civilDate(day).isoWeekday) && !this.holidays.has(day);
  }

  /** The `count`-th business day after `day`; `day` itself never counts. */
  after(day: Day, count: number): Day {
    let current = day;
    for (let left = count; left > 0; left -= 1) {
      do current += 1;
      while (!this.isBusinessDay(current));
    }
    return current;
  }

  /** The latest business day on or before `day`. */
  onOrBefore(day: Day): Day {
    let current = day;
    while (!this.isBusinessDay(current)) current -= 1;
    return current;
  }
}
