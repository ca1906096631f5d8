/**
 * When scheduled payouts happen: pure arithmetic on a schedule's rules, no database.
 *
 * - A **cut-off** is a time the schedule's cron matches, read on the calendar's wall clock. A cron
 *   time the clock skips (spring forward) happens at the first instant after the gap, and several
 *   skipped times are one cut-off; a cron time the clock shows twice (fall back) happens once, at
 *   its first occurrence. So cut-offs never repeat and their wall times only grow within a day.
 * - A cut-off's payout **fires** `delayDays` business days later. With 0 it fires at the cut-off.
 *   Otherwise take the cut-off's local date, step `delayDays` times to the next local date that is
 *   neither a weekend day nor a holiday, and fire there at the cut-off's wall time (skipped: the
 *   first instant after the gap; shown twice: the earlier one). One more rule keeps fire times in
 *   the order of their cut-offs: when several cut-offs land on the same pay day (Friday's,
 *   Saturday's and Sunday's all on Monday), a later one never fires before an earlier one; a
 *   Saturday 10:00 cut-off fires with Friday 18:00's on Monday at 18:00. For a cron with one time
 *   of day this rule changes nothing.
 *
 * Fire times are therefore non-decreasing in the cut-off, which `dueCutoff` and `nextPending`
 * rely on to binary-search instead of walking every cut-off.
 */
import { InvalidInputError } from '../platform/errors';
import { BusinessDays } from './business-days';
import { Cron } from './cron';
import { type Day, parseIsoDate, TimeZone } from './local-time';

export interface CalendarRules {
  /** IANA time zone, e.g. `Europe/Moscow`. */
  timezone: string;
  /** Local calendar dates, `YYYY-MM-DD`. */
  holidays: readonly string[];
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  weekendDays: readonly number[];
}

export interface ScheduleRules {
  /** 5 fields, `minute hour day-of-month month day-of-week`, evaluated in `calendar.timezone` (see cron.ts). */
  cron: string;
  /** Business days between the cut-off and the payout, an integer 0..365. */
  delayDays: number;
  calendar: CalendarRules;
}

export interface CalendarInput {
  timezone: string;
  holidays?: readonly string[] | null;
  /** Omitted or null: Saturday and Sunday. */
  weekendDays?: readonly number[] | null;
}

export interface ScheduleInput {
  cron: string;
  delayDays: number;
  calendar: CalendarInput;
}

export const DEFAULT_WEEKEND_DAYS: readonly number[] = [6, 7];
export const MAX_DELAY_DAYS = 365;

/** The time zone name as given, or InvalidInputError (field `timezone`) for one Intl does not know. */
export function validateTimezone(timezone: string): string {
  if (typeof timezone !== 'string' || timezone.trim() === '' || TimeZone.find(timezone) === null) {
    throw new InvalidInputError(`timezone ${JSON.stringify(timezone)} is not a known IANA time zone`, { field: 'timezone' });
  }
  return timezone;
}

/**
 * The cron with its fields separated by single spaces, or InvalidInputError (field `cron`) when it
 * is not exactly 5 fields, has a bad field, or no date can ever match it (`0 0 30 2 *`).
 */
export function validateCron(cron: string): string {
  Cron.parse(cron);
  return cron.trim().split(/\s+/).join(' ');
}

/** InvalidInputError (field `delayDays`) unless an integer 0..365. */
export function validateDelayDays(delayDays: number): number {
  if (!Number.isInteger(delayDays) || delayDays < 0 || delayDays > MAX_DELAY_DAYS) {
    throw new InvalidInputError(`delayDays must be an integer from 0 to ${MAX_DELAY_DAYS}`, { field: 'delayDays' });
  }
  return delayDays;
}

/**
 * Validated and normalized calendar rules: holidays sorted without repeats, weekend days sorted
 * (Saturday and Sunday when not given). InvalidInputError with `field` `timezone`, `holidays` (a
 * date that is not a real `YYYY-MM-DD`) or `weekendDays` (outside 1..7, repeated, or all seven).
 */
export function parseCalendarRules(input: CalendarInput): CalendarRules {
  const timezone = validateTimezone(input.timezone);
  const holidays = new Set<string>();
  for (const holiday of input.holidays ?? []) {
    if (typeof holiday !== 'string' || parseIsoDate(holiday) === null) {
      throw new InvalidInputError(`holiday ${JSON.stringify(holiday)} is not a date in YYYY-MM-DD`, { field: 'holidays' });
    }
    holidays.add(holiday);
  }
  const weekendDays = input.weekendDays ?? DEFAULT_WEEKEND_DAYS;
  for (const day of weekendDays) {
    if (!Number.isInteger(day) || day < 1 || day > 7) {
      throw new InvalidInputError('weekendDays must be ISO weekdays, 1 = Monday … 7 = Sunday', { field: 'weekendDays' });
    }
  }
  if (new Set(weekendDays).size !== weekendDays.length) {
    throw new InvalidInputError('weekendDays must not repeat a day', { field: 'weekendDays' });
  }
  if (weekendDays.length === 7) {
    throw new InvalidInputError('weekendDays must leave at least one business day in the week', { field: 'weekendDays' });
  }
  return { timezone, holidays: [...holidays].sort(), weekendDays: [...weekendDays].sort((a, b) => a - b) };
}

/** Validated and normalized schedule rules; the errors of the functions above. */
export function parseScheduleRules(input: ScheduleInput): ScheduleRules {
  return {
    cron: validateCron(input.cron),
    delayDays: validateDelayDays(input.delayDays),
    calendar: parseCalendarRules(input.calendar),
  };
}

/** The first cut-off strictly after `after`. Throws InvalidInputError for invalid rules. */
export function nextCutoff(rules: ScheduleRules, after: Date): Date {
  return new Date(compile(rules).nextCutoff(ms(after, 'after')));
}

/** When the payout of cut-off `cutoff` fires (module comment); never before `cutoff`. */
export function fireTime(rules: ScheduleRules, cutoff: Date): Date {
  return new Date(compile(rules).fireTime(ms(cutoff, 'cutoff')));
}

/**
 * The first cut-off after `afterCutoff` whose payout fires after `now`, and that fire time: what a
 * shop's one pending job is booked for. Cut-offs between them that are already due are left to the
 * run of the job (see `dueCutoff`).
 */
export function nextPending(rules: ScheduleRules, afterCutoff: Date, now: Date): { cutoff: Date; fireAt: Date } {
  const schedule = compile(rules);
  const since = ms(afterCutoff, 'afterCutoff');
  const cutoff = schedule.nextCutoff(schedule.dueCutoff(since, ms(now, 'now')) ?? since);
  return { cutoff: new Date(cutoff), fireAt: new Date(schedule.fireTime(cutoff)) };
}

/**
 * The latest cut-off after `since` whose payout fires at or before `now`, or null. A job that fires
 * late (after downtime) pays this one cut-off, which covers every missed one before it.
 */
export function dueCutoff(rules: ScheduleRules, since: Date, now: Date): Date | null {
  const cutoff = compile(rules).dueCutoff(ms(since, 'since'), ms(now, 'now'));
  return cutoff === null ? null : new Date(cutoff);
}

/** Rules made ready to compute with, in milliseconds since the epoch. */
class Schedule {
  /** Far enough for any cron that passed validation to match (the calendar's 400-year cycle). */
  private static readonly SEARCH_DAYS = 146_097 + 366;

  constructor(
    private readonly zone: TimeZone,
    private readonly cron: Cron,
    private readonly delayDays: number,
    private readonly businessDays: BusinessDays,
  ) {}

  nextCutoff(after: number): number {
    const times = this.cron.times;
    // No cut-off after `after` is on an earlier local date: where the clock goes back over
    // midnight, the repeated wall times count at their first occurrence, before `after`'s date began.
    const from = this.zone.local(after).day;
    const until = from + Schedule.SEARCH_DAYS;
    for (let day = this.cron.nextDay(from, until); day !== null; day = this.cron.nextDay(day + 1, until)) {
      const at = (i: number): number => this.zone.instant(day!, times[i]!);
      if (at(0) > after) return at(0);
      if (at(times.length - 1) <= after) continue;
      // Wall times map to non-decreasing instants: binary-search the first one after `after`.
      let notAfter = 0;
      let isAfter = times.length - 1;
      while (isAfter - notAfter > 1) {
        const middle = (notAfter + isAfter) >> 1;
        if (at(middle) > after) isAfter = middle;
        else notAfter = middle;
      }
      return at(isAfter);
    }
    throw new Error(`a validated cron found no time in ${Schedule.SEARCH_DAYS} days`);
  }

  fireTime(cutoff: number): number {
    if (this.delayDays === 0) return cutoff;
    const { day } = this.zone.local(cutoff);
    let fire = this.onPayDay(cutoff);
    // The cut-offs paid on the same day as this one start on the latest business day up to it.
    // The last cut-off of each earlier date among them may sit later in the day: never fire before it.
    const lastTime = this.cron.times[this.cron.times.length - 1]!;
    for (let earlier: Day = this.businessDays.onOrBefore(day); earlier < day; earlier += 1) {
      if (!this.cron.matchesDay(earlier)) continue;
      const last = this.zone.instant(earlier, lastTime);
      if (last < cutoff) fire = Math.max(fire, this.onPayDay(last));
    }
    return fire;
  }

  dueCutoff(since: number, now: number): number | null {
    // due(t): the first cut-off after t, if its payout fires by `now`. Fire times are monotone, so
    // due(t) holds up to some t and fails after it: binary-search that boundary.
    const due = (t: number): boolean => {
      const cutoff = this.nextCutoff(t);
      return cutoff <= now && this.fireTime(cutoff) <= now;
    };
    if (!due(since)) return null;
    // Usually a run is late by a cut-off or two: try those before searching.
    let holds = since;
    for (let step = 0; step < 4; step += 1) {
      const cutoff = this.nextCutoff(holds);
      if (!due(cutoff)) return cutoff;
      holds = cutoff;
    }
    let fails = now; // the first cut-off after `now` is not due by `now`
    while (fails - holds > 1) {
      const middle = Math.floor((holds + fails) / 2);
      if (due(middle)) holds = middle;
      else fails = middle;
    }
    return this.nextCutoff(holds);
  }

  /** The cut-off's wall time on its pay day, before the ordering rule. */
  private onPayDay(cutoff: number): number {
    const { day, msOfDay } = this.zone.local(cutoff);
    return this.zone.instant(this.businessDays.after(day, this.delayDays), msOfDay);
  }
}

// Callers ask about the same few schedules for many shops: validate and build each one once.
const compiled = new Map<string, Schedule>();
const MAX_COMPILED = 1000;

function compile(rules: ScheduleRules): Schedule {
  const { cron, delayDays, calendar: c } = rules;
  const key = JSON.stringify([cron, delayDays, c.timezone, c.holidays, c.weekendDays]);
  let schedule = compiled.get(key);
  if (!schedule) {
    const calendar = parseCalendarRules(rules.calendar);
    schedule = new Schedule(
      TimeZone.find(calendar.timezone)!,
      Cron.parse(rules.cron),
      validateDelayDays(rules.delayDays),
      new BusinessDays(calendar.weekendDays, calendar.holidays.map((h) => parseIsoDate(h)!)),
    );
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(key, schedule);
  }
  return schedule;
}

function ms(time: Date, field: string): number {
  const t = time instanceof Date ? time.getTime() : NaN;
  if (Number.isNaN(t)) throw new InvalidInputError(`${field} must be a valid time`, { field });
  return t;
}
