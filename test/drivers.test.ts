import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parksModule } from '../src/parks/module';
import { DriverDocument, DriversDocument, ParkDriversDocument } from './generated/graphql';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { disconnectProducer, produce, waitFor } from './helpers/kafka';

const admin = tokenFor('admin');
const brokers = kafkaBrokers();

const parkEvent = (eventId: string, parkId: string) => ({
  key: parkId,
  value: { eventId, occurredAt: '2026-11-01T10:00:00Z', type: 'ParkUpserted', parkId, name: `Park ${parkId}`, currency: 'RUB', timezone: 'Europe/Moscow', status: 'ACTIVE' },
});
const driverEvent = (eventId: string, parkId: string, driverId: string, occurredAt: string, fields: Record<string, unknown> = {}) => ({
  key: parkId,
  value: { eventId, occurredAt, type: 'DriverUpserted', parkId, driverId, name: 'Ivan P.', phone: '+7 999 000-11-22', status: 'WORKING', ...fields },
});

describe.skipIf(!brokers)('drivers from fleet.drivers', () => {
  let server: TestServer;
  const count = async (sql: string, params: unknown[] = []) => Number((await server.app.orm.em.fork().execute<{ n: string }[]>(sql, params))[0]!.n);

  beforeAll(async () => {
    server = await startTestServer({ consumers: true }, { kafka: true });
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  it('keeps the latest version of each driver, opens its balance account, and dead-letters a driver of an unknown park', async () => {
    const { TOPIC_FLEET_PARKS, TOPIC_FLEET_DRIVERS } = server.app.settingsOf(parksModule);
    await produce(TOPIC_FLEET_PARKS, [parkEvent('dp-1', 'dpark'), parkEvent('dp-2', 'other-park')]);
    await waitFor(() => count(`SELECT count(*) AS n FROM park`), (n) => n === 2);
    await produce(TOPIC_FLEET_DRIVERS, [
      driverEvent('fd-1', 'dpark', 'd1', '2026-11-02T10:00:00Z'),
      driverEvent('fd-2', 'dpark', 'd1', '2026-11-03T10:00:00Z', { status: 'FIRED', name: 'Ivan Petrov' }),
      // Older than what is stored: changes nothing.
      driverEvent('fd-3', 'dpark', 'd1', '2026-11-02T12:00:00Z', { status: 'WORKING', name: 'Old' }),
      driverEvent('fd-4', 'dpark', 'd2', '2026-11-02T10:00:00Z', { phone: null }),
      driverEvent('fd-5', 'nowhere', 'd9', '2026-11-02T10:00:00Z'),
      driverEvent('fd-6', 'other-park', 'x1', '2026-11-02T10:00:00Z'),
    ]);
    await waitFor(() => count(`SELECT count(*) AS n FROM inbox_event WHERE event_id IN ('fd-1','fd-2','fd-3','fd-4','fd-6')`), (n) => n === 5);
    const dead = await waitFor(
      () => server.app.orm.em.fork().execute<{ error_code: string; topic: string }[]>(`SELECT error_code, topic FROM dead_letter`),
      (rows) => rows.length === 1,
    );
    expect(dead[0]).toMatchObject({ error_code: 'NOT_FOUND', topic: TOPIC_FLEET_DRIVERS });

    const list = await graphql(server.url, DriversDocument, { parkId: 'dpark' }, tokenFor('dispatcher', [{ kind: 'PARK', id: 'dpark' }]));
    expect(list.errors).toBeUndefined();
    expect(list.data!.drivers.totalCount).toBe(2);
    expect(list.data!.drivers.nodes).toEqual([
      expect.objectContaining({ id: 'd1', payeeId: 'dpark/d1', name: 'Ivan Petrov', status: 'FIRED', phone: '79990001122', versionAt: '2026-11-03T10:00:00.000Z', balance: { minor: '0', currency: 'RUB' } }),
      expect.objectContaining({ id: 'd2', phone: null, status: 'WORKING' }),
    ]);
    expect(await count(`SELECT count(*) AS n FROM ledger_account WHERE owner_kind = 'DRIVER' AND type = 'balance'`)).toBe(3);

    const working = await graphql(server.url, DriversDocument, { parkId: 'dpark', status: 'WORKING', first: 1 }, admin);
    expect(working.data!.drivers.nodes.map((d) => d.id)).toEqual(['d2']);
    const parkView = await graphql(server.url, ParkDriversDocument, { id: 'dpark' }, admin);
    expect(parkView.data!.park!.drivers.map((d) => d.id)).toEqual(['d1', 'd2']);
  });

  it('shows a park’s drivers to its dispatcher and a driver to itself, and nothing to anyone else', async () => {
    const otherDispatcher = tokenFor('dispatcher', [{ kind: 'PARK', id: 'other-park' }]);
    expect(errorCodes(await graphql(server.url, DriversDocument, { parkId: 'dpark' }, otherDispatcher))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, DriverDocument, { parkId: 'dpark', driverId: 'd2' }, otherDispatcher))).toEqual(['FORBIDDEN']);
    const self = tokenFor('driver', [{ kind: 'DRIVER', id: 'dpark/d2' }]);
    const own = await graphql(server.url, DriverDocument, { parkId: 'dpark', driverId: 'd2' }, self);
    expect(own.data!.driver).toMatchObject({ id: 'd2', status: 'WORKING' });
    expect(errorCodes(await graphql(server.url, DriverDocument, { parkId: 'dpark', driverId: 'd1' }, self))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, DriversDocument, { parkId: 'dpark' }, self))).toEqual(['FORBIDDEN']);
  });
});
