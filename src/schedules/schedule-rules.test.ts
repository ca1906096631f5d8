import { describe, expect, it, vi } from 'vitest';
import { InvalidInputError } from '../platform/errors';
import { TimeZone } from './local-time';
import {
  type CalendarRules,
  dueCutoff,
  fireTime,
  nextCutoff,
  nextPending,
  parseCalendarRules,
  parseScheduleRules,
  type ScheduleRules,
  validateCron,
} from './schedule-rules';

const MOSCOW: CalendarRules = { timezone: 'Europe/Moscow', holidays: [], weekendDays: [6, 7] };
const NEW_YORK: CalendarRules = { timezone: 'America/New_York', holidays: [], weekendDays: [6, 7] };
const BERLIN: CalendarRules = { timezone: 'Europe/Berlin', holidays: [], weekendDays: [6, 7] };
/** Changes clocks at midnight. */
const SANTIAGO: CalendarRules = { timezone: 'America/Santiago', holidays: [], weekendDays: [6, 7] };
const KOLKATA: CalendarRules = { timezone: 'Asia/Kolkata', holidays: [], weekendDays: [6, 7] };
/** Friday and Saturday off. */
const RIYADH: CalendarRules = { timezone: 'Asia/Riyadh', holidays: [], weekendDays: [5, 6] };
/** New Year holidays as Russia has them: 1–8 January. */
const RUSSIA_2027: CalendarRules = {
  ...MOSCOW,
  holidays: ['2027-01-01', '2027-01-02', '2027-01-03', '2027-01-04', '2027-01-05', '2027-01-06', '2027-01-07', '2027-01-08'],
};

function schedule(cron: string, delayDays: number, calendar: CalendarRules): ScheduleRules {
  return { cron, delayDays, calendar };
}

/** Instants compared as instants; expectations are written with the local offset. */
function iso(time: Date | null): string | null {
  return time === null ? null : time.toISOString();
}
function instant(text: string): string {
  return new Date(text).toISOString();
}

describe('nextCutoff: the first cron time strictly after a moment, on the calendar clock', () => {
  it.each([
    ['daily midnight in Moscow', '0 0 * * *', MOSCOW, '2026-03-10T12:00:00+03:00', '2026-03-11T00:00:00+03:00'],
    ['strictly after: a cut-off is not its own next', '0 0 * * *', MOSCOW, '2026-03-11T00:00:00+03:00', '2026-03-12T00:00:00+03:00'],
    ['a quarter-hour offset in Kathmandu', '0 9 * * *', { ...KOLKATA, timezone: 'Asia/Kathmandu' }, '2026-03-10T10:00:00+05:45', '2026-03-11T09:00:00+05:45'],
    ['weekdays 18:30 in Kolkata, from a Friday evening', '30 18 * * 1-5', KOLKATA, '2026-03-13T19:00:00+05:30', '2026-03-16T18:30:00+05:30'],
    ['names for months and weekdays', '0 9 * jan-mar MON', NEW_YORK, '2026-03-31T00:00:00-04:00', '2027-01-04T09:00:00-05:00'],
    ['day of month OR day of week when both are restricted (a Friday)', '0 12 13 * 5', MOSCOW, '2026-04-01T00:00:00+03:00', '2026-04-03T12:00:00+03:00'],
    ['day of month OR day of week when both are restricted (the 13th, a Monday)', '0 12 13 * 5', MOSCOW, '2026-04-10T12:00:00+03:00', '2026-04-13T12:00:00+03:00'],
    ['last day of the month: February', '0 0 L * *', MOSCOW, '2026-02-10T00:00:00+03:00', '2026-02-28T00:00:00+03:00'],
    ['last day of the month: March', '0 0 L * *', MOSCOW, '2026-02-28T00:00:00+03:00', '2026-03-31T00:00:00+03:00'],
    ['last day of the month: leap February', '0 0 L 2 *', MOSCOW, '2027-03-01T00:00:00+03:00', '2028-02-29T00:00:00+03:00'],
    ['the 31st skips months without one', '0 0 31 * *', MOSCOW, '2026-03-31T00:00:00+03:00', '2026-05-31T00:00:00+03:00'],
    ['the 1st across the year end', '0 0 1 * *', MOSCOW, '2026-12-15T00:00:00+03:00', '2027-01-01T00:00:00+03:00'],
    ['29 February waits for a leap year', '0 0 29 2 *', MOSCOW, '2026-03-01T00:00:00+03:00', '2028-02-29T00:00:00+03:00'],
    ['Sunday as 7', '0 6 * * 7', MOSCOW, '2026-03-10T00:00:00+03:00', '2026-03-15T06:00:00+03:00'],
  ])('%s', (_name, cron, calendar, after, expected) => {
    expect(iso(nextCutoff(schedule(cron, 0, calendar), new Date(after)))).toBe(instant(expected));
  });

  describe('daylight saving', () => {
    // A cron time the clock skips happens at the first instant after the gap (the clock shows 03:00);
    // one the clock shows twice happens once, at its first occurrence.
    it.each([
      ['New York spring forward: 02:30 does not exist on 8 March, it is 03:00 EDT', '30 2 * * *', NEW_YORK,
        '2026-03-07T12:00:00-05:00', ['2026-03-08T03:00:00-04:00', '2026-03-09T02:30:00-04:00']],
      ['New York fall back: 01:30 happens twice on 1 November, the EDT one counts', '30 1 * * *', NEW_YORK,
        '2026-10-31T12:00:00-04:00', ['2026-11-01T01:30:00-04:00', '2026-11-02T01:30:00-05:00']],
      ['Berlin spring forward: 02:30 does not exist on 29 March, it is 03:00 CEST', '30 2 * * *', BERLIN,
        '2026-03-28T12:00:00+01:00', ['2026-03-29T03:00:00+02:00', '2026-03-30T02:30:00+02:00']],
      // In Berlin the repeated hour is 02:00–02:59 (03:00 CEST falls back to 02:00 CET).
      ['Berlin fall back: 02:30 happens twice on 25 October, the CEST one counts', '30 2 * * *', BERLIN,
        '2026-10-24T12:00:00+02:00', ['2026-10-25T02:30:00+02:00', '2026-10-26T02:30:00+01:00']],
      ['Santiago spring forward: midnight does not exist on 6 September, it is 01:00', '0 0 * * *', SANTIAGO,
        '2026-09-05T12:00:00-04:00', ['2026-09-06T01:00:00-03:00', '2026-09-07T00:00:00-03:00']],
      // On 5 April 00:00 -03 the clock goes back to 23:00 on 4 April: 23:30 on the 4th counts once, in -03.
      ['Santiago fall back over midnight: the repeated 23:30 of the day before is not run again', '30 23 * * *', SANTIAGO,
        '2026-04-04T12:00:00-03:00', ['2026-04-04T23:30:00-03:00', '2026-04-05T23:30:00-04:00']],
      ['every 15 minutes through the New York gap: the skipped times are one cut-off at 03:00', '*/15 * * * *', NEW_YORK,
        '2026-03-08T01:50:00-05:00', ['2026-03-08T03:00:00-04:00', '2026-03-08T03:15:00-04:00']],
      ['every 30 minutes through the New York repeat: the repeated hour is not run again', '*/30 * * * *', NEW_YORK,
        '2026-11-01T01:10:00-04:00', ['2026-11-01T01:30:00-04:00', '2026-11-01T02:00:00-05:00', '2026-11-01T02:30:00-05:00']],
    ])('%s', (_name, cron, calendar, after, expected) => {
      const rules = schedule(cron, 0, calendar);
      const cutoffs: string[] = [];
      let previous = new Date(after);
      for (let i = 0; i < expected.length; i += 1) {
        previous = nextCutoff(rules, previous);
        cutoffs.push(previous.toISOString());
      }
      expect(cutoffs).toEqual(expected.map(instant));
    });

    it('starting inside a repeated hour, goes on after it: its cut-offs happened the first time round', () => {
      // 01:40 EST is the second 01:40 of the night; the cut-offs at 01:xx already happened in EDT.
      expect(iso(nextCutoff(schedule('*/30 * * * *', 0, NEW_YORK), new Date('2026-11-01T01:40:00-05:00')))).toBe(
        instant('2026-11-01T02:00:00-05:00'),
      );
      // 23:40 -04 on 4 April is Santiago's second 23:40 that night; 23:30 happened in -03.
      expect(iso(nextCutoff(schedule('30 23 * * *', 0, SANTIAGO), new Date('2026-04-04T23:40:00-04:00')))).toBe(
        instant('2026-04-05T23:30:00-04:00'),
      );
    });
  });
});

describe('fireTime: the cut-off plus delayDays business days, at the cut-off wall time', () => {
  const MAY_HOLIDAYS: CalendarRules = { ...MOSCOW, holidays: ['2026-05-01', '2026-05-11'] }; // a Friday and a Monday

  it.each([
    ['delay 0 fires at the cut-off, even on a Saturday', '0 10 * * *', 0, MOSCOW, '2026-03-14T10:00:00+03:00', '2026-03-14T10:00:00+03:00'],
    ['Thursday + 1', '0 0 * * *', 1, MOSCOW, '2026-03-12T00:00:00+03:00', '2026-03-13T00:00:00+03:00'],
    ['Friday + 1 crosses the weekend', '0 0 * * *', 1, MOSCOW, '2026-03-13T00:00:00+03:00', '2026-03-16T00:00:00+03:00'],
    ['Thursday + 2 crosses the weekend', '0 0 * * *', 2, MOSCOW, '2026-03-12T00:00:00+03:00', '2026-03-16T00:00:00+03:00'],
    ['a Saturday cut-off + 1 fires Monday', '0 10 * * *', 1, MOSCOW, '2026-03-14T10:00:00+03:00', '2026-03-16T10:00:00+03:00'],
    ['a Sunday cut-off + 1 fires Monday too', '0 10 * * *', 1, MOSCOW, '2026-03-15T10:00:00+03:00', '2026-03-16T10:00:00+03:00'],
    ['Thursday + 1 skips a Friday holiday and the weekend', '0 0 * * *', 1, MAY_HOLIDAYS, '2026-04-30T00:00:00+03:00', '2026-05-04T00:00:00+03:00'],
    ['Thursday + 3 skips a Friday holiday and the weekend', '0 0 * * *', 3, MAY_HOLIDAYS, '2026-04-30T00:00:00+03:00', '2026-05-06T00:00:00+03:00'],
    ['Friday + 1 skips the weekend and a Monday holiday', '0 0 * * *', 1, MAY_HOLIDAYS, '2026-05-08T00:00:00+03:00', '2026-05-12T00:00:00+03:00'],
    ['a cut-off on a holiday counts from the holiday', '0 0 * * *', 1, MAY_HOLIDAYS, '2026-05-01T00:00:00+03:00', '2026-05-04T00:00:00+03:00'],
    ['31 December + 1 waits out the New Year holidays', '0 0 * * *', 1, RUSSIA_2027, '2026-12-31T00:00:00+03:00', '2027-01-11T00:00:00+03:00'],
    ['31 December 18:00 + 2, into the new year', '0 18 * * *', 2, RUSSIA_2027, '2026-12-31T18:00:00+03:00', '2027-01-12T18:00:00+03:00'],
    ['a holiday-free year end just crosses the weekend', '0 0 L * *', 1, MOSCOW, '2027-12-31T00:00:00+03:00', '2028-01-03T00:00:00+03:00'],
    ['Friday and Saturday off: Thursday + 1 fires Sunday', '0 12 * * *', 1, RIYADH, '2026-03-12T12:00:00+03:00', '2026-03-15T12:00:00+03:00'],
    ['Friday and Saturday off: a Friday cut-off + 1 fires Sunday', '0 12 * * *', 1, RIYADH, '2026-03-13T12:00:00+03:00', '2026-03-15T12:00:00+03:00'],
    ['a delay counts local days, not 24 hours, across Berlin spring forward', '30 2 * * *', 1, BERLIN, '2026-03-27T02:30:00+01:00', '2026-03-30T02:30:00+02:00'],
    ['a delay counts local days across New York fall back', '0 9 * * *', 1, NEW_YORK, '2026-10-30T09:00:00-04:00', '2026-11-02T09:00:00-05:00'],
  ])('%s', (_name, cron, delayDays, calendar, cutoff, expected) => {
    expect(iso(fireTime(schedule(cron, delayDays, calendar), new Date(cutoff)))).toBe(instant(expected));
  });

  describe('a pay day whose wall time is skipped or repeated', () => {
    const SATURDAY_OFF: CalendarRules = { ...NEW_YORK, weekendDays: [6] };

    it('fires at the first instant after the gap when the time does not exist that day', () => {
      // Friday 6 March + 1 business day (Saturday off) = Sunday 8 March, which has no 02:30.
      expect(iso(fireTime(schedule('30 2 * * *', 1, SATURDAY_OFF), new Date('2026-03-06T02:30:00-05:00')))).toBe(
        instant('2026-03-08T03:00:00-04:00'),
      );
    });

    it('fires at the earlier instant when the time happens twice that day', () => {
      // Friday 30 October + 1 = Sunday 1 November, which has 01:30 EDT and then 01:30 EST.
      expect(iso(fireTime(schedule('30 1 * * *', 1, SATURDAY_OFF), new Date('2026-10-30T01:30:00-04:00')))).toBe(
        instant('2026-11-01T01:30:00-04:00'),
      );
    });

    it('keeps the wall time a skipped cut-off had (03:00) on its pay day', () => {
      // Sunday 8 March's 02:30 cut-off happened at 03:00 EDT; one business day later is Monday 03:00.
      expect(iso(fireTime(schedule('30 2 * * *', 1, NEW_YORK), new Date('2026-03-08T03:00:00-04:00')))).toBe(
        instant('2026-03-09T03:00:00-04:00'),
      );
    });
  });

  it('never fires a later cut-off before an earlier one paid on the same day', () => {
    // 10:00 and 18:00 daily, delay 1: Friday's, Saturday's and Sunday's are all paid on Monday.
    const rules = schedule('0 10,18 * * *', 1, MOSCOW);
    const fires = [
      '2026-03-13T10:00:00+03:00', // Friday
      '2026-03-13T18:00:00+03:00',
      '2026-03-14T10:00:00+03:00', // Saturday: not before Friday 18:00's payout
      '2026-03-15T18:00:00+03:00', // Sunday
      '2026-03-16T10:00:00+03:00', // Monday
    ].map((cutoff) => iso(fireTime(rules, new Date(cutoff))));
    expect(fires).toEqual(
      ['2026-03-16T10:00:00+03:00', '2026-03-16T18:00:00+03:00', '2026-03-16T18:00:00+03:00', '2026-03-16T18:00:00+03:00', '2026-03-17T10:00:00+03:00'].map(instant),
    );
  });

  it.each([
    ['hourly, delay 1, Moscow with May holidays', schedule('0 * * * *', 1, MAY_HOLIDAYS), '2026-04-27T00:00:00+03:00', 24 * 21],
    ['every 20 minutes, delay 2, New York through fall back', schedule('*/20 * * * *', 2, NEW_YORK), '2026-10-28T00:00:00-04:00', 3 * 24 * 8],
    ['twice a day, delay 3, Berlin through spring forward', schedule('30 2,14 * * *', 3, BERLIN), '2026-03-20T00:00:00+01:00', 40],
    ['Friday and Saturday off, delay 1, hourly', schedule('0 */3 * * *', 1, RIYADH), '2026-03-01T00:00:00+03:00', 8 * 30],
  ])('fire times never go backwards and never precede the cut-off: %s', (_name, rules, from, count) => {
    let cutoff = new Date(from);
    let previousFire = -Infinity;
    let ties = 0;
    for (let i = 0; i < count; i += 1) {
      cutoff = nextCutoff(rules, cutoff);
      const fire = fireTime(rules, cutoff).getTime();
      expect(fire).toBeGreaterThanOrEqual(cutoff.getTime());
      expect(fire).toBeGreaterThanOrEqual(previousFire);
      if (fire === previousFire) ties += 1;
      previousFire = fire;
    }
    expect(ties).toBeGreaterThan(0); // weekends made cut-offs share a fire time
  });
});

describe('nextPending: the cut-off a shop waits for', () => {
  const daily2 = schedule('0 0 * * *', 2, MOSCOW);

  it('is the first cut-off after the last paid one whose payout has not fired yet', () => {
    // Paid up to Monday 2 March; now is Thursday 12 March, noon. Tuesday 10th's payout fired at
    // Thursday 00:00; Wednesday 11th's fires Friday 13th.
    const pending = nextPending(daily2, new Date('2026-03-02T00:00:00+03:00'), new Date('2026-03-12T12:00:00+03:00'));
    expect({ cutoff: iso(pending.cutoff), fireAt: iso(pending.fireAt) }).toEqual({
      cutoff: instant('2026-03-11T00:00:00+03:00'),
      fireAt: instant('2026-03-13T00:00:00+03:00'),
    });
  });

  it('is the very next cut-off when several later ones are all still pending', () => {
    // Cut-offs Thursday 12, Friday 13, Saturday 14 … are all unfired; the first is booked.
    const pending = nextPending(daily2, new Date('2026-03-11T00:00:00+03:00'), new Date('2026-03-11T00:00:00+03:00'));
    expect({ cutoff: iso(pending.cutoff), fireAt: iso(pending.fireAt) }).toEqual({
      cutoff: instant('2026-03-12T00:00:00+03:00'),
      fireAt: instant('2026-03-16T00:00:00+03:00'),
    });
  });

  it('books the earliest of cut-offs that fire together, and one run then covers them all', () => {
    const daily1 = schedule('0 0 * * *', 1, MOSCOW);
    // Friday, Saturday and Sunday cut-offs all fire Monday 16 March 00:00.
    const pending = nextPending(daily1, new Date('2026-03-12T00:00:00+03:00'), new Date('2026-03-13T12:00:00+03:00'));
    expect(iso(pending.cutoff)).toBe(instant('2026-03-13T00:00:00+03:00'));
    expect(iso(pending.fireAt)).toBe(instant('2026-03-16T00:00:00+03:00'));
    // When it fires, the run pays up to Sunday's cut-off; Monday's own is next.
    expect(iso(dueCutoff(daily1, new Date('2026-03-12T00:00:00+03:00'), pending.fireAt))).toBe(instant('2026-03-15T00:00:00+03:00'));
    const after = nextPending(daily1, new Date('2026-03-15T00:00:00+03:00'), pending.fireAt);
    expect({ cutoff: iso(after.cutoff), fireAt: iso(after.fireAt) }).toEqual({
      cutoff: instant('2026-03-16T00:00:00+03:00'),
      fireAt: instant('2026-03-17T00:00:00+03:00'),
    });
  });
});

describe('dueCutoff: the latest cut-off a late run pays', () => {
  it('is the latest cut-off whose payout has fired', () => {
    const daily2 = schedule('0 0 * * *', 2, MOSCOW);
    // Tuesday 10th's payout fired Thursday 00:00; Wednesday 11th's fires Friday.
    expect(iso(dueCutoff(daily2, new Date('2026-03-02T00:00:00+03:00'), new Date('2026-03-12T12:00:00+03:00')))).toBe(
      instant('2026-03-10T00:00:00+03:00'),
    );
  });

  it('includes a cut-off whose payout fires exactly now', () => {
    const daily2 = schedule('0 0 * * *', 2, MOSCOW);
    expect(iso(dueCutoff(daily2, new Date('2026-03-02T00:00:00+03:00'), new Date('2026-03-12T00:00:00+03:00')))).toBe(
      instant('2026-03-10T00:00:00+03:00'),
    );
  });

  it('is null when nothing after `since` has fired yet', () => {
    const daily2 = schedule('0 0 * * *', 2, MOSCOW);
    // Thursday 12th's cut-off is the next one; it fires Monday 16th.
    expect(dueCutoff(daily2, new Date('2026-03-11T00:00:00+03:00'), new Date('2026-03-13T23:59:59+03:00'))).toBeNull();
    expect(dueCutoff(daily2, new Date('2026-03-11T00:00:00+03:00'), new Date('2026-03-11T00:00:00+03:00'))).toBeNull();
  });

  it('after a year of downtime with a minutely cron, finds the last minute in a few dozen steps', () => {
    const spy = vi.spyOn(TimeZone.prototype, 'offsetAt');
    try {
      const since = new Date('2025-03-01T00:00:00+03:00');
      // Delay 0: the latest whole minute.
      expect(iso(dueCutoff(schedule('* * * * *', 0, MOSCOW), since, new Date('2026-03-12T09:30:30+03:00')))).toBe(
        instant('2026-03-12T09:30:00+03:00'),
      );
      // Delay 1, on a Sunday: Friday's and Saturday's minutes fire Monday, so Thursday's last minute is due.
      expect(iso(dueCutoff(schedule('* * * * *', 1, MOSCOW), since, new Date('2026-03-15T12:00:30+03:00')))).toBe(
        instant('2026-03-12T23:59:00+03:00'),
      );
      // ~540,000 cut-offs lie in between; a walk over them would read the clock millions of times.
      expect(spy.mock.calls.length).toBeLessThan(50_000);
    } finally {
      spy.mockRestore();
    }
  });

  it('agrees with walking every cut-off one by one', () => {
    const rules = schedule('0 */4 * * *', 1, { ...MOSCOW, holidays: ['2026-03-09'] });
    const since = new Date('2026-03-01T00:00:00+03:00');
    for (const now of ['2026-03-10T03:59:59+03:00', '2026-03-10T04:00:00+03:00', '2026-03-16T20:00:00+03:00', '2026-03-17T00:00:00+03:00']) {
      let expected: string | null = null;
      for (let c = nextCutoff(rules, since), i = 0; c.getTime() <= new Date(now).getTime() && i < 200; c = nextCutoff(rules, c), i += 1) {
        if (fireTime(rules, c).getTime() <= new Date(now).getTime()) expected = c.toISOString();
      }
      expect(iso(dueCutoff(rules, since, new Date(now)))).toBe(expected);
    }
  });
});

describe('validation', () => {
  function errorField(action: () => unknown): unknown {
    try {
      action();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      return (error as InvalidInputError).details.field;
    }
    throw new Error('expected an InvalidInputError');
  }

  it.each([
    ['4 fields', '0 0 * *'],
    ['6 fields (seconds)', '0 0 0 * * *'],
    ['a nickname', '@daily'],
    ['empty', '   '],
    ['minute 60', '60 0 * * *'],
    ['hour 24', '0 24 * * *'],
    ['day of month 0', '0 0 0 * *'],
    ['month 13', '0 0 * 13 *'],
    ['weekday 8', '0 0 * * 8'],
    ['an unknown name', '0 0 * FOO *'],
    ['step 0', '*/0 * * * *'],
    ['a backwards range', '5-1 * * * *'],
    ['an empty list item', '1,,2 * * * *'],
    ['L outside the day of month', '0 0 * * L'],
    ['never fires: 30 February', '0 0 30 2 *'],
    ['never fires: the 31st of 30-day months', '0 0 31 4,6,9,11 *'],
  ])('refuses a cron: %s', (_name, cron) => {
    expect(errorField(() => validateCron(cron))).toBe('cron');
    expect(errorField(() => nextCutoff(schedule(cron, 0, MOSCOW), new Date()))).toBe('cron');
  });

  it('accepts crontab syntax and returns it with single spaces', () => {
    expect(validateCron('  0   0  L * * ')).toBe('0 0 L * *');
    for (const cron of ['*/15 * * * *', '0 9 * jan-MAR mon-fri', '0 0 29 2 *', '0 0 * * 0,7', '5/20 1-5/2 1,15 * *', '0 12 L 2 1']) {
      expect(validateCron(cron)).toBe(cron);
    }
  });

  it.each([
    ['an unknown time zone', { timezone: 'Mars/Olympus' }, 'timezone'],
    ['an empty time zone', { timezone: '' }, 'timezone'],
    ['an offset instead of a zone', { timezone: '+03:00' }, 'timezone'],
    ['30 February', { timezone: 'UTC', holidays: ['2026-02-30'] }, 'holidays'],
    ['month 13', { timezone: 'UTC', holidays: ['2026-13-01'] }, 'holidays'],
    ['a date without leading zeros', { timezone: 'UTC', holidays: ['2026-1-1'] }, 'holidays'],
    ['a date in another format', { timezone: 'UTC', holidays: ['01.01.2026'] }, 'holidays'],
    ['weekday 0', { timezone: 'UTC', weekendDays: [0] }, 'weekendDays'],
    ['weekday 8', { timezone: 'UTC', weekendDays: [8] }, 'weekendDays'],
    ['a fractional weekday', { timezone: 'UTC', weekendDays: [6.5] }, 'weekendDays'],
    ['a repeated weekday', { timezone: 'UTC', weekendDays: [6, 6] }, 'weekendDays'],
    ['no business day left', { timezone: 'UTC', weekendDays: [1, 2, 3, 4, 5, 6, 7] }, 'weekendDays'],
  ])('refuses a calendar: %s', (_name, calendar, field) => {
    expect(errorField(() => parseCalendarRules(calendar))).toBe(field);
  });

  it.each([[-1], [366], [1.5], [Number.NaN]])('refuses delayDays %s', (delayDays) => {
    expect(errorField(() => parseScheduleRules({ cron: '0 0 * * *', delayDays, calendar: MOSCOW }))).toBe('delayDays');
    expect(errorField(() => fireTime(schedule('0 0 * * *', delayDays, MOSCOW), new Date()))).toBe('delayDays');
  });

  it('normalizes what it accepts', () => {
    expect(parseCalendarRules({ timezone: 'Europe/Moscow', holidays: ['2027-01-02', '2027-01-01', '2027-01-02'] })).toEqual({
      timezone: 'Europe/Moscow',
      holidays: ['2027-01-01', '2027-01-02'],
      weekendDays: [6, 7],
    });
    expect(parseScheduleRules({ cron: '0 0 * * *', delayDays: 365, calendar: { timezone: 'Asia/Riyadh', weekendDays: [6, 5] } })).toEqual({
      cron: '0 0 * * *',
      delayDays: 365,
      calendar: { timezone: 'Asia/Riyadh', holidays: [], weekendDays: [5, 6] },
    });
    expect(parseCalendarRules({ timezone: 'UTC', weekendDays: [] }).weekendDays).toEqual([]);
  });
});
