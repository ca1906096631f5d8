import { Field, ObjectType } from 'type-graphql';
import { formatMajor } from '../money';

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
