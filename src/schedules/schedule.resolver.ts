import { Arg, Authorized, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { Access } from '../access/rules';
import { InvalidInputError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { transactionalRetrying } from '../platform/retry';
import { nextPending, parseCalendarRules, validateCron, validateDelayDays, type ScheduleRules } from './schedule-rules';
import { calendarLoader, schedulesOfCalendarLoader } from './loaders';
import { MAX_CALENDARS, MAX_PAYOUT_SCHEDULES, MAX_SCHEDULES_PER_CALENDAR, rulesOf, type ScheduleService } from './schedule.service';
import { CalendarInput, CalendarType, PayoutScheduleInput, PayoutScheduleType, ScheduledFire } from './schedule.types';

type ScheduleServices = { schedules: ScheduleService };

const MAX_UPCOMING = 50;

/** `upcoming(count)`: validated before the operation runs, as its cost is worked out. */
function upcomingCount(count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_UPCOMING) {
    throw new InvalidInputError(`count must be between 1 and ${MAX_UPCOMING}`, { field: 'count' });
  }
  return count;
}

@Resolver(() => CalendarType)
export class CalendarResolver {
  constructor(private readonly services: ScheduleServices) {}

  @Authorized(Access.anyRole)
  @Query(() => CalendarType, { nullable: true })
  async calendar(@Arg('id') id: string, @Ctx() ctx: GraphQLContext): Promise<CalendarType | null> {
    const row = await this.services.schedules.calendar(ctx.em, id);
    return row ? CalendarType.of(row) : null;
  }

  @Authorized(Access.anyRole)
  @Cost({ maxItems: MAX_CALENDARS })
  @Query(() => [CalendarType])
  async calendars(@Ctx() ctx: GraphQLContext): Promise<CalendarType[]> {
    return (await this.services.schedules.calendars(ctx.em)).map(CalendarType.of);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => CalendarType, { description: 'Admin: create or replace a calendar; shops on its schedules are re-booked' })
  async upsertCalendar(@Arg('input', () => CalendarInput) input: CalendarInput, @Ctx() ctx: GraphQLContext): Promise<CalendarType> {
    const rules = parseCalendarRules(input);
    const calendar = { id: checkReference(input.id, 'id'), ...rules, description: input.description ?? null };
    // Re-booking locks every shop on the calendar's schedules; a Kafka chunk touching two of them in
    // another order can deadlock with it, and the chunk is retried: so is this.
    const row = await transactionalRetrying(ctx.em, (em) => this.services.schedules.upsertCalendar(em, calendar));
    return CalendarType.of(row);
  }

  @Cost({ maxItems: MAX_SCHEDULES_PER_CALENDAR })
  @FieldResolver(() => [PayoutScheduleType], { description: 'The schedules that use this calendar' })
  async schedules(@Root() calendar: CalendarType, @Ctx() ctx: GraphQLContext): Promise<PayoutScheduleType[]> {
    return (await ctx.loaders.get(schedulesOfCalendarLoader).load(calendar.id)).map(PayoutScheduleType.of);
  }
}

@Resolver(() => PayoutScheduleType)
export class PayoutScheduleResolver {
  constructor(private readonly services: ScheduleServices) {}

  @Authorized(Access.anyRole)
  @Query(() => PayoutScheduleType, { nullable: true })
  async payoutSchedule(@Arg('id') id: string, @Ctx() ctx: GraphQLContext): Promise<PayoutScheduleType | null> {
    const row = await this.services.schedules.schedule(ctx.em, id);
    return row ? PayoutScheduleType.of(row) : null;
  }

  @Authorized(Access.anyRole)
  @Cost({ maxItems: MAX_PAYOUT_SCHEDULES })
  @Query(() => [PayoutScheduleType])
  async payoutSchedules(
    @Ctx() ctx: GraphQLContext,
    @Arg('calendarId', () => String, { nullable: true }) calendarId?: string | null,
  ): Promise<PayoutScheduleType[]> {
    return (await this.services.schedules.schedules(ctx.em, calendarId)).map(PayoutScheduleType.of);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => PayoutScheduleType, { description: 'Admin: create or replace a payout schedule; its shops are re-booked' })
  async upsertPayoutSchedule(
    @Arg('input', () => PayoutScheduleInput) input: PayoutScheduleInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PayoutScheduleType> {
    const schedule = {
      id: checkReference(input.id, 'id'),
      cron: validateCron(input.cron),
      calendarId: checkReference(input.calendarId, 'calendarId'),
      delayDays: validateDelayDays(input.delayDays ?? 0),
      description: input.description ?? null,
    };
    const row = await transactionalRetrying(ctx.em, (em) => this.services.schedules.upsertSchedule(em, schedule));
    return PayoutScheduleType.of(row);
  }

  @FieldResolver(() => CalendarType)
  async calendar(@Root() schedule: PayoutScheduleType, @Ctx() ctx: GraphQLContext): Promise<CalendarType> {
    return CalendarType.of((await ctx.loaders.get(calendarLoader).load(schedule.calendarId))!);
  }

  @Cost({ items: (args) => upcomingCount(args.count) })
  @FieldResolver(() => [ScheduledFire], { description: 'The next cut-offs after now and when each fires: the runs of a shop that joins the schedule now. A shop on it already may also have a run due for an earlier cut-off whose delay has not passed (see Shop.nextFireAt)' })
  async upcoming(
    @Root() schedule: PayoutScheduleType,
    @Ctx() ctx: GraphQLContext,
    @Arg('count', () => Int, { defaultValue: 3 }) count: number,
  ): Promise<ScheduledFire[]> {
    const calendar = (await ctx.loaders.get(calendarLoader).load(schedule.calendarId))!;
    const rules = rulesOf(schedule, calendar);
    return upcomingFires(rules, new Date(), upcomingCount(count)).map((fire) => Object.assign(new ScheduledFire(), fire));
  }
}

/** The next `count` cut-offs after `now` and their fire times, in order: a shop joining now is booked for the first. */
function upcomingFires(rules: ScheduleRules, now: Date, count: number): { cutoff: Date; fireAt: Date }[] {
  const fires = [nextPending(rules, now, now)];
  while (fires.length < count) fires.push(nextPending(rules, fires[fires.length - 1]!.cutoff, now));
  return fires;
}
