import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import { PARK_STATUSES, type ParkRow, type ParkStatus } from './park';

export const ParkStatusValue = enumOf(PARK_STATUSES);
registerEnumType(ParkStatusValue, { name: 'ParkStatus', description: 'A DISABLED park is paid nothing, instantly or periodically' });

@ObjectType('Park', { simpleResolvers: true, description: 'A taxi park, from fleet.parks: paid from its payout account' })
export class ParkType {
  @Field()
  id!: string;

  @Field()
  name!: string;

  @Field({ description: 'ISO 4217: the currency the park is paid in' })
  currency!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field({ description: 'IANA time zone of the park' })
  timezone!: string;

  @Field(() => ParkStatusValue)
  status!: ParkStatus;

  @Field({ description: 'When the upsert this shows happened (fleet.parks occurredAt, or an admin’s change)' })
  versionAt!: Date;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  static of(row: ParkRow): ParkType {
    return Object.assign(new ParkType(), {
      id: row.id,
      name: row.name,
      currency: row.currency,
      email: row.email,
      timezone: row.timezone,
      status: row.status,
      versionAt: row.version_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }
}

@InputType({ description: 'Every field narrows the list' })
export class ParkFilter {
  @Field(() => [ParkStatusValue], { nullable: true })
  status?: ParkStatus[] | null;

  @Field(() => String, { nullable: true })
  currency?: string | null;

  @Field(() => String, { nullable: true, description: 'Parks whose name starts with this (case-insensitive)' })
  namePrefix?: string | null;
}

@ObjectType('ParkConnection', { description: 'A page of parks, by id' })
export class ParkConnection extends ConnectionType(ParkType, 'ParkEdge') {}

@InputType({ description: 'An admin’s upsert of a park (fleet.parks is the usual source)' })
export class UpsertParkInput {
  @Field()
  id!: string;

  @Field()
  name!: string;

  @Field()
  currency!: string;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field()
  timezone!: string;

  @Field(() => ParkStatusValue)
  status!: ParkStatus;

  @Field({ description: 'Why: kept in the audit log' })
  reason!: string;
}
