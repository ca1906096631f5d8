import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import type { PayoutRequestRow, PayoutRequestStatus } from './payout-request.service';
import { ConnectionType } from '../platform/graphql/connection-type';

export const PayoutRequestStatusValue = { NEW: 'NEW', DONE: 'DONE', ERROR: 'ERROR' } as const;
registerEnumType(PayoutRequestStatusValue, {
  name: 'PayoutRequestStatus',
  description: 'NEW until the req-gate takes it; DONE with its payouts, or ERROR with the reason',
});

@InputType()
export class RequestPayoutInput {
  @Field({ description: 'The client whose payout balances are paid in full' })
  clientId!: string;

  @Field({ description: 'The same key for the same client returns the same request' })
  idempotencyKey!: string;
}

@ObjectType('PayoutRequest', { simpleResolvers: true, description: 'A client’s request to be paid what it is owed' })
export class PayoutRequestType {
  @Field(() => ID)
  id!: string;

  @Field()
  clientId!: string;

  @Field()
  idempotencyKey!: string;

  @Field(() => PayoutRequestStatusValue)
  status!: PayoutRequestStatus;

  @Field(() => String, { nullable: true, description: 'Why the request failed (status ERROR)' })
  error!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  processedAt!: Date | null;

  static of(row: PayoutRequestRow): PayoutRequestType {
    return Object.assign(new PayoutRequestType(), {
      id: row.id,
      clientId: row.client_id,
      idempotencyKey: row.idempotency_key,
      status: row.status,
      error: row.error,
      createdAt: new Date(row.created_at),
      processedAt: row.processed_at ? new Date(row.processed_at) : null,
    });
  }
}

@InputType()
export class PayoutRequestFilter {
  @Field(() => String, { nullable: true })
  clientId?: string | null;

  @Field(() => [PayoutRequestStatusValue], { nullable: true })
  status?: PayoutRequestStatus[] | null;
}

@ObjectType('PayoutRequestConnection', { description: 'A page of payout requests, newest first' })
export class PayoutRequestConnection extends ConnectionType(PayoutRequestType, 'PayoutRequestEdge') {}
