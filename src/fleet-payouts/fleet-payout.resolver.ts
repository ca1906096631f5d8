import { Arg, Authorized, Ctx, Extensions, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { actorOf } from '../access/principals';
import { Access } from '../access/rules';
import { accountBalanceLoader } from '../ledger/loaders';
import { parkPayoutAccount } from '../parks/park';
import type { ParkService } from '../parks/park.service';
import { ParkType } from '../parks/park.types';
import { PayoutType } from '../payouts/payout.types';
import { InvalidInputError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { RECORDED_IN_STATEMENT } from '../platform/graphql/recorded-mutations';
import { parseCurrency, parseMinor, parsePositiveMinor } from '../platform/money';
import { transactionalRetrying } from '../platform/retry';
import {
  FleetPayoutSettingsInput,
  FleetPayoutSettingsType,
  FleetRunResult,
  InstantPayoutInput,
  InstantPayoutQuote,
  ParkInstantPayoutsInput,
} from './fleet-payout.types';
import { instantQuote } from './instant-decision';
import type { InstantPayouts } from './instant-payouts';
import { lastParkPayoutLoader, parkPayoutStateLoader, payoutRulesLoader } from './loaders';
import type { ParkPayoutStates } from './park-payout-states';
import type { PayoutRules, PayoutRulesStore } from './payout-rules';
import type { PeriodicPayouts } from './periodic-payouts';

export interface FleetPayoutResolverServices {
  instant: InstantPayouts;
  periodic: PeriodicPayouts;
  rules: PayoutRulesStore;
  states: ParkPayoutStates;
  parks: ParkService;
}

const DAY = 86_400_000;
const parkOf = (args: { input: { parkId: string } }) => ({ kind: 'PARK' as const, id: checkReference(args.input.parkId, 'parkId') });

@Resolver()
export class FleetPayoutResolver {
  constructor(private readonly services: FleetPayoutResolverServices) {}

  @Authorized(Access.all(Access.roles('admin', 'dispatcher'), Access.seesPayee(parkOf)))
  @Extensions(RECORDED_IN_STATEMENT)
  @Mutation(() => PayoutType, {
    description:
      'Pays a park at once (the dispatcher’s button). Refusals, first match wins: FORBIDDEN (not your park, park disabled, ' +
      'instant payouts off for it), COOLDOWN (extensions.retryAt), LIMIT_EXCEEDED, INSUFFICIENT_FUNDS',
  })
  async requestInstantPayout(@Arg('input', () => InstantPayoutInput) input: InstantPayoutInput, @Ctx() ctx: GraphQLContext): Promise<PayoutType> {
    const key = input.idempotencyKey;
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
      throw new InvalidInputError('idempotencyKey must be 1–200 characters', { field: 'idempotencyKey' });
    }
    const amount = input.amount === undefined || input.amount === null ? null : parsePositiveMinor(input.amount);
    const payout = await this.services.instant.request(
      ctx.em,
      { parkId: parkOf({ input }).id, amount, idempotencyKey: key, actor: actorOf(ctx.principal) },
      ctx.statementRecord(),
    );
    return PayoutType.ofRow(payout);
  }

  @Authorized(Access.roles('admin', 'service', 'dispatcher'))
  @Query(() => FleetPayoutSettingsType, { description: 'The rules of instant and periodic payouts in force' })
  async fleetPayoutSettings(@Ctx() ctx: GraphQLContext): Promise<FleetPayoutSettingsType> {
    return settingsType(await ctx.loaders.get(payoutRulesLoader).load('current'));
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => FleetPayoutSettingsType, { description: 'Admin: changes the rules; the next press or run obeys them' })
  async updateFleetPayoutSettings(
    @Arg('input', () => FleetPayoutSettingsInput) input: FleetPayoutSettingsInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<FleetPayoutSettingsType> {
    const change = {
      instantLimits: input.instantLimits?.map((limit, i) => {
        const minor = parseMinor(limit.minor, `instantLimits[${i}].minor`);
        if (minor < 0n) throw new InvalidInputError('a limit may not be negative', { field: `instantLimits[${i}].minor` });
        return { currency: parseCurrency(limit.currency, `instantLimits[${i}].currency`), minor };
      }),
      instantCooldownHours: optionalInt(input.instantCooldownHours, 'instantCooldownHours', 0, 8784),
      periodicDays: optionalInt(input.periodicDays, 'periodicDays', 1, 366),
    };
    const rules = await transactionalRetrying(ctx.em, (em) => this.services.rules.update(em, change, actorOf(ctx.principal)));
    return settingsType(rules);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => ParkType, { description: 'Admin: switches instant payouts off (or on) for one park, with a reason' })
  async setParkInstantPayouts(
    @Arg('input', () => ParkInstantPayoutsInput) input: ParkInstantPayoutsInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ParkType> {
    const reason = input.reason.trim();
    if (reason.length < 3 || reason.length > 1000) throw new InvalidInputError('reason must be 3–1000 characters', { field: 'reason' });
    const parkId = parkOf({ input }).id;
    const park = await transactionalRetrying(ctx.em, async (em) => {
      await this.services.states.setInstantEnabled(em, { parkId, enabled: input.enabled, reason, actor: actorOf(ctx.principal) });
      return this.services.parks.find(em, parkId);
    });
    return ParkType.of(park!);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => FleetRunResult, { description: 'Admin: runs the periodic payouts now (as the crontab does) and says what it did' })
  async runFleetPeriodicPayouts(): Promise<FleetRunResult> {
    const result = await this.services.periodic.run();
    return Object.assign(new FleetRunResult(), {
      parksChecked: result.parksChecked,
      payoutsCreated: result.payoutsCreated,
      totals: [...result.totals].map(([currency, minor]) => Money.of(minor, currency)),
      durationMs: Math.round(result.durationMs),
    });
  }
}

/** What the park page shows of its payouts: the instant button, the last and next payouts. */
@Resolver(() => ParkType)
export class ParkPayoutFieldsResolver {
  @FieldResolver(() => InstantPayoutQuote, { description: 'What the instant-payout button would do now' })
  async instantPayout(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<InstantPayoutQuote> {
    const [state, rules, account] = await Promise.all([
      ctx.loaders.get(parkPayoutStateLoader).load(park.id),
      ctx.loaders.get(payoutRulesLoader).load('current'),
      ctx.loaders.get(accountBalanceLoader).load(parkPayoutAccount(park.id, park.currency)),
    ]);
    const limit = rules.instantLimits.get(park.currency) ?? 0n;
    const quote = instantQuote({
      parkStatus: park.status,
      instantEnabled: state.instantEnabled,
      lastInstantAt: state.lastInstantAt,
      cooldownHours: rules.instantCooldownHours,
      limit,
      balance: account?.balance ?? 0n,
      now: new Date(),
    });
    return Object.assign(new InstantPayoutQuote(), {
      enabled: park.status === 'ACTIVE' && state.instantEnabled,
      limit: Money.of(limit, park.currency),
      available: Money.of(quote.available, park.currency),
      nextAvailableAt: quote.nextAvailableAt,
    });
  }

  @FieldResolver(() => Date, { nullable: true, description: 'When the park’s latest payout (not cancelled or rejected) was made' })
  async lastPayoutAt(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<Date | null> {
    return ctx.loaders.get(lastParkPayoutLoader).load(park.id);
  }

  @FieldResolver(() => Date, {
    nullable: true,
    description: 'From when the park is due for a periodic payout (paid by the first run from then on, if it has money); null when disabled',
  })
  async nextPeriodicPayoutAt(@Root() park: ParkType, @Ctx() ctx: GraphQLContext): Promise<Date | null> {
    if (park.status !== 'ACTIVE') return null;
    const [last, rules] = await Promise.all([
      ctx.loaders.get(lastParkPayoutLoader).load(park.id),
      ctx.loaders.get(payoutRulesLoader).load('current'),
    ]);
    const now = Date.now();
    return new Date(last ? Math.max(last.getTime() + rules.periodicDays * DAY, now) : now);
  }
}

function settingsType(rules: PayoutRules): FleetPayoutSettingsType {
  const limits = [...rules.instantLimits].sort(([a], [b]) => a.localeCompare(b)).map(([currency, minor]) => Money.of(minor, currency));
  return Object.assign(new FleetPayoutSettingsType(), {
    instantLimit: limits,
    instantCooldownHours: rules.instantCooldownHours,
    periodicDays: rules.periodicDays,
    updatedAt: rules.updatedAt,
    updatedBy: rules.updatedBy,
  });
}

function optionalInt(value: number | null | undefined, field: string, min: number, max: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidInputError(`${field} must be ${min}–${max}`, { field });
  return value;
}
