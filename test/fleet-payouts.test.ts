import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Payee } from '../src/access/payee';
import { accrualsModule } from '../src/accruals/module';
import { auditModule } from '../src/audit/module';
import { startProcess, type RunningProcess } from '../src/app/processes';
import { erpModule } from '../src/erp/module';
import { fleetPayoutsModule } from '../src/fleet-payouts/module';
import { parksModule } from '../src/parks/module';
import {
  FleetPayoutSettingsDocument,
  ParkDocument,
  ParksDocument,
  RequestInstantPayoutDocument,
  SetParkInstantPayoutsDocument,
  UpdateFleetPayoutSettingsDocument,
  UpsertParkDocument,
  type RequestInstantPayoutMutationVariables,
} from './generated/graphql';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { collect, disconnectProducer, produce, waitFor } from './helpers/kafka';
import { statementsDuring } from './helpers/statements';

const admin = tokenFor('admin');
const park = (id: string): Payee => ({ kind: 'PARK', id });
const dispatcherOf = (...parkIds: string[]) => tokenFor('dispatcher', parkIds.map(park));

let accruals = 0;
/** Credits a park's payout account as the `accruals` topic would. */
async function accrue(server: TestServer, parkId: string, amount: bigint, currency = 'RUB'): Promise<void> {
  const { app } = server;
  await app.orm.em.fork().transactional((em) =>
    app.use(accrualsModule).accruals.apply(
      em,
      { payee: park(parkId), account: 'payout', amount, currency, reference: `fleet-accrual-${++accruals}`, occurredAt: new Date() },
      'MANUAL',
    ),
  );
}

async function upsertPark(server: TestServer, id: string, fields: { status?: 'ACTIVE' | 'DISABLED'; currency?: string } = {}) {
  const response = await graphql(
    server.url,
    UpsertParkDocument,
    {
      input: {
        id,
        name: `Park ${id}`,
        currency: fields.currency ?? 'RUB',
        email: `${id}@park.example`,
        timezone: 'Europe/Moscow',
        status: fields.status ?? 'ACTIVE',
        reason: 'test set-up',
      },
    },
    admin,
  );
  expect(response.errors).toBeUndefined();
  return response.data!.upsertPark;
}

function press(server: TestServer, input: RequestInstantPayoutMutationVariables['input'], token: string | null = dispatcherOf(input.parkId)) {
  return graphql(server.url, RequestInstantPayoutDocument, { input }, token);
}

async function parkView(server: TestServer, id: string, token = admin) {
  const response = await graphql(server.url, ParkDocument, { id }, token);
  expect(response.errors).toBeUndefined();
  return response.data!.park!;
}

async function count(server: TestServer, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await server.app.orm.em.fork().execute<{ n: string }[]>(sql, params);
  return Number(row!.n);
}

describe('instant payouts to parks, over GraphQL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { env: { FLEET_INSTANT_LIMIT: 'RUB:500000,KZT:900000', FLEET_INSTANT_COOLDOWN: '24h', FLEET_PERIODIC_DAYS: '7' } });
  });
  afterAll(async () => server?.close());

  it('shows a park with its balance and what the button would pay', async () => {
    const created = await upsertPark(server, 'show-1');
    expect(created).toMatchObject({ id: 'show-1', name: 'Park show-1', currency: 'RUB', status: 'ACTIVE', timezone: 'Europe/Moscow' });
    await accrue(server, 'show-1', 700_000n);
    const view = await parkView(server, 'show-1', dispatcherOf('show-1'));
    expect(view.balance).toEqual({ minor: '700000', currency: 'RUB' });
    expect(view.instantPayout).toEqual({
      enabled: true,
      limit: { minor: '500000', currency: 'RUB' },
      available: { minor: '500000', currency: 'RUB' },
      nextAvailableAt: null,
    });
    expect(view.lastPayoutAt).toBeNull();
    expect(view.balances).toEqual([{ accountType: 'payout', currency: 'RUB', balance: { minor: '700000' } }]);
  });

  it('pays "all, up to the limit" once, then refuses with COOLDOWN and retryAt until the cooldown ends', async () => {
    await upsertPark(server, 'cool-1');
    await accrue(server, 'cool-1', 700_000n);
    const first = await press(server, { parkId: 'cool-1', idempotencyKey: 'press-1' });
    expect(first.errors).toBeUndefined();
    const payout = first.data!.requestInstantPayout;
    expect(payout).toMatchObject({ status: 'CREATED', source: 'INSTANT', amount: { minor: '500000', currency: 'RUB' }, payee: { kind: 'PARK', id: 'cool-1' } });

    const second = await press(server, { parkId: 'cool-1', idempotencyKey: 'press-2', amount: '1000' });
    expect(errorCodes(second)).toEqual(['COOLDOWN']);
    const retryAt = new Date(second.errors![0]!.extensions!.retryAt as string);
    expect(retryAt.getTime()).toBe(new Date(payout.createdAt).getTime() + 24 * 3_600_000);

    const view = await parkView(server, 'cool-1');
    expect(view.balance.minor).toBe('200000');
    expect(view.instantPayout.available.minor).toBe('0');
    expect(new Date(view.instantPayout.nextAvailableAt!).getTime()).toBe(retryAt.getTime());
    expect(new Date(view.lastPayoutAt!).getTime()).toBe(new Date(payout.createdAt).getTime());
    expect(new Date(view.nextPeriodicPayoutAt!).getTime()).toBe(new Date(payout.createdAt).getTime() + 7 * 86_400_000);
  });

  it('returns the same payout for the same idempotency key, whatever happened since', async () => {
    await upsertPark(server, 'idem-1');
    await accrue(server, 'idem-1', 300_000n);
    const first = await press(server, { parkId: 'idem-1', idempotencyKey: 'same', amount: '100000' });
    expect(first.errors).toBeUndefined();
    // Cooldown now, and then the park disabled: the key still answers with its payout.
    const again = await press(server, { parkId: 'idem-1', idempotencyKey: 'same', amount: '100000' });
    expect(again.data?.requestInstantPayout.id).toBe(first.data!.requestInstantPayout.id);
    await upsertPark(server, 'idem-1', { status: 'DISABLED' });
    const afterDisable = await press(server, { parkId: 'idem-1', idempotencyKey: 'same' });
    expect(afterDisable.data?.requestInstantPayout.id).toBe(first.data!.requestInstantPayout.id);
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id = 'idem-1'`)).toBe(1);
    // Another key is refused: the park is disabled now.
    expect(errorCodes(await press(server, { parkId: 'idem-1', idempotencyKey: 'other' }))).toEqual(['FORBIDDEN']);
  });

  it('refuses in the contract’s order: FORBIDDEN, then COOLDOWN, then LIMIT_EXCEEDED, then INSUFFICIENT_FUNDS', async () => {
    await upsertPark(server, 'rule-1');
    await upsertPark(server, 'rule-2');
    await accrue(server, 'rule-1', 100_000n);
    // Not the caller's park, a driver, a service: FORBIDDEN before anything else.
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k' }, dispatcherOf('rule-2')))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k' }, tokenFor('driver', [{ kind: 'DRIVER', id: 'rule-1/d1' }])))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k' }, tokenFor('service')))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k' }, null))).toEqual(['UNAUTHENTICATED']);
    // More than the limit, and more than the balance: the limit is named first.
    const overLimit = await press(server, { parkId: 'rule-1', idempotencyKey: 'k', amount: '600000' });
    expect(errorCodes(overLimit)).toEqual(['LIMIT_EXCEEDED']);
    expect(overLimit.errors![0]!.extensions!.limit).toBe('500000');
    const overBalance = await press(server, { parkId: 'rule-1', idempotencyKey: 'k', amount: '100001' });
    expect(errorCodes(overBalance)).toEqual(['INSUFFICIENT_FUNDS']);
    expect(errorCodes(await press(server, { parkId: 'rule-2', idempotencyKey: 'k' }))).toEqual(['INSUFFICIENT_FUNDS']);
    // Bad input is BAD_USER_INPUT; an unknown park is NOT_FOUND for an admin.
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k', amount: '-5' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k', amount: '1.5' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: '' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await press(server, { parkId: 'nowhere', idempotencyKey: 'k' }, admin))).toEqual(['NOT_FOUND']);
    // Refusals moved no money and made no payout.
    expect((await parkView(server, 'rule-1')).balance.minor).toBe('100000');
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id IN ('rule-1', 'rule-2')`)).toBe(0);

    // During a cooldown, a press over the limit is COOLDOWN: the cooldown comes first.
    expect((await press(server, { parkId: 'rule-1', idempotencyKey: 'pay', amount: '40000' })).errors).toBeUndefined();
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k2', amount: '600000' }))).toEqual(['COOLDOWN']);
    // A disabled park is FORBIDDEN even during its cooldown.
    await upsertPark(server, 'rule-1', { status: 'DISABLED' });
    expect(errorCodes(await press(server, { parkId: 'rule-1', idempotencyKey: 'k3' }))).toEqual(['FORBIDDEN']);
  });

  it('obeys an admin’s new limit and cooldown at once, and a park’s override', async () => {
    await upsertPark(server, 'set-1');
    await accrue(server, 'set-1', 2_000_000n);
    expect(errorCodes(await press(server, { parkId: 'set-1', idempotencyKey: 'a', amount: '800000' }))).toEqual(['LIMIT_EXCEEDED']);
    const rules = await graphql(
      server.url,
      UpdateFleetPayoutSettingsDocument,
      { input: { instantLimits: [{ minor: '1000000', currency: 'RUB' }], instantCooldownHours: 0 } },
      admin,
    );
    expect(rules.errors).toBeUndefined();
    expect(rules.data!.updateFleetPayoutSettings).toMatchObject({
      instantLimit: [
        { minor: '900000', currency: 'KZT' },
        { minor: '1000000', currency: 'RUB' },
      ],
      instantCooldownHours: 0,
      periodicDays: 7,
      updatedBy: 'admin:test-admin',
    });
    expect((await press(server, { parkId: 'set-1', idempotencyKey: 'b', amount: '800000' })).errors).toBeUndefined();
    // No cooldown now: a second press right away is paid too.
    expect((await press(server, { parkId: 'set-1', idempotencyKey: 'c', amount: '800000' })).errors).toBeUndefined();
    const read = await graphql(server.url, FleetPayoutSettingsDocument, {}, dispatcherOf('set-1'));
    expect(read.data?.fleetPayoutSettings.instantCooldownHours).toBe(0);

    // Switched off for the park: FORBIDDEN, and the page says so; on again: paid.
    const off = await graphql(server.url, SetParkInstantPayoutsDocument, { input: { parkId: 'set-1', enabled: false, reason: 'has not bought it' } }, admin);
    expect(off.data?.setParkInstantPayouts.instantPayout.enabled).toBe(false);
    expect(errorCodes(await press(server, { parkId: 'set-1', idempotencyKey: 'd', amount: '1000' }))).toEqual(['FORBIDDEN']);
    await graphql(server.url, SetParkInstantPayoutsDocument, { input: { parkId: 'set-1', enabled: true, reason: 'bought it' } }, admin);
    expect((await press(server, { parkId: 'set-1', idempotencyKey: 'e', amount: '1000' })).errors).toBeUndefined();
    // Only admins change the rules.
    const refused = await graphql(server.url, UpdateFleetPayoutSettingsDocument, { input: { instantCooldownHours: 1 } }, dispatcherOf('set-1'));
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    const bad = await graphql(server.url, UpdateFleetPayoutSettingsDocument, { input: { periodicDays: 0 } }, admin);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    // Back to a day's cooldown for the tests after this one.
    await graphql(server.url, UpdateFleetPayoutSettingsDocument, { input: { instantCooldownHours: 24 } }, admin);
  });

  it('counts instant payouts and the parks using them in /metrics', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const made = Number(/^payouts_fleet_payouts_created_total\{source="INSTANT"\} (\d+)$/m.exec(metrics)?.[1]);
    const paidParks = await count(server, `SELECT count(DISTINCT payee_id) AS n FROM payout WHERE source = 'INSTANT'`);
    expect(made).toBe(await count(server, `SELECT count(*) AS n FROM payout WHERE source = 'INSTANT'`));
    expect(metrics).toMatch(new RegExp(`^payouts_fleet_instant_parks ${paidParks}$`, 'm'));
    expect(paidParks).toBeGreaterThan(0);
  });

  it('lists only a dispatcher’s own parks, paged by id', async () => {
    for (const id of ['list-a', 'list-b', 'list-c']) await upsertPark(server, id);
    const own = await graphql(server.url, ParksDocument, { first: 1 }, dispatcherOf('list-a', 'list-c'));
    expect(own.data?.parks.totalCount).toBe(2);
    expect(own.data?.parks.nodes.map((p) => p.id)).toEqual(['list-a']);
    const next = await graphql(server.url, ParksDocument, { first: 5, after: own.data!.parks.pageInfo.endCursor }, dispatcherOf('list-a', 'list-c'));
    expect(next.data?.parks.nodes.map((p) => p.id)).toEqual(['list-c']);
    expect(errorCodes(await graphql(server.url, ParkDocument, { id: 'list-b' }, dispatcherOf('list-a')))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, ParksDocument, {}, tokenFor('driver', [{ kind: 'DRIVER', id: 'list-a/d1' }])))).toEqual(['FORBIDDEN']);
    const disabled = await graphql(server.url, ParksDocument, { filter: { status: ['DISABLED'] }, first: 100 }, admin);
    expect(disabled.data?.parks.nodes.every((p) => p.status === 'DISABLED')).toBe(true);
  });
});

describe('20 presses of the button at once on two API processes', () => {
  let server: TestServer;
  let second: RunningProcess;
  beforeAll(async () => {
    server = await startTestServer();
    second = await startProcess({ api: true, worker: false, consumers: false, migrate: false }, server.env);
  });
  afterAll(async () => {
    await second?.stop();
    await server?.close();
  });

  it('makes exactly one payout, whatever the keys', async () => {
    await upsertPark(server, 'race-1');
    await accrue(server, 'race-1', 10_000_000n);
    const urls = [server.url, second.url!];
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(urls[i % 2]!, RequestInstantPayoutDocument, { input: { parkId: 'race-1', idempotencyKey: `race-${i}`, amount: '1000' } }, dispatcherOf('race-1')),
      ),
    );
    const paid = responses.filter((r) => r.data?.requestInstantPayout);
    expect(paid).toHaveLength(1);
    expect(responses.flatMap(errorCodes).sort()).toEqual(Array(19).fill('COOLDOWN'));
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id = 'race-1'`)).toBe(1);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('makes exactly one payout when all 20 carry the same key, and all get it', async () => {
    await upsertPark(server, 'race-2');
    await accrue(server, 'race-2', 10_000_000n);
    const urls = [server.url, second.url!];
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(urls[i % 2]!, RequestInstantPayoutDocument, { input: { parkId: 'race-2', idempotencyKey: 'one-key' } }, dispatcherOf('race-2')),
      ),
    );
    const ids = new Set(responses.map((r) => r.data?.requestInstantPayout.id));
    expect(responses.flatMap(errorCodes)).toEqual([]);
    expect(ids.size).toBe(1);
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id = 'race-2'`)).toBe(1);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});

describe('presses that arrive together, in one statement', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { env: { FLEET_INSTANT_LIMIT: 'RUB:500000', FLEET_INSTANT_COOLDOWN: '24h' } });
  });
  afterAll(async () => server?.close());

  /** Presses made in one tick (so they share a statement), each with its own audit entry, as the API makes them. */
  function pressTogether(inputs: { parkId: string; idempotencyKey: string; amount?: bigint }[]) {
    const { app } = server;
    const outcomes: string[] = [];
    const presses = inputs.map((input, i) => {
      const entry = app.use(auditModule).audit.inStatement({
        subject: 'dispatcher-1',
        role: 'dispatcher',
        operation: 'requestInstantPayout',
        arguments: { input: { ...input, amount: input.amount?.toString() } },
        requestId: `together-${input.idempotencyKey}-${i}`,
      });
      const record = { key: '_recorded', ...entry, written: (outcome: string) => void (outcomes[i] = outcome) };
      return app
        .use(fleetPayoutsModule)
        .instant.request(app.orm.em.fork(), { ...input, amount: input.amount ?? null, actor: 'dispatcher-1' }, record)
        .then(
          (payout) => ({ payout, code: null as string | null, message: null as string | null }),
          (error: Error & { code?: string }) => ({ payout: null, code: error.code ?? null, message: error.message }),
        );
    });
    return { answers: Promise.all(presses), outcomes };
  }

  it('answers each press on its own: paid, refused by its rule, the same payout for a repeated key, each with its audit entry', async () => {
    for (const id of ['tog-a', 'tog-b', 'tog-poor']) await upsertPark(server, id);
    await upsertPark(server, 'tog-off', { status: 'DISABLED' });
    await accrue(server, 'tog-a', 300_000n);
    await accrue(server, 'tog-b', 300_000n);
    const { result, statements } = await statementsDuring(server.app.orm, async () => {
      const { answers, outcomes } = pressTogether([
        { parkId: 'tog-b', idempotencyKey: 'k-b', amount: 100_000n },
        { parkId: 'tog-a', idempotencyKey: 'k-a1', amount: 50_000n },
        { parkId: 'tog-off', idempotencyKey: 'k-off' },
        { parkId: 'tog-a', idempotencyKey: 'k-a2', amount: 50_000n },
        { parkId: 'tog-poor', idempotencyKey: 'k-poor' },
        { parkId: 'tog-b', idempotencyKey: 'k-b', amount: 100_000n },
        { parkId: 'tog-nowhere', idempotencyKey: 'k-nowhere' },
        { parkId: 'tog-a', idempotencyKey: 'k-a3', amount: 900_000n },
      ]);
      return { answers: await answers, outcomes };
    });
    // One statement for the eight presses.
    expect(statements.filter((sql) => sql.includes('fleet_instant_press'))).toHaveLength(1);
    const [b, a1, off, a2, poor, bAgain, nowhere, a3] = result.answers;
    expect(b!.payout).toMatchObject({ payee_id: 'tog-b', amount: '100000', source: 'INSTANT' });
    expect(bAgain!.payout!.id).toBe(b!.payout!.id);
    // tog-a's presses go in the order they came: the first pays, the next meet its cooldown.
    expect(a1!.payout).toMatchObject({ payee_id: 'tog-a', amount: '50000' });
    expect([off, a2, poor, nowhere, a3].map((answer) => answer!.code)).toEqual(['FORBIDDEN', 'COOLDOWN', 'INSUFFICIENT_FUNDS', 'NOT_FOUND', 'COOLDOWN']);
    expect(result.outcomes).toEqual(['OK', 'OK', 'FORBIDDEN', 'COOLDOWN', 'INSUFFICIENT_FUNDS', 'OK', 'NOT_FOUND', 'COOLDOWN']);
    const entries = await server.app.orm.em.fork().execute<{ request_id: string; outcome: string }[]>(
      `SELECT request_id, outcome FROM audit_entry WHERE request_id LIKE 'together-k-%' ORDER BY request_id`,
    );
    expect(entries.map((e) => `${e.request_id}:${e.outcome}`)).toEqual([
      'together-k-a1-1:OK',
      'together-k-a2-3:COOLDOWN',
      'together-k-a3-7:COOLDOWN',
      'together-k-b-0:OK',
      'together-k-b-5:OK',
      'together-k-nowhere-6:NOT_FOUND',
      'together-k-off-2:FORBIDDEN',
      'together-k-poor-4:INSUFFICIENT_FUNDS',
    ]);
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id IN ('tog-a', 'tog-b')`)).toBe(2);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('runs each press alone when their statement fails, so one failing press takes none of the others with it', async () => {
    for (const id of ['alone-a', 'alone-b', 'alone-boom']) {
      await upsertPark(server, id);
      await accrue(server, id, 300_000n);
    }
    const em = server.app.orm.em.fork();
    // A fault only this park's payouts meet, in the database: the shared statement fails whole.
    await em.execute(`CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.payee_id = 'alone-boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`);
    await em.execute(`CREATE TRIGGER test_boom BEFORE INSERT ON payout FOR EACH ROW EXECUTE FUNCTION test_boom()`);
    try {
      const { result, statements } = await statementsDuring(server.app.orm, async () => {
        const { answers, outcomes } = pressTogether([
          { parkId: 'alone-a', idempotencyKey: 'alone-a', amount: 10_000n },
          { parkId: 'alone-boom', idempotencyKey: 'alone-boom', amount: 10_000n },
          { parkId: 'alone-b', idempotencyKey: 'alone-b', amount: 10_000n },
        ]);
        return { answers: await answers, outcomes };
      });
      // The shared statement, then one per press.
      expect(statements.filter((sql) => sql.includes('fleet_instant_press'))).toHaveLength(4);
      const [a, boom, b] = result.answers;
      expect(a!.payout).toMatchObject({ payee_id: 'alone-a', amount: '10000' });
      expect(b!.payout).toMatchObject({ payee_id: 'alone-b', amount: '10000' });
      expect(boom!.payout).toBeNull();
      expect(boom!.message).toBe('boom');
      expect(result.outcomes).toEqual(['OK', undefined, 'OK']);
    } finally {
      await em.execute('DROP TRIGGER test_boom ON payout; DROP FUNCTION test_boom()');
    }
    // Nothing of the failed statement stayed: one payout and one audit entry each.
    expect(await count(server, `SELECT count(*) AS n FROM payout WHERE payee_id LIKE 'alone-%'`)).toBe(2);
    expect(await count(server, `SELECT count(*) AS n FROM audit_entry WHERE request_id LIKE 'together-alone-%'`)).toBe(2);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});

const brokers = kafkaBrokers();

describe.skipIf(!brokers)('a park from fleet.parks paid instantly through the ERP gateway, over Kafka', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ worker: true, consumers: true }, { kafka: true, env: { PAYOUT_OEBS_GATE_INTERVAL: '200ms' } });
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  it('takes the park from the topic, the money from accruals, and sends the payout to erp.payouts', async () => {
    const parksTopic = server.app.settingsOf(parksModule).TOPIC_FLEET_PARKS;
    const parkEvent = (eventId: string, occurredAt: string, name: string) => ({
      key: 'kp-1',
      value: { eventId, occurredAt, type: 'ParkUpserted', parkId: 'kp-1', name, currency: 'RUB', email: 'owner@park.example', timezone: 'Europe/Moscow', status: 'ACTIVE' },
    });
    await produce(parksTopic, [parkEvent('fp-1', '2026-11-02T10:00:00Z', 'Park One')]);
    // An older upsert arriving later changes nothing.
    await produce(parksTopic, [parkEvent('fp-0', '2026-11-01T10:00:00Z', 'Old Name')]);
    await produce(server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS, [
      {
        key: 'kp-1',
        value: { eventId: 'kac-1', occurredAt: '2026-11-02T11:00:00Z', payee: { kind: 'PARK', id: 'kp-1' }, account: 'payout', amount: '250000', currency: 'RUB', reference: 'ride-1' },
      },
    ]);
    const view = await waitFor(
      async () => (await graphql(server.url, ParkDocument, { id: 'kp-1' }, admin)).data?.park,
      (p) => p?.balance.minor === '250000',
    );
    await waitFor(
      () => count(server, `SELECT count(*) AS n FROM inbox_event WHERE event_id = 'fp-0'`),
      (n) => n > 0,
    );
    expect(view).toMatchObject({ name: 'Park One', status: 'ACTIVE', versionAt: '2026-11-02T10:00:00.000Z' });
    expect((await parkView(server, 'kp-1')).name).toBe('Park One');

    const pressed = await press(server, { parkId: 'kp-1', idempotencyKey: 'kafka-press' });
    expect(pressed.errors).toBeUndefined();
    const payoutId = pressed.data!.requestInstantPayout.id;
    const messages = await collect(server.app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS, (all) => all.some((m) => m.key === payoutId));
    const sent = messages.filter((m) => m.key === payoutId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.value).toMatchObject({ payoutId, payee: { kind: 'PARK', id: 'kp-1' }, amount: '250000', currency: 'RUB' });
    const status = await waitFor(
      () => count(server, `SELECT count(*) AS n FROM payout WHERE id = ? AND status = 'SENT'`, [payoutId]),
      (n) => n === 1,
    );
    expect(status).toBe(1);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});
