import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import { RUN_RESULTS, type RunResult, type RunRow } from './shop-payout-run';

export const RunResultValue = enumOf(RUN_RESULTS);
registerEnumType(RunResultValue, {
  name: 'ShopPayoutRunResult',
  description: 'PAID: a payout was made; SKIPPED: the shop was blocked or suspended; NOTHING_TO_PAY: the sum was not positive',
});

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
