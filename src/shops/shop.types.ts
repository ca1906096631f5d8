import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import { SHOP_STATUSES, type ShopRow, type ShopStatus } from './shop';

export const ShopStatusValue = enumOf(SHOP_STATUSES);
registerEnumType(ShopStatusValue, { name: 'ShopStatus', description: 'Whether a shop is paid: only ACTIVE shops are' });

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
