import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { Cost, QUERY_COST } from '../platform/graphql/cost';
import { CURRENCY_COUNT } from '../platform/money';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import { PaymentSystemValue } from '../wallets/wallet.types';
import type { PaymentSystem } from '../wallets/payment-systems';
import { TRANSACTION_STATUSES, type TransactionRow, type TransactionStatus } from './transaction';

export const TransactionStatusValue = enumOf(TRANSACTION_STATUSES);
registerEnumType(TransactionStatusValue, {
  name: 'TransactionStatus',
  description: 'ACCEPTED: recorded, the credit pending; PROCESSED: credited to the driver; REJECTED: refused, with a reason',
});

@ObjectType('Transaction', { simpleResolvers: true, description: 'A driver’s top-up through a park’s wallet' })
export class TransactionType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  walletId!: string;

  @Field()
  parkId!: string;

  @Field()
  driverId!: string;

  @Field(() => PaymentSystemValue)
  paymentSystem!: PaymentSystem;

  @Field({ description: 'The payment system’s id of the payment' })
  externalId!: string;

  @Field(() => Money)
  amount!: Money;

  @Field(() => TransactionStatusValue)
  status!: TransactionStatus;

  @Field(() => String, {
    nullable: true,
    description:
      'Why it was rejected: DRIVER_FIRED, PARK_DISABLED, WALLET_DISABLED, AMOUNT_TOO_SMALL, AMOUNT_TOO_LARGE; ' +
      'for a top-up from the Pro app also EXPIRED, PAYMENT_REJECTED, PAYMENT_SYSTEM_REFUSED, AMOUNT_MISMATCH, WALLET_DELETED',
  })
  reason!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  processedAt!: Date | null;

  static of(row: TransactionRow): TransactionType {
    return Object.assign(new TransactionType(), {
      id: row.id,
      walletId: row.wallet_id,
      parkId: row.park_id,
      driverId: row.driver_id,
      paymentSystem: row.payment_system,
      externalId: row.external_id,
      amount: Money.of(row.amount, row.currency),
      status: row.status,
      reason: row.reason,
      createdAt: row.created_at,
      processedAt: row.processed_at,
    });
  }
}

@InputType({ description: 'Every field narrows the list' })
export class TransactionFilter {
  @Field(() => String, { nullable: true })
  parkId?: string | null;

  @Field(() => String, { nullable: true, description: 'With parkId: one driver' })
  driverId?: string | null;

  @Field(() => [PaymentSystemValue], { nullable: true })
  paymentSystem?: PaymentSystem[] | null;

  @Field(() => ID, { nullable: true })
  walletId?: string | null;

  @Field(() => [TransactionStatusValue], { nullable: true })
  status?: TransactionStatus[] | null;

  @Field(() => Date, { nullable: true, description: 'Created at or after' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Created before' })
  to?: Date | null;

  @Field(() => String, { nullable: true, description: 'Minor units, at least' })
  minAmount?: string | null;

  @Field(() => String, { nullable: true, description: 'Minor units, at most' })
  maxAmount?: string | null;
}

@ObjectType('TransactionConnection', { description: 'A page of transactions, newest first, with the count and the sums of all that match' })
export class TransactionConnection extends ConnectionType(TransactionType, 'TransactionEdge') {
  /** Set by the resolver: the sums run only when asked. */
  sumsQuery!: () => Promise<Money[]>;

  /** One query over everything matching; one sum per currency. */
  @Cost({ cost: QUERY_COST, maxItems: CURRENCY_COUNT })
  @Field(() => [Money], { description: 'The total of everything matching, per currency' })
  sums(): Promise<Money[]> {
    return this.sumsQuery();
  }
}
