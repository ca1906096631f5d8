import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** An inbound message that could not be applied, kept with where it came from and why. */
@Entity({ tableName: 'dead_letter' })
export class DeadLetter {
  @PrimaryKey({ type: new BigIntType('string'), autoincrement: true })
  id!: string;

  @Property({ type: 'text' })
  topic!: string;

  @Property({ type: 'integer', nullable: true })
  partition?: number | null;

  @Property({ type: 'text', nullable: true })
  offset?: string | null;

  @Property({ type: 'text', nullable: true })
  key?: string | null;

  @Property({ type: 'text' })
  value!: string;

  @Property({ type: 'text' })
  reason!: string;

  @Property({ type: 'text' })
  errorCode!: string;

  @Property({ type: 'integer' })
  attempts = 1;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', nullable: true })
  retriedAt?: Date | null;

  /** When it was applied again (`payouts dead-letters retry`). */
  @Property({ type: 'timestamptz', nullable: true })
  resolvedAt?: Date | null;

  /** When, by whom and why it was judged never to be applied. */
  @Property({ type: 'timestamptz', nullable: true })
  discardedAt?: Date | null;

  @Property({ type: 'text', nullable: true })
  discardedBy?: string | null;

  @Property({ type: 'text', nullable: true })
  discardReason?: string | null;
}
