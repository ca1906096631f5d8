import { Field, ID, ObjectType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import type { CashPaymentFactRow } from './cash-payment-facts';

@ObjectType('CashPaymentFact', { simpleResolvers: true, description: 'What moved when the payout was sent to the ERP' })
export class CashPaymentFactType {
  @Field(() => ID, { description: 'Carried as cashPaymentFactId in the erp.payouts message' })
  id!: string;

  @Field({ description: 'The ledger account the money left (the payee’s payout-reserved account)' })
  accountId!: string;

  @Field({ description: 'The ledger transfer that moved it in flight' })
  transferId!: string;

  @Field(() => Money)
  amount!: Money;

  @Field()
  createdAt!: Date;

  static of(row: CashPaymentFactRow): CashPaymentFactType {
    return Object.assign(new CashPaymentFactType(), {
      id: row.id,
      accountId: String(row.account_id),
      transferId: String(row.transfer_id),
      amount: Money.of(row.amount, row.currency),
      createdAt: new Date(row.created_at),
    });
  }
}
