import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';
import type { PayoutSource, PayoutStatus } from './lifecycle';

/** One payout of any source; its status follows the lifecycle in `lifecycle.ts`. */
@Entity({ tableName: 'payout' })
export class Payout {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'text' })
  payeeKind!: string;

  @Property({ type: 'text' })
  payeeId!: string;

  @Property({ type: 'text', nullable: true })
  partyId?: string | null;

  @Property({ type: 'text', nullable: true })
  shopId?: string | null;

  @Property({ type: new BigIntType('string') })
  accountId!: string;

  @Property({ type: new BigIntType('bigint') })
  amount!: bigint;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: 'text' })
  status!: PayoutStatus;

  @Property({ type: 'text' })
  source!: PayoutSource;

  @Property({ type: 'text', nullable: true })
  sourceRef?: string | null;

  @Property({ type: 'text', unique: true })
  idempotencyKey!: string;

  @Property({ type: 'timestamptz', nullable: true })
  cutoff?: Date | null;

  @Property({ type: 'text', nullable: true })
  payoutToolId?: string | null;

  @Property({ type: 'integer' })
  sequence = 1;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz' })
  updatedAt: Date = new Date();
}

/** One entry of a payout's status history; `sequence` matches the `payouts.events` message. */
@Entity({ tableName: 'payout_status_change' })
export class PayoutStatusChange {
  @PrimaryKey({ type: 'uuid' })
  payoutId!: string;

  @PrimaryKey({ type: 'integer' })
  sequence!: number;

  @Property({ type: 'text' })
  status!: PayoutStatus;

  @Property({ type: 'text', nullable: true })
  reason?: string | null;

  @Property({ type: 'text', nullable: true })
  actor?: string | null;

  @Property({ type: 'timestamptz' })
  occurredAt: Date = new Date();
}
