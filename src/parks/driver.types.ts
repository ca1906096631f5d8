import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../platform/graphql/connection-type';
import { enumOf } from '../platform/graphql/enums';
import { DRIVER_STATUSES, type DriverRow, type DriverStatus } from './driver';

export const DriverStatusValue = enumOf(DRIVER_STATUSES);
registerEnumType(DriverStatusValue, { name: 'DriverStatus', description: 'A FIRED driver cannot be topped up' });

@ObjectType('Driver', { simpleResolvers: true, description: 'A park’s driver, from fleet.drivers: the payee DRIVER parkId/driverId' })
export class DriverType {
  @Field({ description: 'The driver’s id within its park' })
  id!: string;

  @Field()
  parkId!: string;

  @Field({ description: 'The payee id: parkId/driverId' })
  payeeId!: string;

  @Field()
  name!: string;

  @Field(() => String, { nullable: true, description: 'Digits with the country code; payers may name the driver by it' })
  phone!: string | null;

  @Field(() => DriverStatusValue)
  status!: DriverStatus;

  @Field({ description: 'The occurredAt of the upsert this shows' })
  versionAt!: Date;

  /** The park's currency: the balance shown is in it. */
  currency!: string;

  static of(row: DriverRow, currency: string): DriverType {
    return Object.assign(new DriverType(), {
      id: row.id,
      parkId: row.park_id,
      payeeId: `${row.park_id}/${row.id}`,
      name: row.name,
      phone: row.phone,
      status: row.status,
      versionAt: row.version_at,
      currency,
    });
  }
}

@ObjectType('DriverConnection', { description: 'A page of a park’s drivers, by id' })
export class DriverConnection extends ConnectionType(DriverType, 'DriverEdge') {}
