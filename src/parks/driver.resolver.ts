import { Arg, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { Access } from '../access/rules';
import { accountBalanceLoader } from '../ledger/loaders';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { decodeKeyCursor, encodeKeyCursor, pageSize, toConnection } from '../platform/graphql/pagination';
import { driverBalanceAccount, type DriverStatus } from './driver';
import type { DriverService } from './driver.service';
import { DriverConnection, DriverStatusValue, DriverType } from './driver.types';
import type { ParkService } from './park.service';
import { ParkType } from './park.types';

const parkOf = (args: { parkId: string }) => ({ kind: 'PARK' as const, id: checkReference(args.parkId, 'parkId') });
const driverOf = (args: { parkId: string; driverId: string }) => ({
  kind: 'DRIVER' as const,
  id: `${checkReference(args.parkId, 'parkId')}/${checkReference(args.driverId, 'driverId')}`,
});

/** The most drivers `Park.drivers` lists; the `drivers` query pages through all of them. */
const PARK_DRIVERS_CAP = 100;

@Resolver(() => DriverType)
export class DriverResolver {
  constructor(private readonly services: { parks: ParkService; drivers: DriverService }) {}

  @Authorized(Access.seesPayee(parkOf))
  @Query(() => DriverConnection, { description: 'A park’s drivers, by id (a dispatcher: of its parks)' })
  async drivers(
    @Arg('parkId') parkId: string,
    @Ctx() ctx: GraphQLContext,
    @Arg('status', () => DriverStatusValue, { nullable: true }) status?: DriverStatus,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<DriverConnection> {
    const size = pageSize(first);
    const park = await this.services.parks.find(ctx.em, parkId);
    const afterId = after ? decodeKeyCursor(after, 1)[0]! : null;
    const rows = park ? await this.services.drivers.page(ctx.em, parkId, { status, afterId, limit: size + 1 }) : [];
    const connection = toConnection(
      { rows: rows.slice(0, size), hasNextPage: rows.length > size },
      {
        cursorOf: (row) => encodeKeyCursor([row.id]),
        nodeOf: (row) => DriverType.of(row, park!.currency),
        after,
        countQuery: () => (park ? this.services.drivers.count(ctx.em, parkId, status) : Promise.resolve(0)),
      },
    );
    return Object.assign(new DriverConnection(), connection);
  }

  @Authorized(Access.seesPayee(driverOf))
  @Query(() => DriverType, { nullable: true, description: 'One driver (a driver token: itself)' })
  async driver(@Arg('parkId') parkId: string, @Arg('driverId') driverId: string, @Ctx() ctx: GraphQLContext): Promise<DriverType | null> {
    const [park, row] = await Promise.all([this.services.parks.find(ctx.em, parkId), this.services.drivers.find(ctx.em, parkId, driverId)]);
    return park && row ? DriverType.of(row, park.currency) : null;
  }

  @FieldResolver(() => Money, { description: 'What the driver’s balance account holds, in the park’s currency' })
  async balance(@Root() driver: DriverType, @Ctx() ctx: GraphQLContext): Promise<Money> {
    const account = await ctx.loaders.get(accountBalanceLoader).load(driverBalanceAccount(driver.parkId, driver.id, driver.currency));
    return Money.of(account?.balance ?? 0n, driver.currency);
  }
}

@Resolver(() => ParkType)
export class ParkDriversResolver {
  constructor(private readonly services: { drivers: DriverService }) {}

  @Cost({ items: (args) => Math.max(0, Math.min(typeof args.first === 'number' ? args.first : 20, PARK_DRIVERS_CAP)) })
  @FieldResolver(() => [DriverType], { description: `The park’s drivers by id, at most ${PARK_DRIVERS_CAP} (the drivers query pages through all)` })
  async drivers(
    @Root() park: ParkType,
    @Ctx() ctx: GraphQLContext,
    @Arg('status', () => DriverStatusValue, { nullable: true }) status?: DriverStatus,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first?: number,
  ): Promise<DriverType[]> {
    const limit = Math.max(0, Math.min(first ?? 20, PARK_DRIVERS_CAP));
    const rows = await this.services.drivers.page(ctx.em, park.id, { status, limit });
    return rows.map((row) => DriverType.of(row, park.currency));
  }
}
