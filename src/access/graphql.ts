import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { enumOf } from '../platform/graphql/enums';
import { PAYOUT_PAYEE_KINDS, payeeId, type Payee, type PayoutPayeeKind } from './payee';

export const PayeeKindValue = enumOf(PAYOUT_PAYEE_KINDS);
registerEnumType(PayeeKindValue, { name: 'PayeeKind', description: 'Who a payout pays' });

@ObjectType({ simpleResolvers: true, description: 'A payee: a shop (party and shop ids) or a client or park (one id)' })
export class PayeeType {
  @Field(() => PayeeKindValue)
  kind!: PayoutPayeeKind;

  @Field({ description: 'The payee id; for a shop "partyId/shopId"' })
  id!: string;

  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => String, { nullable: true })
  shopId?: string | null;

  static of(payee: Payee): PayeeType {
    const type = new PayeeType();
    type.kind = payee.kind as PayoutPayeeKind;
    type.id = payeeId(payee);
    type.partyId = payee.kind === 'SHOP' ? payee.partyId : null;
    type.shopId = payee.kind === 'SHOP' ? payee.shopId : null;
    return type;
  }
}

@InputType({ description: 'A shop is named by partyId and shopId; a client or park by id' })
export class PayeeInput {
  @Field(() => PayeeKindValue)
  kind!: PayoutPayeeKind;

  @Field(() => String, { nullable: true })
  id?: string | null;

  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => String, { nullable: true })
  shopId?: string | null;
}
