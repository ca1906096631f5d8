import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { Cost } from '../platform/graphql/cost';
import { CURRENCY_COUNT } from '../platform/money';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import type { SignalqConfigRow } from './config';
import { PAYMENT_PROGRESS, type PaymentProgress, type SignalqPaymentRow } from './payments';

export const PaymentProgressValue = enumOf(PAYMENT_PROGRESS);
registerEnumType(PaymentProgressValue, {
  name: 'SignalqPaymentProgress',
  description: 'NOT_CREATED (recorded, not paid yet) → IN_PROGRESS (being paid, or failed and waiting for a retry) → CREATED (paid, or nothing to pay)',
});

@ObjectType('SignalqConfig', { simpleResolvers: true, description: 'A park’s camera billing config: the latest version (the next periods use it)' })
export class SignalqConfigType {
  @Field()
  parkId!: string;

  @Field({ description: 'ISO 4217' })
  currency!: string;

  @Field(() => Money, { description: 'Paid per active device-day' })
  dailyRate!: Money;

  @Field(() => Int, { description: 'A device-day counts when the camera was online at least this many minutes that local day' })
  minActiveMinutes!: number;

  @Field(() => Int)
  periodDays!: number;

  @Field({ description: 'The first period’s first local day, YYYY-MM-DD, as the admin gave it' })
  periodStart!: string;

  @Field({ description: 'IANA time zone the days are counted in' })
  timezone!: string;

  @Field({ description: 'Whether lines are paid; a disabled park’s lines are recorded and wait (takes effect at once)' })
  enabled!: boolean;

  @Field({ description: 'The first local day of the first period this version rules (a change applies from the next period on)' })
  effectiveFrom!: string;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => String, { nullable: true })
  updatedBy!: string | null;

  @Field()
  updatedAt!: Date;

  static of(row: SignalqConfigRow): SignalqConfigType {
    return Object.assign(new SignalqConfigType(), {
      parkId: row.park_id,
      currency: row.currency,
      dailyRate: Money.of(row.daily_rate, row.currency),
      minActiveMinutes: row.min_active_minutes,
      periodDays: row.period_days,
      periodStart: row.period_start,
      timezone: row.timezone,
      enabled: row.enabled,
      effectiveFrom: row.effective_from,
      reason: row.reason,
      updatedBy: row.created_by,
      updatedAt: row.created_at,
    });
  }
}

@InputType({ description: 'A park’s camera billing config (admin); a change applies from the next period on' })
export class SignalqConfigInput {
  @Field()
  parkId!: string;

  @Field()
  currency!: string;

  @Field({ description: 'Minor units per active device-day, a string of digits' })
  dailyRate!: string;

  @Field(() => Int)
  minActiveMinutes!: number;

  @Field(() => Int)
  periodDays!: number;

  @Field({ description: 'YYYY-MM-DD: the first period’s first local day (in the past: every period ended since is billed)' })
  periodStart!: string;

  @Field()
  timezone!: string;

  @Field()
  enabled!: boolean;

  @Field(() => String, { nullable: true, description: 'Why: kept with the version and in the audit log' })
  reason?: string | null;
}

@ObjectType('SignalqPayment', { simpleResolvers: true, description: 'One payment line: a camera of a park over one period' })
export class SignalqPaymentType {
  @Field()
  parkId!: string;

  @Field()
  deviceId!: string;

  @Field({ description: 'First local day of the period' })
  periodStart!: string;

  @Field({ description: 'The local day after the period’s last' })
  periodEnd!: string;

  @Field(() => Int)
  activeDays!: number;

  @Field(() => Money)
  amount!: Money;

  @Field(() => PaymentProgressValue)
  paymentProgress!: PaymentProgress;

  @Field(() => String, { nullable: true, description: 'Why the last attempt to pay failed' })
  error!: string | null;

  @Field({ description: 'Failing for a day: only an admin’s runSignalqBilling(parkId) tries it again' })
  needsManualAction!: boolean;

  @Field(() => Int, { description: 'Attempts to pay it' })
  attempts!: number;

  @Field()
  updatedAt!: Date;

  payoutId!: string | null;
  id!: string;

  static of(row: SignalqPaymentRow): SignalqPaymentType {
    return Object.assign(new SignalqPaymentType(), {
      id: row.id,
      parkId: row.park_id,
      deviceId: row.device_id,
      periodStart: row.period_start,
      periodEnd: row.period_end,
      activeDays: row.active_days,
      amount: Money.of(row.amount, row.currency),
      paymentProgress: row.payment_progress,
      error: row.error,
      needsManualAction: row.needs_manual,
      attempts: row.attempts,
      updatedAt: row.updated_at,
      payoutId: row.payout_id,
    });
  }
}

@InputType({ description: 'Every field narrows the list' })
export class SignalqPaymentFilter {
  @Field(() => String, { nullable: true })
  parkId?: string | null;

  @Field(() => String, { nullable: true })
  deviceId?: string | null;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD: lines of the period starting that day' })
  periodStart?: string | null;

  @Field(() => PaymentProgressValue, { nullable: true })
  progress?: PaymentProgress | null;
}

@ObjectType('SignalqPaymentConnection', { description: 'Payment lines, latest period first' })
export class SignalqPaymentConnection extends ConnectionType(SignalqPaymentType, 'SignalqPaymentEdge') {}

@ObjectType('SignalqRunResult', { simpleResolvers: true, description: 'What a camera billing run did' })
export class SignalqRunResultType {
  @Field(() => Int, { description: 'Park periods whose lines were recorded' })
  periodsRecorded!: number;

  @Field(() => Int)
  linesRecorded!: number;

  @Field(() => Int, { description: 'Lines paid (CREATED with a payout) in this run' })
  linesPaid!: number;

  @Field(() => Int)
  payoutsCreated!: number;

  @Field(() => Int, { description: 'Lines whose payment failed in this run (kept with their error, tried again)' })
  linesFailed!: number;

  @Cost({ maxItems: CURRENCY_COUNT })
  @Field(() => [Money], { description: 'Money paid, per currency' })
  totals!: Money[];

  @Field(() => Int)
  durationMs!: number;
}

@ObjectType('SignalqPeriod', { simpleResolvers: true, description: 'A park’s billed period: its lines summed' })
export class SignalqPeriodType {
  @Field({ description: 'First local day of the period' })
  periodStart!: string;

  @Field({ description: 'The local day after its last' })
  periodEnd!: string;

  @Field(() => Int, { description: 'Payment lines (one per camera)' })
  lines!: number;

  @Field(() => Int)
  activeDays!: number;

  @Field(() => Money, { nullable: true, description: 'What the lines are worth (null for a park without cameras)' })
  amount!: Money | null;

  @Field(() => Money, { nullable: true, description: 'Of it, what has been paid' })
  paid!: Money | null;

  @Field(() => Int, { description: 'Lines not CREATED yet (waiting, being paid, or failing)' })
  openLines!: number;

  @Field()
  recordedAt!: Date;
}
