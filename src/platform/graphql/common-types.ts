import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { formatMajor } from '../money';
import { payeeId, type Payee, type PayeeKind } from '../payee';

export enum PayeeKindValue {
  SHOP = 'SHOP',
  CLIENT = 'CLIENT',
  PARK = 'PARK',
}
registerEnumType(PayeeKindValue, { name: 'PayeeKind', description: 'Who a payout pays' });

@ObjectType({ simpleResolvers: true, description: 'An amount of money: minor units, the same in major units, and the currency' })
export class Money {
  @Field({ description: 'Integer minor units (kopecks, cents) as a string of digits' })
  minor!: string;

  @Field({ description: 'The decimal amount in major units, e.g. "670.00"' })
  amount!: string;

  @Field({ description: 'ISO 4217 currency code' })
  currency!: string;

  static of(minor: bigint | string, currency: string): Money {
    const money = new Money();
    const value = BigInt(minor);
    money.minor = value.toString();
    money.currency = currency.trim();
    money.amount = formatMajor(value, money.currency);
    return money;
  }
}

@ObjectType({ simpleResolvers: true, description: 'A payee: a shop (party and shop ids) or a client or park (one id)' })
export class PayeeType {
  @Field(() => PayeeKindValue)
  kind!: PayeeKind;

  @Field({ description: 'The payee id; for a shop "partyId/shopId"' })
  id!: string;

  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => String, { nullable: true })
  shopId?: string | null;

  static of(payee: Payee): PayeeType {
    const type = new PayeeType();
    type.kind = payee.kind;
    type.id = payeeId(payee);
    type.partyId = payee.kind === 'SHOP' ? payee.partyId : null;
    type.shopId = payee.kind === 'SHOP' ? payee.shopId : null;
    return type;
  }
}

@InputType({ description: 'A shop is named by partyId and shopId; a client or park by id' })
export class PayeeInput {
  @Field(() => PayeeKindValue)
  kind!: PayeeKind;

  @Field(() => String, { nullable: true })
  id?: string | null;

  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => String, { nullable: true })
  shopId?: string | null;
}

@ObjectType({ simpleResolvers: true })
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field()
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}
