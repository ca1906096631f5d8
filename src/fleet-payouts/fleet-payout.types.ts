import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { Cost } from '../platform/graphql/cost';
import { CURRENCY_COUNT } from '../platform/money';

@InputType({ description: 'An amount in minor units and its currency' })
export class MoneyInput {
  @Field({ description: 'Integer minor units as a string of digits' })
  minor!: string;

  @Field({ description: 'ISO 4217' })
  currency!: string;
}

@InputType({ description: 'The dispatcher’s “pay now” button' })
export class InstantPayoutInput {
  @Field()
  parkId!: string;

  @Field(() => String, { nullable: true, description: 'Minor units; left out: everything available, up to the limit' })
  amount?: string | null;

  @Field({ description: 'The same key returns the same payout, whatever happened since' })
  idempotencyKey!: string;
}

@ObjectType({ description: 'What the instant-payout button would do now' })
export class InstantPayoutQuote {
  @Field({ description: 'False when instant payouts are switched off for the park (or the park is disabled)' })
  enabled!: boolean;

  @Field(() => Money, { description: 'The most one instant payout may pay' })
  limit!: Money;

  @Field(() => Money, { description: 'What a press would pay now: zero during a cooldown' })
  available!: Money;

  @Field(() => Date, { nullable: true, description: 'During a cooldown, when the next instant payout may be made' })
  nextAvailableAt!: Date | null;
}

@ObjectType('FleetPayoutSettings', { description: 'The rules of instant and periodic payouts to parks' })
export class FleetPayoutSettingsType {
  @Cost({ maxItems: CURRENCY_COUNT })
  @Field(() => [Money], { description: 'Per currency; a currency not listed cannot be paid instantly' })
  instantLimit!: Money[];

  @Cost({ maxItems: CURRENCY_COUNT })
  @Field(() => Int, { description: 'At most one instant payout per park in this many hours' })
  instantCooldownHours!: number;

  @Field(() => Int, { description: 'A park with money and no payout for this many days is paid' })
  periodicDays!: number;

  @Field(() => Date, { nullable: true, description: 'When an admin last changed them (null: the environment’s defaults)' })
  updatedAt!: Date | null;

  @Field(() => String, { nullable: true })
  updatedBy!: string | null;
}

@InputType({ description: 'Fields left out keep their value' })
export class FleetPayoutSettingsInput {
  @Field(() => [MoneyInput], { nullable: true, description: 'Sets the limit of each currency given (0: no instant payouts in it)' })
  instantLimits?: MoneyInput[] | null;

  @Field(() => Int, { nullable: true })
  instantCooldownHours?: number | null;

  @Field(() => Int, { nullable: true })
  periodicDays?: number | null;
}

@InputType({ description: 'Switches instant payouts off (or on again) for one park, e.g. when it has not bought the service' })
export class ParkInstantPayoutsInput {
  @Field()
  parkId!: string;

  @Field()
  enabled!: boolean;

  @Field({ description: 'Why: kept with the park and in the audit log' })
  reason!: string;
}

@ObjectType({ description: 'What a periodic payout run did' })
export class FleetRunResult {
  @Field(() => Int, { description: 'Active parks looked at' })
  parksChecked!: number;

  @Field(() => Int)
  payoutsCreated!: number;

  @Cost({ maxItems: CURRENCY_COUNT })
  @Field(() => [Money], { description: 'What the payouts pay, per currency' })
  totals!: Money[];

  @Field(() => Int)
  durationMs!: number;
}
