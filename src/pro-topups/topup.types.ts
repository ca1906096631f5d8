import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { enumOf } from '../platform/graphql/enums';
import { TransactionType } from '../topups/transaction.types';
import type { TopUpResult, TopUpSystem } from './pro-topups';

export const TopUpSystemValue = enumOf(['QIWI', 'PAYSTACK'] as const);
registerEnumType(TopUpSystemValue, { name: 'TopUpPaymentSystem', description: 'The payment systems a driver can top up through from the Pro app' });

@InputType({ description: 'A driver’s top-up from the Pro app, through the park’s wallet of that payment system' })
export class TopUpInput {
  @Field(() => TopUpSystemValue)
  paymentSystem!: TopUpSystem;

  @Field({ description: 'Minor units (kopecks, kobo) as a string of digits, in the wallet’s currency' })
  amount!: string;

  @Field({ description: 'The same key returns the same top-up (1–200 characters)' })
  idempotencyKey!: string;
}

@ObjectType('TopUp', { simpleResolvers: true, description: 'A top-up the driver pays at payUrl; credited once the payment system says it was paid' })
export class TopUpType {
  @Field(() => TransactionType, { description: 'ACCEPTED while it awaits payment; PROCESSED once credited; REJECTED (EXPIRED, PAYMENT_REJECTED, PAYMENT_SYSTEM_REFUSED, AMOUNT_MISMATCH, WALLET_DELETED) if not' })
  transaction!: TransactionType;

  @Field(() => String, {
    nullable: true,
    description: 'Where the driver pays. Null when the payment system refused (the transaction is REJECTED) or did not answer (ask again with the same idempotencyKey)',
  })
  payUrl!: string | null;

  static of(result: TopUpResult): TopUpType {
    return Object.assign(new TopUpType(), { transaction: TransactionType.of(result.transaction), payUrl: result.payUrl });
  }
}
