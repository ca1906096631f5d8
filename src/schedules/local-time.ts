/**
 * Local calendar dates and wall-clock times in an IANA time zone, on top of Intl alone.
 *
 * A local date is a `Day`: whole days since 1970-01-01 on the zone's calendar, so stepping to the
 * next date is `day + 1` and never touches time zones. A wall-clock time is milliseconds since the
 * local midnight.
 */
export type Day = number;

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MAX_CACHED_HOURS = 100_000;

export interface CivilDate {
  year: number;
  month: number;
  day: number;
  /** 1 = Monday … 7 = Sunday. */
  isoWeekday: number;
}

export function dayOf(year: number, month: number, day: number): Day {
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return Math.floor(date.getTime() / DAY_MS);
}

export function civilDate(day: Day): CivilDate {
  const date = new Date(day * DAY_MS);
  // 1970-01-01 was a Thursday (ISO 4).
  const isoWeekday = (((day + 3) % 7) + 7) % 7 + 1;
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), isoWeekday };
}

export function daysInMonth(year: number, month: number): number {
  return dayOf(year, month + 1, 1) - dayOf(year, month, 1);
}

/** `YYYY-MM-DD` that names a real date, or null. */
export function parseIsoDate(text: string): Day | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return dayOf(year, month, day);
}

/**
 * A time zone's clock. Instances are cached per name: building an Intl formatter costs far more
 * than using one.
 */
export class TimeZone {
  private static readonly zones = new Map<string, TimeZone>();
  private readonly format: Intl.DateTimeFormat;
  /** Offsets of whole UTC hours the zone does not change offset in; Intl is slow, schedules ask often. */
  private readonly hourOffsets = new Map<number, number>();

  private constructor(readonly name: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The zone of this name, or null when Intl does not know it. */
  static find(name: string): TimeZone | null {
    let zone = TimeZone.zones.get(name);
    if (!zone) {
      try {
        zone = new TimeZone(name);
      } catch {
        return null; // RangeError: not a time zone
      }
      if (TimeZone.zones.size >= 1000) TimeZone.zones.clear();
      TimeZone.zones.set(name, zone);
    }
    return zone;
  }

  /** Local time minus UTC at instant `t` (ms since the epoch), in milliseconds. */
  offsetAt(t: number): number {
    const hour = Math.floor(t / HOUR_MS);
    const cached = this.hourOffsets.get(hour);
    if (cached !== undefined) return cached;
    // No zone changes its offset twice within an hour: equal at both ends means constant throughout.
    const offset = this.readOffset(hour * HOUR_MS);
    if (offset !== this.readOffset(hour * HOUR_MS + HOUR_MS - 1000)) return this.readOffset(t);
    if (this.hourOffsets.size >= MAX_CACHED_HOURS) this.hourOffsets.clear();
    this.hourOffsets.set(hour, offset);
    return offset;
  }

  private readOffset(t: number): number {
    const second = Math.floor(t / 1000) * 1000;
    const parts: Record<string, number> = {};
    for (const part of this.format.formatToParts(second)) {
      if (part.type !== 'literal') parts[part.type] = Number(part.value);
    }
    const wall = dayOf(parts.year!, parts.month!, parts.day!) * DAY_MS + ((parts.hour! * 60 + parts.minute!) * 60 + parts.second!) * 1000;
    return wall - second;
  }

  /** The local date and wall-clock time at instant `t`. */
  local(t: number): { day: Day; msOfDay: number } {
    const wall = t + this.offsetAt(t);
    const day = Math.floor(wall / DAY_MS);
    return { day, msOfDay: wall - day * DAY_MS };
  }

  /**
   * The instant the clock shows `msOfDay` on local date `day`. A wall time the clock skips
   * (spring forward) gives the first instant after the gap; a wall time it shows twice (fall back)
   * gives the earlier instant. Both keep the result non-decreasing in the wall time.
   */
  instant(day: Day, msOfDay: number): number {
    const wall = day * DAY_MS + msOfDay;
    // Offsets in force around this wall time; a zone changes offset at most once in two days.
    const offsets = [...new Set([this.offsetAt(wall - DAY_MS), this.offsetAt(wall), this.offsetAt(wall + DAY_MS)])];
    let earliest: number | null = null;
    for (const offset of offsets) {
      const t = wall - offset;
      if (this.offsetAt(t) === offset && (earliest === null || t < earliest)) earliest = t;
    }
    if (earliest !== null) return earliest;
    // In a gap: the first instant whose clock reads past `wall` is the moment the clock jumped.
    let before = wall - Math.max(...offsets);
    let after = wall - Math.min(...offsets);
    while (after - before > 1) {
      const middle = Math.floor((before + after) / 2);
      if (middle + this.offsetAt(middle) > wall) after = middle;
      else before = middle;
    }
    return after;
  }
}
