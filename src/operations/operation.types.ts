import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { enumOf } from '../platform/graphql/enums';
import { OPERATION_KINDS, type OperationKind } from './operation';
import type { OperationRow } from './operation.queries';
import { ConnectionType } from '../platform/graphql/connection-type';

export const OperationKindValue = enumOf(OPERATION_KINDS);
registerEnumType(OperationKindValue, { name: 'ShopOperationKind', description: 'What happened to the shop’s money' });

@ObjectType('ShopOperation', { simpleResolvers: true, description: 'A payment, refund, adjustment or chargeback of a shop' })
export class ShopOperationType {
  @Field(() => ID)
  id!: string;

  @Field(() => OperationKindValue)
  kind!: OperationKind;

  @Field()
  partyId!: string;

  @Field()
  shopId!: string;

  @Field()
  invoiceId!: string;

  @Field()
  paymentId!: string;

  @Field(() => String, { nullable: true, description: 'The refund, adjustment or chargeback id' })
  subId!: string | null;

  @Field(() => Money, { description: 'As reported; an adjustment’s is signed' })
  amount!: Money;

  @Field(() => Money)
  fee!: Money;

  @Field(() => Money, { description: 'What it adds to the shop’s payout: payment amount − fee, adjustment amount, refund and chargeback −(amount + fee)' })
  payable!: Money;

  @Field()
  occurredAt!: Date;

  @Field(() => String, { nullable: true, description: 'The payout that paid it; null while unpaid' })
  payoutId!: string | null;

  @Field(() => [String], { description: 'Payouts that held it but gave the money back (cancelled, rejected, returned)' })
  releasedFrom!: string[];

  static of(row: OperationRow): ShopOperationType {
    const subId = row.business_id.split('/').at(-1) || null;
    return Object.assign(new ShopOperationType(), {
      id: String(row.id),
      kind: row.kind,
      partyId: row.party_id,
      shopId: row.shop_id,
      invoiceId: row.invoice_id,
      paymentId: row.payment_id,
      subId,
      amount: Money.of(row.amount, row.currency),
      fee: Money.of(row.fee, row.currency),
      payable: Money.of(row.payable, row.currency),
      occurredAt: row.occurred_at,
      payoutId: row.payout_id,
      releasedFrom: row.released_from ?? [],
    });
  }
}

@ObjectType('ShopOperationConnection', { description: 'A page of operations, newest recorded first' })
export class ShopOperationConnection extends ConnectionType(ShopOperationType, 'ShopOperationEdge') {}
