import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PayeeKindValue, PayeeType } from '../access/graphql';
import { Money } from '../platform/graphql/common-types';
import { enumOf } from '../platform/graphql/enums';
import { payeeFromStored, type PayoutPayeeKind } from '../access/payee';
import type { Payout as PayoutEntity, PayoutStatusChange } from './entities';
import type { PayoutRow } from './payout-messages';
import { PAYOUT_SOURCES, PAYOUT_STATUSES, type PayoutSource, type PayoutStatus } from './lifecycle';
import { ConnectionType } from '../platform/graphql/connection-type';

export const PayoutStatusValue = enumOf(PAYOUT_STATUSES);
export const PayoutSourceValue = enumOf(PAYOUT_SOURCES);
registerEnumType(PayoutStatusValue, { name: 'PayoutStatus', description: 'Where a payout is in its lifecycle' });
registerEnumType(PayoutSourceValue, { name: 'PayoutSource', description: 'What created a payout' });

@ObjectType({ simpleResolvers: true, description: 'One step of a payout’s lifecycle' })
export class PayoutStatusChangeType {
  @Field(() => Int)
  sequence!: number;

  @Field(() => PayoutStatusValue)
  status!: PayoutStatus;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => String, { nullable: true })
  actor!: string | null;

  @Field()
  occurredAt!: Date;

  static of(change: PayoutStatusChange): PayoutStatusChangeType {
    return Object.assign(new PayoutStatusChangeType(), {
      sequence: change.sequence,
      status: change.status,
      reason: change.reason ?? null,
      actor: change.actor ?? null,
      occurredAt: change.occurredAt,
    });
  }
}

@ObjectType('Payout', { simpleResolvers: true, description: 'A payout of any source, with the same lifecycle for all' })
export class PayoutType {
  @Field(() => ID)
  id!: string;

  @Field(() => PayoutStatusValue)
  status!: PayoutStatus;

  @Field(() => Money)
  amount!: Money;

  @Field(() => PayeeType)
  payee!: PayeeType;

  @Field(() => PayoutSourceValue)
  source!: PayoutSource;

  @Field(() => String, { nullable: true, description: 'What the source calls it: a request id, a schedule run…' })
  sourceRef!: string | null;

  @Field(() => Date, { nullable: true, description: 'For scheduled payouts: operations before this time are paid' })
  cutoff!: Date | null;

  @Field(() => String, { nullable: true })
  payoutToolId!: string | null;

  @Field(() => String, { description: 'The ledger account the payout is paid from' })
  accountId!: string;

  @Field(() => Int, { description: 'Grows by one with each status change; matches payouts.events' })
  sequence!: number;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  static of(p: PayoutEntity): PayoutType {
    return Object.assign(new PayoutType(), {
      id: p.id,
      status: p.status,
      amount: Money.of(p.amount, p.currency),
      payee: PayeeType.of(payeeFromStored(p.payeeKind, p.payeeId)),
      source: p.source,
      sourceRef: p.sourceRef ?? null,
      cutoff: p.cutoff ?? null,
      payoutToolId: p.payoutToolId ?? null,
      accountId: p.accountId,
      sequence: p.sequence,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
    });
  }

  /** From a raw row (what the lifecycle returns), without reading the payout again. */
  static ofRow(row: PayoutRow): PayoutType {
    return Object.assign(new PayoutType(), {
      id: row.id,
      status: row.status as PayoutStatus,
      amount: Money.of(row.amount, row.currency),
      payee: PayeeType.of(payeeFromStored(row.payee_kind, row.payee_id)),
      source: row.source as PayoutSource,
      sourceRef: row.source_ref,
      cutoff: row.cutoff === null ? null : new Date(row.cutoff),
      payoutToolId: row.payout_tool_id,
      accountId: String(row.account_id),
      sequence: row.sequence,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    });
  }
}

@InputType({ description: 'Every field narrows the list; lists match any of their values' })
export class PayoutFilter {
  @Field(() => String, { nullable: true })
  partyId?: string | null;

  @Field(() => String, { nullable: true })
  shopId?: string | null;

  @Field(() => PayeeKindValue, { nullable: true })
  payeeKind?: PayoutPayeeKind | null;

  @Field(() => String, { nullable: true, description: 'With payeeKind; for a shop "partyId/shopId"' })
  payeeId?: string | null;

  @Field(() => [PayoutStatusValue], { nullable: true })
  status?: PayoutStatus[] | null;

  @Field(() => [PayoutSourceValue], { nullable: true })
  source?: PayoutSource[] | null;

  @Field(() => Date, { nullable: true })
  createdFrom?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Exclusive' })
  createdTo?: Date | null;
}

@ObjectType('PayoutConnection', { description: 'A page of payouts, newest first' })
export class PayoutConnection extends ConnectionType(PayoutType, 'PayoutEdge') {}
