import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfo } from '../platform/graphql/common-types';
import type { PayoutRequestRow, PayoutRequestStatus } from './payout-request.service';

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

@ObjectType({ simpleResolvers: true })
export class PayoutRequestEdge {
  @Field()
  cursor!: string;

  @Field(() => PayoutRequestType)
  node!: PayoutRequestType;
}

@ObjectType({ simpleResolvers: true, description: 'A page of payout requests, newest first' })
export class PayoutRequestConnection {
  @Field(() => [PayoutRequestEdge])
  edges!: PayoutRequestEdge[];

  @Field(() => [PayoutRequestType])
  nodes!: PayoutRequestType[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  /** Filled lazily by a field resolver: counting costs a query, so only when asked. */
  countQuery!: () => Promise<number>;
}
