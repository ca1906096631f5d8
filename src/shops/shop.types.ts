import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { enumOf } from '../platform/graphql/enums';
import { RUN_RESULTS, type RunResult, type RunRow } from './shop-payout-run';
import { SHOP_STATUSES, type ShopRow, type ShopStatus } from './shop';
import { ConnectionType } from '../platform/graphql/connection-type';

export const ShopStatusValue = enumOf(SHOP_STATUSES);
export const RunResultValue = enumOf(RUN_RESULTS);
registerEnumType(ShopStatusValue, { name: 'ShopStatus', description: 'Whether a shop is paid: only ACTIVE shops are' });
registerEnumType(RunResultValue, {
  name: 'ShopPayoutRunResult',
  description: 'PAID: a payout was made; SKIPPED: the shop was blocked or suspended; NOTHING_TO_PAY: the sum was not positive',
});

@ObjectType('Shop', { simpleResolvers: true, description: 'A shop from party-management, paid on its payout schedule' })
export class ShopType {
  @Field()
  partyId!: string;

  @Field()
  shopId!: string;

  @Field(() => ShopStatusValue)
  status!: ShopStatus;

  @Field(() => String, { nullable: true, description: 'Why the shop was blocked, when it is' })
  blockedReason!: string | null;

  @Field({ description: 'ISO 4217: operations in another currency are refused' })
  currency!: string;

  @Field(() => String, { nullable: true })
  payoutToolId!: string | null;

  @Field(() => String, { nullable: true, description: 'The schedule party-management assigned, defined or not' })
  payoutScheduleId!: string | null;

  @Field(() => Date, { nullable: true, description: 'The cut-off of the next run: operations before it are in it' })
  nextCutoff!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the next run fires (cut-off plus the business-day delay)' })
  nextFireAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'The cut-off of the latest run' })
  lastCutoff!: Date | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  static of(row: ShopRow): ShopType {
    return Object.assign(new ShopType(), {
      partyId: row.party_id,
      shopId: row.shop_id,
      status: row.status,
      blockedReason: row.blocked_reason,
      currency: row.currency.trim(),
      payoutToolId: row.payout_tool_id,
      payoutScheduleId: row.payout_schedule_id,
      nextCutoff: row.next_cutoff,
      nextFireAt: row.next_fire_at,
      lastCutoff: row.last_cutoff,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }
}

@InputType({ description: 'Every field narrows the list' })
export class ShopFilter {
  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => [ShopStatusValue], { nullable: true })
  status?: ShopStatus[] | null;

  @Field(() => String, { nullable: true })
  payoutScheduleId?: string | null;
}

@ObjectType('ShopConnection', { description: 'A page of shops, by party and shop id' })
export class ShopConnection extends ConnectionType(ShopType, 'ShopEdge') {}

@ObjectType('ShopPayoutRun', { simpleResolvers: true, description: 'What one scheduled run of a shop did' })
export class ShopPayoutRunType {
  @Field({ description: 'Operations that happened before this time were considered' })
  cutoff!: Date;

  @Field({ description: 'When the run was due: the cut-off plus the business-day delay' })
  fireAt!: Date;

  @Field({ description: 'When it actually ran' })
  ranAt!: Date;

  @Field(() => RunResultValue)
  result!: RunResult;

  @Field(() => String, { nullable: true, description: 'Why the run was skipped' })
  reason!: string | null;

  @Field(() => String, { nullable: true })
  payoutId!: string | null;

  @Field(() => Money, { description: 'The sum of the operations considered (not positive when NOTHING_TO_PAY)' })
  amount!: Money;

  @Field(() => Int)
  operationCount!: number;

  /** Used to page; not in the schema. */
  id!: string;

  static of(row: RunRow): ShopPayoutRunType {
    return Object.assign(new ShopPayoutRunType(), {
      id: String(row.id),
      cutoff: row.cutoff,
      fireAt: row.fire_at,
      ranAt: row.ran_at,
      result: row.result,
      reason: row.reason,
      payoutId: row.payout_id,
      amount: Money.of(row.amount, row.currency),
      operationCount: row.operation_count,
    });
  }
}

@ObjectType('ShopPayoutRunConnection', { description: 'A page of a shop’s runs, latest cut-off first' })
export class ShopPayoutRunConnection extends ConnectionType(ShopPayoutRunType, 'ShopPayoutRunEdge') {}
