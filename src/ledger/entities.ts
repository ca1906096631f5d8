import { BigIntType, Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';

/** A balance of one owner, of one type, in one currency. Balance = credits − debits. */
@Entity({ tableName: 'ledger_account' })
@Unique({ properties: ['ownerKind', 'ownerId', 'type', 'currency'] })
export class LedgerAccount {
  @PrimaryKey({ type: new BigIntType('string'), autoincrement: true })
  id!: string;

  @Property({ type: 'text' })
  ownerKind!: string;

  @Property({ type: 'text' })
  ownerId!: string;

  @Property({ type: 'text' })
  type!: string;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: new BigIntType('bigint') })
  balance: bigint = 0n;

  @Property({ type: 'boolean' })
  allowNegative = false;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz' })
  updatedAt: Date = new Date();
}

/** An immutable movement of money between two accounts of one currency. */
@Entity({ tableName: 'ledger_transfer' })
export class LedgerTransfer {
  @PrimaryKey({ type: new BigIntType('string'), autoincrement: true })
  id!: string;

  @Property({ type: 'text', unique: true })
  idempotencyKey!: string;

  @Property({ type: new BigIntType('string') })
  debitAccountId!: string;

  @Property({ type: new BigIntType('string') })
  creditAccountId!: string;

  @Property({ type: new BigIntType('bigint') })
  amount!: bigint;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: 'text' })
  kind!: string;

  @Property({ type: 'text', nullable: true })
  reference?: string | null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();
}
