import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, NotFoundError } from '../platform/errors';
import { withDates } from '../platform/rows';
import { plainArray } from '../platform/sql-arrays';
import type { ScheduleRules } from './schedule-rules';

export interface CalendarRow {
  id: string;
  timezone: string;
  /** Local dates, `YYYY-MM-DD`. */
  holidays: string[];
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  weekend_days: number[];
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ScheduleRow {
  id: string;
  cron: string;
  calendar_id: string;
  delay_days: number;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface CalendarInput {
  id: string;
  timezone: string;
  holidays: readonly string[];
  weekendDays: readonly number[];
  description?: string | null;
}

export interface ScheduleInput {
  id: string;
  cron: string;
  calendarId: string;
  delayDays: number;
  description?: string | null;
}

/** Called in the same transaction when schedules' rules change, so their shops are re-booked. */
export type RulesChanged = (em: EntityManager, scheduleIds: string[]) => Promise<void>;

/**
 * The most calendars and payout schedules there may be. GraphQL answers them in unpaged lists, whose
 * cost is worked out from these bounds before a query runs; so they are kept here, not guessed.
 */
export const MAX_CALENDARS = 30;
export const MAX_PAYOUT_SCHEDULES = 200;
export const MAX_SCHEDULES_PER_CALENDAR = 50;

const CALENDAR_COLUMNS = `id, timezone, holidays::text[] AS holidays, weekend_days::int[] AS weekend_days, description, created_at, updated_at`;

/**
 * Calendars and payout schedules (what dominant and schedulator kept). Input is validated by the
 * caller with `schedule-rules`; this stores it and tells the shops when rules change.
 */
export class ScheduleService {
  private rulesChanged: RulesChanged = async () => {};

  onRulesChanged(listener: RulesChanged): void {
    this.rulesChanged = listener;
  }

  async upsertCalendar(em: EntityManager, input: CalendarInput): Promise<CalendarRow> {
    await refuseBeyond(em, 'calendar', input.id, MAX_CALENDARS, 'calendars');
    const [row] = await em.execute<CalendarRow[]>(
      `INSERT INTO calendar (id, timezone, holidays, weekend_days, description)
       VALUES (?, ?, ?::date[], ?::smallint[], ?)
       ON CONFLICT (id) DO UPDATE SET timezone = EXCLUDED.timezone, holidays = EXCLUDED.holidays,
         weekend_days = EXCLUDED.weekend_days, description = EXCLUDED.description, updated_at = now()
       RETURNING ${CALENDAR_COLUMNS}`,
      [input.id, input.timezone, plainArray([...new Set(input.holidays)].sort()), plainArray([...new Set(input.weekendDays)].sort()), input.description ?? null],
    );
    const schedules = await em.execute<{ id: string }[]>('SELECT id FROM payout_schedule WHERE calendar_id = ? ORDER BY id', [input.id]);
    await this.rulesChanged(em, schedules.map((s) => s.id));
    return normalizeCalendar(row!);
  }

  async upsertSchedule(em: EntityManager, input: ScheduleInput): Promise<ScheduleRow> {
    const calendar = await this.calendar(em, input.calendarId);
    if (!calendar) throw new NotFoundError(`Calendar ${input.calendarId} not found`, { field: 'calendarId' });
    await refuseBeyond(em, 'payout_schedule', input.id, MAX_PAYOUT_SCHEDULES, 'payout schedules');
    await refuseBeyond(em, 'payout_schedule', input.id, MAX_SCHEDULES_PER_CALENDAR, 'payout schedules on a calendar', {
      sql: 'calendar_id = ?',
      params: [input.calendarId],
    });
    const [row] = await em.execute<ScheduleRow[]>(
      `INSERT INTO payout_schedule (id, cron, calendar_id, delay_days, description) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET cron = EXCLUDED.cron, calendar_id = EXCLUDED.calendar_id,
         delay_days = EXCLUDED.delay_days, description = EXCLUDED.description, updated_at = now()
       RETURNING *`,
      [input.id, input.cron, input.calendarId, input.delayDays, input.description ?? null],
    );
    await this.rulesChanged(em, [input.id]);
    return normalizeSchedule(row!);
  }

  async calendar(em: EntityManager, id: string): Promise<CalendarRow | null> {
    const [row] = await em.execute<CalendarRow[]>(`SELECT ${CALENDAR_COLUMNS} FROM calendar WHERE id = ?`, [id]);
    return row ? normalizeCalendar(row) : null;
  }

  async calendars(em: EntityManager): Promise<CalendarRow[]> {
    const rows = await em.execute<CalendarRow[]>(`SELECT ${CALENDAR_COLUMNS} FROM calendar ORDER BY id`);
    return rows.map(normalizeCalendar);
  }

  async schedule(em: EntityManager, id: string): Promise<ScheduleRow | null> {
    const [row] = await em.execute<ScheduleRow[]>('SELECT * FROM payout_schedule WHERE id = ?', [id]);
    return row ? normalizeSchedule(row) : null;
  }

  async schedulesById(em: EntityManager, ids: readonly string[]): Promise<ScheduleRow[]> {
    const rows = await em.execute<ScheduleRow[]>('SELECT * FROM payout_schedule WHERE id IN (?)', [[...ids]]);
    return rows.map(normalizeSchedule);
  }

  async calendarsById(em: EntityManager, ids: readonly string[]): Promise<CalendarRow[]> {
    const rows = await em.execute<CalendarRow[]>(`SELECT ${CALENDAR_COLUMNS} FROM calendar WHERE id IN (?)`, [[...ids]]);
    return rows.map(normalizeCalendar);
  }

  /** The schedules of all these calendars at once, by id. */
  async schedulesOfCalendars(em: EntityManager, calendarIds: readonly string[]): Promise<ScheduleRow[]> {
    const rows = await em.execute<ScheduleRow[]>('SELECT * FROM payout_schedule WHERE calendar_id IN (?) ORDER BY id', [[...calendarIds]]);
    return rows.map(normalizeSchedule);
  }

  async schedules(em: EntityManager, calendarId?: string | null): Promise<ScheduleRow[]> {
    const rows = calendarId
      ? await em.execute<ScheduleRow[]>('SELECT * FROM payout_schedule WHERE calendar_id = ? ORDER BY id', [calendarId])
      : await em.execute<ScheduleRow[]>('SELECT * FROM payout_schedule ORDER BY id');
    return rows.map(normalizeSchedule);
  }

  /** The rules a schedule fires by, or null when no such schedule is defined (yet). */
  async rulesFor(em: EntityManager, scheduleId: string): Promise<ScheduleRules | null> {
    const [row] = await em.execute<{ cron: string; delay_days: number; timezone: string; holidays: string[]; weekend_days: number[] }[]>(
      `SELECT s.cron, s.delay_days, c.timezone, c.holidays::text[] AS holidays, c.weekend_days::int[] AS weekend_days
         FROM payout_schedule s JOIN calendar c ON c.id = s.calendar_id WHERE s.id = ?`,
      [scheduleId],
    );
    if (!row) return null;
    return {
      cron: row.cron,
      delayDays: row.delay_days,
      calendar: { timezone: row.timezone, holidays: row.holidays.map(String), weekendDays: row.weekend_days.map(Number) },
    };
  }
}

/**
 * Refuses a row that would take `table` (or the part of it `where` names) beyond `max` rows; replacing
 * a row that is counted already is always allowed. Concurrent upserts take turns on a transaction
 * lock, so two cannot both take the last place.
 */
async function refuseBeyond(
  em: EntityManager,
  table: 'calendar' | 'payout_schedule',
  id: string,
  max: number,
  what: string,
  where: { sql: string; params: unknown[] } = { sql: 'true', params: [] },
): Promise<void> {
  await em.execute(`SELECT pg_advisory_xact_lock(hashtext('${table}: row limits'))`);
  const [row] = await em.execute<{ counted: boolean; total: string }[]>(
    `SELECT EXISTS (SELECT 1 FROM ${table} WHERE id = ? AND ${where.sql}) AS counted, (SELECT count(*) FROM ${table} WHERE ${where.sql}) AS total`,
    [id, ...where.params, ...where.params],
  );
  if (!row!.counted && Number(row!.total) >= max) throw new ConflictError(`There may be at most ${max} ${what}`, { max });
}

/** A schedule's firing rules, from its row and its calendar's. */
export function rulesOf(schedule: { cron: string; delayDays: number }, calendar: CalendarRow): ScheduleRules {
  return {
    cron: schedule.cron,
    delayDays: schedule.delayDays,
    calendar: { timezone: calendar.timezone, holidays: calendar.holidays, weekendDays: calendar.weekend_days },
  };
}

function normalizeCalendar(row: CalendarRow): CalendarRow {
  return withDates({ ...row, holidays: row.holidays.map(String), weekend_days: row.weekend_days.map(Number) }, ['created_at', 'updated_at']);
}

function normalizeSchedule(row: ScheduleRow): ScheduleRow {
  return withDates(row, ['created_at', 'updated_at']);
}
