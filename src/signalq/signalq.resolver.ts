import { Arg, Authorized, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { actorOf } from '../access/principals';
import { Access } from '../access/rules';
import { payoutLoader } from '../payouts/loaders';
import { ParkType } from '../parks/park.types';
import { PayoutType } from '../payouts/payout.types';
import { InvalidInputError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import { Cost } from '../platform/graphql/cost';
import type { GraphQLContext } from '../platform/graphql/context';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { parseCurrency, parseMinor } from '../platform/money';
import { transactionalRetrying } from '../platform/retry';
import { validateTimezone } from '../schedules/schedule-rules';
import type { SignalqBilling } from './billing';
import type { SignalqConfigs } from './config';
import { signalqConfigLoader, signalqPeriodsLoader } from './loaders';
import { SignalqPayments } from './payments';
import { SHOWN_PERIODS } from './periods';
import {
  SignalqConfigInput,
  SignalqConfigType,
  SignalqPaymentConnection,
  SignalqPaymentFilter,
  SignalqPaymentType,
  SignalqPeriodType,
  SignalqRunResultType,
} from './signalq.types';

export interface SignalqResolverServices {
  configs: SignalqConfigs;
  billing: SignalqBilling;
}

const payments = new SignalqPayments();
const parkArg = (args: { parkId: string }) => ({ kind: 'PARK' as const, id: checkReference(args.parkId, 'parkId') });

@Resolver()
export class SignalqResolver {
  constructor(private readonly services: SignalqResolverServices) {}

  @Authorized(Access.seesPayee(parkArg))
  @Query(() => SignalqConfigType, { nullable: true, description: 'A park’s camera billing config (its latest version); null when it has none' })
  async signalqConfig(@Arg('parkId') parkId: string, @Ctx() ctx: GraphQLContext): Promise<SignalqConfigType | null> {
    const row = await this.services.configs.latest(ctx.em, parkArg({ parkId }).id);
    return row ? SignalqConfigType.of(row) : null;
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => SignalqConfigType, {
    description: 'Admin: sets a park’s camera billing config. A change applies from the next period on; `enabled` at once',
  })
  async upsertSignalqConfig(@Arg('input', () => SignalqConfigInput) input: SignalqConfigInput, @Ctx() ctx: GraphQLContext): Promise<SignalqConfigType> {
    const dailyRate = parseMinor(input.dailyRate, 'dailyRate');
    if (dailyRate < 0n) throw new InvalidInputError('dailyRate may not be negative', { field: 'dailyRate' });
    const reason = input.reason?.trim() || null;
    if (reason !== null && reason.length > 1000) throw new InvalidInputError('reason must be at most 1000 characters', { field: 'reason' });
    const change = {
      parkId: checkReference(input.parkId, 'parkId'),
      currency: parseCurrency(input.currency),
      dailyRate,
      minActiveMinutes: intIn(input.minActiveMinutes, 'minActiveMinutes', 1, 1440),
      periodDays: intIn(input.periodDays, 'periodDays', 1, 366),
      periodStart: localDate(input.periodStart, 'periodStart'),
      timezone: validateTimezone(input.timezone),
      enabled: input.enabled,
      reason,
    };
    const row = await transactionalRetrying(ctx.em, (em) => this.services.configs.upsert(em, change, actorOf(ctx.principal)));
    return SignalqConfigType.of(row);
  }

  @Authorized(Access.withinScopes)
  @Query(() => SignalqPaymentConnection, {
    description: 'Camera payment lines the caller may see (a dispatcher: its parks’), latest period first',
  })
  async signalqPayments(
    @Ctx() ctx: GraphQLContext,
    @Arg('filter', () => SignalqPaymentFilter, { nullable: true }) filter?: SignalqPaymentFilter,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<SignalqPaymentConnection> {
    if (filter?.parkId) checkReference(filter.parkId, 'filter.parkId');
    if (filter?.deviceId) checkReference(filter.deviceId, 'filter.deviceId');
    if (filter?.periodStart) localDate(filter.periodStart, 'filter.periodStart');
    const size = pageSize(first);
    const where = payments.where(filter, ctx.principal);
    const key = after ? decodeKeyCursor(after, 2) : null;
    if (key && (!/^\d{4}-\d\d-\d\d$/.test(key[0]!) || !/^\d{1,18}$/.test(key[1]!))) {
      throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
    }
    const page = await payments.page(ctx.em, where, size, key ? { periodStart: key[0]!, id: key[1]! } : null);
    const connection = toConnection(page, {
      cursorOf: (row) => encodeKeyCursor([row.period_start, row.id]),
      nodeOf: SignalqPaymentType.of,
      after,
      countQuery: () => payments.count(ctx.em, where),
    });
    return Object.assign(new SignalqPaymentConnection(), connection);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => SignalqRunResultType, {
    description:
      'Admin: runs camera billing now, as the crontab does (one park, or all); also retries lines failing for a day, which runs ' +
      'of the crontab leave for this. CONFLICT when a run is in progress',
  })
  async runSignalqBilling(@Arg('parkId', () => String, { nullable: true }) parkId?: string | null): Promise<SignalqRunResultType> {
    const park = parkId ? checkReference(parkId, 'parkId') : null;
    const result = (await this.services.billing.run({ parkId: park, manual: true }))!;
    return Object.assign(new SignalqRunResultType(), {
      periodsRecorded: result.periodsRecorded,
      linesRecorded: result.linesRecorded,
      linesPaid: result.linesPaid,
      payoutsCreated: result.payoutsCreated,
      linesFailed: result.linesFailed,
      totals: [...result.totals].map(([currency, minor]) => Money.of(minor, currency)),
      durationMs: Math.round(result.durationMs),
    });
  }
}

@Resolver(() => SignalqPaymentType)
export class SignalqPaymentFieldsResolver {
  @FieldResolver(() => PayoutType, { nullable: true, description: 'The SIGNALQ payout of the line (none for a zero line or before it is paid)' })
  async payout(@Root() line: SignalqPaymentType, @Ctx() ctx: GraphQLContext): Promise<PayoutType | null> {
    const payout = line.payoutId ? await ctx.loaders.get(payoutLoader).load(line.payoutId) : null;
    return payout ? PayoutType.of(payout) : null;
  }
}

function intIn(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidInputError(`${field} must be ${min}–${max}`, { field });
  return value;
}

function localDate(value: string, field: string): string {
  const match = /^(\d{4})-(\d\d)-(\d\d)$/.exec(value ?? '');
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!date || date.toISOString().slice(0, 10) !== value) throw new InvalidInputError(`${field} must be a date, YYYY-MM-DD`, { field });
  return value;
}

/** What a park's page shows of its camera billing: the config and the latest periods. */
@Resolver(() => ParkType)
export class ParkSignalqFieldsResolver {
  @FieldResolver(() => SignalqConfigType, { nullable: true, description: 'The park’s camera billing config (latest version); null when it has none' })
  async signalqConfig(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<SignalqConfigType | null> {
    const row = await ctx.loaders.get(signalqConfigLoader).load(park.id);
    return row ? SignalqConfigType.of(row) : null;
  }

  @Cost({ maxItems: SHOWN_PERIODS })
  @FieldResolver(() => [SignalqPeriodType], { description: `The park’s latest ${SHOWN_PERIODS} billed camera periods, newest first` })
  async signalqPeriods(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<SignalqPeriodType[]> {
    const rows = await ctx.loaders.get(signalqPeriodsLoader).load(park.id);
    return rows.map((row) =>
      Object.assign(new SignalqPeriodType(), {
        periodStart: row.period_start,
        periodEnd: row.period_end,
        lines: row.lines,
        activeDays: row.active_days,
        amount: row.currency ? Money.of(row.amount, row.currency) : null,
        paid: row.currency ? Money.of(row.paid, row.currency) : null,
        openLines: row.open_lines,
        recordedAt: row.recorded_at,
      }),
    );
  }
}
