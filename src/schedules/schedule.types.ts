import { GraphQLScalarType, Kind } from 'graphql';
import { Field, InputType, Int, ObjectType } from 'type-graphql';
import type { CalendarRow, ScheduleRow } from './schedule.service';

const LOCAL_DATE = /^\d{4}-\d\d-\d\d$/;

/** A calendar date with no time or zone, `YYYY-MM-DD`: a holiday is a local date in the calendar’s zone. */
export const LocalDateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'A calendar date without a time zone, YYYY-MM-DD',
  serialize: (value) => String(value),
  parseValue: (value) => localDate(value),
  parseLiteral: (ast) => (ast.kind === Kind.STRING ? localDate(ast.value) : localDate(null)),
});

function localDate(value: unknown): string {
  // Whether the date is real (no 2026-02-30) is checked with the rest of the calendar.
  if (typeof value !== 'string' || !LOCAL_DATE.test(value)) throw new TypeError('Date must be a string YYYY-MM-DD');
  return value;
}

@ObjectType('Calendar', { simpleResolvers: true, description: 'Business days: a time zone, weekend days and holidays' })
export class CalendarType {
  @Field()
  id!: string;

  @Field({ description: 'IANA time zone the schedules on this calendar are evaluated in' })
  timezone!: string;

  @Field(() => [LocalDateScalar])
  holidays!: string[];

  @Field(() => [Int], { description: 'ISO weekdays: 1 = Monday … 7 = Sunday' })
  weekendDays!: number[];

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field()
  updatedAt!: Date;

  static of(row: CalendarRow): CalendarType {
    return Object.assign(new CalendarType(), {
      id: row.id,
      timezone: row.timezone,
      holidays: row.holidays,
      weekendDays: row.weekend_days,
      description: row.description,
      updatedAt: row.updated_at,
    });
  }
}

@ObjectType({ simpleResolvers: true, description: 'One future run of a schedule' })
export class ScheduledFire {
  @Field({ description: 'Operations before this time are paid by the run' })
  cutoff!: Date;

  @Field({ description: 'When the run fires: the cut-off plus the delay in business days' })
  fireAt!: Date;
}

@ObjectType('PayoutSchedule', { simpleResolvers: true, description: 'When shops on this schedule are paid' })
export class PayoutScheduleType {
  @Field()
  id!: string;

  @Field({ description: '5 fields (minute hour day-of-month month day-of-week) in the calendar’s time zone; each time is a cut-off' })
  cron!: string;

  @Field()
  calendarId!: string;

  @Field(() => Int, { description: 'Business days between a cut-off and its payout' })
  delayDays!: number;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field()
  updatedAt!: Date;

  static of(row: ScheduleRow): PayoutScheduleType {
    return Object.assign(new PayoutScheduleType(), {
      id: row.id,
      cron: row.cron,
      calendarId: row.calendar_id,
      delayDays: row.delay_days,
      description: row.description,
      updatedAt: row.updated_at,
    });
  }
}

@InputType({ description: 'Creates the calendar or replaces it; its schedules’ shops are re-booked' })
export class CalendarInput {
  @Field()
  id!: string;

  @Field()
  timezone!: string;

  @Field(() => [LocalDateScalar])
  holidays!: string[];

  @Field(() => [Int], { nullable: true, description: 'Default Saturday and Sunday: [6, 7]' })
  weekendDays?: number[] | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@InputType({ description: 'Creates the schedule or replaces it; its shops are re-booked' })
export class PayoutScheduleInput {
  @Field()
  id!: string;

  @Field()
  cron!: string;

  @Field()
  calendarId!: string;

  @Field(() => Int, { nullable: true, description: 'Default 0: pay at the cut-off' })
  delayDays?: number | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}
