import 'reflect-metadata';
import { Authorized, Query, Resolver } from 'type-graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accrualsModule } from '../src/accruals/module';
import { parsePayeeRef } from '../src/access/payee';
import { canSee, claimsPolicy, scopedPayees, type Principal } from '../src/access/principals';
import { Access } from '../src/access/rules';
import { MODULES } from '../src/app/modules';
import { TokenService, authChecker } from '../src/platform/auth';
import { DomainError } from '../src/platform/errors';
import { accessTable, buildGraphqlSchema } from '../src/platform/graphql/schema';
import { parksModule } from '../src/parks/module';
import { topupsModule } from '../src/topups/module';
import { walletsModule } from '../src/wallets/module';
import { payoutsModule } from '../src/payouts/module';
import { shopsModule } from '../src/shops/module';
import { signalqModule } from '../src/signalq/module';
import { TEST_JWT_SECRET, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { asMessages, party } from './helpers/shops';

const resolvers = MODULES.flatMap((module) => module.resolvers ?? []);

const principal = (role: string, ...scopes: string[]): Principal => ({ subject: `test-${role}`, role, scopes: new Set(scopes) });

/** The error code an access check throws, or null when it lets the caller through. */
function refusal(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

describe('who may call what', () => {
  it('is declared on every operation, and this is the whole table', () => {
    // A new operation shows up here: its rule is chosen on purpose, not by default.
    expect(accessTable(resolvers).map(({ operation, access }) => [operation, access])).toEqual([
      ['Mutation.cancelPayout', 'any caller, within the payees it sees'],
      ['Mutation.createTopUp', 'role driver'],
      ['Mutation.createWallet', 'role admin or dispatcher and a caller that sees the payee'],
      ['Mutation.deleteWallet', 'role admin or dispatcher and any caller, within the payees it sees'],
      ['Mutation.discardDeadLetter', 'role admin'],
      ['Mutation.exportTransactions', 'any caller, within the payees it sees'],
      ['Mutation.issueCallbackLink', 'role admin or dispatcher and any caller, within the payees it sees'],
      ['Mutation.recordAccrual', 'role admin'],
      ['Mutation.requestInstantPayout', 'role admin or dispatcher and a caller that sees the payee'],
      ['Mutation.requestPayout', 'a caller that sees the payee'],
      ['Mutation.retryDeadLetter', 'role admin'],
      ['Mutation.retryPayoutRequest', 'role admin'],
      ['Mutation.revokeCallbackLink', 'role admin or dispatcher and any caller, within the payees it sees'],
      ['Mutation.runFleetPeriodicPayouts', 'role admin'],
      ['Mutation.runSignalqBilling', 'role admin'],
      ['Mutation.setParkInstantPayouts', 'role admin'],
      ['Mutation.updateFleetPayoutSettings', 'role admin'],
      ['Mutation.updateWallet', 'role admin or dispatcher and any caller, within the payees it sees'],
      ['Mutation.upsertCalendar', 'role admin'],
      ['Mutation.upsertPark', 'role admin'],
      ['Mutation.upsertPayoutSchedule', 'role admin'],
      ['Mutation.upsertSignalqConfig', 'role admin'],
      ['Query.auditLog', 'role admin or dispatcher'],
      ['Query.balances', 'a caller that sees the payee'],
      ['Query.calendar', 'any authenticated caller'],
      ['Query.calendars', 'any authenticated caller'],
      ['Query.deadLetters', 'role admin'],
      ['Query.driver', 'a caller that sees the payee'],
      ['Query.drivers', 'a caller that sees the payee'],
      ['Query.fleetPayoutSettings', 'role admin or service or dispatcher'],
      ['Query.park', 'a caller that sees the payee'],
      ['Query.parks', 'any caller, within the payees it sees'],
      ['Query.payout', 'any caller, within the payees it sees'],
      ['Query.payoutRequest', 'any caller, within the payees it sees'],
      ['Query.payoutRequests', 'any caller, within the payees it sees'],
      ['Query.payouts', 'any caller, within the payees it sees'],
      ['Query.payoutSchedule', 'any authenticated caller'],
      ['Query.payoutSchedules', 'any authenticated caller'],
      ['Query.shop', 'a caller that sees the payee'],
      ['Query.shops', 'any caller, within the payees it sees'],
      ['Query.signalqConfig', 'a caller that sees the payee'],
      ['Query.signalqPayments', 'any caller, within the payees it sees'],
      ['Query.transactionExport', 'any caller, within the payees it sees'],
      ['Query.transactions', 'any caller, within the payees it sees'],
      ['Query.wallets', 'role admin or dispatcher and a caller that sees the payee'],
    ]);
  });

  it('refuses to build a schema with an operation that declares nothing (deny by default)', async () => {
    @Resolver()
    class Forgetful {
      @Authorized(Access.anyRole)
      @Query(() => String)
      declared(): string {
        return 'ok';
      }

      @Query(() => String)
      forgotten(): string {
        return 'no one decided who may read this';
      }
    }
    await expect(buildGraphqlSchema({ resolvers: [Forgetful] })).rejects.toThrow(/without an access declaration.*Query\.forgotten/);
  });

  it('builds one where every operation declares its rule', async () => {
    @Resolver()
    class Careful {
      @Authorized(Access.roles('admin'))
      @Query(() => String)
      careful(): string {
        return 'ok';
      }
    }
    await expect(buildGraphqlSchema({ resolvers: [Careful] })).resolves.toBeDefined();
  });
});

describe('the access rules', () => {
  const check = (rules: Parameters<typeof authChecker>[1], who: Principal, args: Record<string, unknown> = {}) =>
    refusal(() => authChecker({ context: { principal: who }, args }, rules));

  it('lets only the named roles through', () => {
    const adminOnly = [Access.roles('admin')];
    expect(check(adminOnly, principal('admin'))).toBeNull();
    for (const role of ['service', 'dispatcher', 'driver']) expect(check(adminOnly, principal(role, 'CLIENT:c1'))).toBe('FORBIDDEN');
  });

  it('checks the payee the arguments name, after validating it', () => {
    const seesClient = [Access.seesPayee((args: { clientId: string }) => parsePayeeRef(`CLIENT:${args.clientId}`))];
    expect(check(seesClient, principal('dispatcher', 'CLIENT:c1'), { clientId: 'c1' })).toBeNull();
    expect(check(seesClient, principal('dispatcher', 'CLIENT:c1'), { clientId: 'c2' })).toBe('FORBIDDEN');
    expect(check(seesClient, principal('service'), { clientId: 'c2' })).toBeNull();
    // A malformed payee is the caller's input error, whoever asks.
    expect(check(seesClient, principal('admin'), { clientId: 'not a payee' })).toBe('BAD_USER_INPUT');
    expect(check(seesClient, principal('driver'), { clientId: 'not a payee' })).toBe('BAD_USER_INPUT');
  });

  it('refuses when no rule is given', () => {
    expect(check([], principal('admin'))).toBe('FORBIDDEN');
  });
});

describe('scopes', () => {
  const driver = parsePayeeRef('DRIVER:park-1/d-7');

  it('cover what lies within them: a park’s dispatcher sees the park’s drivers, not another park’s', () => {
    const dispatcher = principal('dispatcher', 'PARK:park-1');
    expect(canSee(dispatcher, parsePayeeRef('PARK:park-1'))).toBe(true);
    expect(canSee(dispatcher, driver)).toBe(true);
    expect(canSee(dispatcher, parsePayeeRef('DRIVER:park-2/d-7'))).toBe(false);
    expect(canSee(dispatcher, parsePayeeRef('PARK:park-2'))).toBe(false);
  });

  it('do not reach upwards: a driver sees itself, not its park nor the park’s other drivers', () => {
    const self = principal('driver', 'DRIVER:park-1/d-7');
    expect(canSee(self, driver)).toBe(true);
    expect(canSee(self, parsePayeeRef('PARK:park-1'))).toBe(false);
    expect(canSee(self, parsePayeeRef('DRIVER:park-1/d-8'))).toBe(false);
  });

  it('match exactly, kind and id: a client scope sees neither a park nor a shop of the same id', () => {
    const client = principal('driver', 'CLIENT:x');
    expect(canSee(client, parsePayeeRef('PARK:x'))).toBe(false);
    expect(canSee(client, parsePayeeRef('CLIENT:x'))).toBe(true);
    expect(scopedPayees(principal('dispatcher', 'CLIENT:a', 'SHOP:p/s', 'PARK:k'), 'SHOP')).toEqual([{ kind: 'SHOP', partyId: 'p', shopId: 's' }]);
  });

  it('give admins and services every payee', () => {
    for (const role of ['admin', 'service']) expect(canSee(principal(role), driver)).toBe(true);
  });

  it('travel in tokens in one canonical form; a malformed one is refused when signing and when reading', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, claimsPolicy);
    const token = tokens.sign({ subject: 'd', role: 'dispatcher', scopes: ['PARK:park-1', 'DRIVER:park-1/d-7'] });
    expect([...tokens.authenticate(`Bearer ${token}`).scopes]).toEqual(['PARK:park-1', 'DRIVER:park-1/d-7']);
    expect(() => tokens.sign({ subject: 'd', role: 'driver', scopes: ['DRIVER:park-1'] })).toThrow(/parkId\/driverId/);
    expect(() => tokens.sign({ subject: 'd', role: 'driver', scopes: ['DRIVER:park-1/d/7'] })).toThrow(/parkId\/driverId/);
    expect(() => tokens.sign({ subject: 'd', role: 'root' })).toThrow(/role must be one of/);
  });
});

// ---- Every operation against a real server, for every role and for no token ------------------

type Who = 'none' | 'admin' | 'service' | 'dispatcher' | 'driver' | 'unscoped';
const WHO: readonly Who[] = ['none', 'unscoped', 'driver', 'dispatcher', 'service', 'admin'];

/**
 * What a caller gets: `ok` (answered without an error), `empty` (answered, nothing of others in it),
 * `allowed` (past the access check; the operation may still refuse for its own reasons, e.g. a
 * CONFLICT), or the error code of the refusal.
 */
type Outcome = 'ok' | 'empty' | 'allowed' | 'FORBIDDEN' | 'UNAUTHENTICATED';

interface Row {
  document: string;
  variables?: (who: Who) => Record<string, unknown>;
  /** Whether the answer holds nothing (for `empty`); by default: every list in it is empty. */
  expect: Omit<Record<Who, Outcome>, 'none'>;
}

describe('every operation, for every role and for no token (a real server)', () => {
  let server: TestServer;
  const own = { kind: 'CLIENT' as const, id: 'acl-own' };
  const other = { kind: 'CLIENT' as const, id: 'acl-other' };
  const ownShop = { kind: 'SHOP' as const, partyId: 'acl-party', shopId: 'acl-shop' };
  const tokens: Record<Exclude<Who, 'none'>, string> = {
    admin: tokenFor('admin'),
    service: tokenFor('service'),
    // A dispatcher that sees one client, one shop and one park; not `other`, nor `acl-park-other`.
    dispatcher: tokenFor('dispatcher', [own, ownShop, { kind: 'PARK', id: 'acl-park' }]),
    driver: tokenFor('driver', [{ kind: 'DRIVER', id: 'acl-park/acl-driver' }]),
    // A token naming no payee at all.
    unscoped: tokenFor('driver'),
  };
  const fixtures = {
    otherPayouts: {} as Record<Who, string>,
    otherRequest: '',
    deadLetters: [] as string[],
    /** Of the other park: a wallet with a live link, a wallet to delete, an export of its transactions. */
    wallet: '',
    walletToDelete: '',
    link: '',
    export: '',
  };

  beforeAll(async () => {
    server = await startTestServer();
    const { app } = server;
    await app.inbound.processBatch(asMessages(app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, [party.created(ownShop)]), 'KAFKA');
    await app.orm.em.fork().transactional(async (em) => {
      for (const payee of [own, other]) {
        await app.use(accrualsModule).accruals.apply(em, { payee, account: 'payout', amount: 100_000n, currency: 'RUB', reference: `acl-${payee.id}`, occurredAt: new Date() }, 'MANUAL');
      }
      await app.use(payoutsModule).lifecycle.create(em, { payee: own, amount: 100n, currency: 'RUB', source: 'MANUAL', idempotencyKey: 'acl-own-1' });
      // One CREATED payout of the other client per caller, so each cancel finds one to cancel.
      for (const who of WHO) {
        const change = await app.use(payoutsModule).lifecycle.create(em, { payee: other, amount: 100n, currency: 'RUB', source: 'MANUAL', idempotencyKey: `acl-other-${who}` });
        fixtures.otherPayouts[who] = change.payout.id;
      }
    });
    const calendar = await graphql(
      server.url,
      'mutation { upsertCalendar(input: { id: "acl-base", timezone: "UTC", holidays: [] }) { id } upsertPayoutSchedule(input: { id: "acl-daily", cron: "0 9 * * *", calendarId: "acl-base" }) { id } }',
      {},
      tokens.admin,
    );
    expect(calendar.errors).toBeUndefined();
    for (const park of ['acl-park', 'acl-park-other']) {
      const upserted = await graphql(
        server.url,
        `mutation { upsertPark(input: { id: "${park}", name: "Park", currency: "RUB", timezone: "UTC", status: ACTIVE, reason: "access test" }) { id } }`,
        {},
        tokens.admin,
      );
      expect(upserted.errors).toBeUndefined();
    }
    // Camera billing of both parks: a config each and one period's lines (later periods are left for the admin's run).
    for (const park of ['acl-park', 'acl-park-other']) {
      await app.orm.em.fork().transactional((em) =>
        app.use(signalqModule).configs.upsert(
          em,
          { parkId: park, currency: 'RUB', dailyRate: 100n, minActiveMinutes: 60, periodDays: 7, periodStart: '2026-11-01', timezone: 'UTC', enabled: false, reason: null },
          'test',
          new Date('2026-11-01T00:00:00Z'),
        ),
      );
      const event = { eventId: `acl-sq-${park}`, occurredAt: '2026-11-01T00:00:00Z', parkId: park, deviceId: 'cam-1', status: 'ONLINE' };
      const topic = app.settingsOf(signalqModule).TOPIC_SIGNALQ_DEVICE_STATUS;
      await app.inbound.processBatch([{ topic, partition: 0, offset: park, key: park, value: JSON.stringify(event) }], 'KAFKA');
    }
    await app.use(signalqModule).billing.run({ asOf: new Date('2026-11-09T00:00:00Z') });
    await app.orm.em.fork().transactional(async (em) => {
      const { wallets, links } = app.use(walletsModule);
      const base = { parkId: 'acl-park-other', title: 'W', currency: 'RUB', enabled: true, minAmount: null, maxAmount: null, credentials: null };
      const wallet = await wallets.create(em, { ...base, paymentSystem: 'PAYSTACK' }, 'test');
      fixtures.wallet = wallet.id;
      fixtures.walletToDelete = (await wallets.create(em, { ...base, paymentSystem: 'CITY24' }, 'test')).id;
      fixtures.link = (await links.issue(em, wallet, 'test')).link.id;
      await app.use(parksModule).drivers.upsert(em, { parkId: 'acl-park-other', driverId: 'd1', name: 'D', phone: null, status: 'WORKING', occurredAt: new Date() });
    });
    await app.use(topupsModule).topups.accept(app.orm.em.fork(), (await app.use(walletsModule).wallets.find(app.orm.em.fork(), fixtures.wallet))!, 'acl-1', 'd1', 100n);
    const exported = await app
      .use(topupsModule)
      .exports.start(app.orm.em.fork(), { criteria: { parkId: 'acl-park-other' }, scope: { all: true, parks: [], drivers: [] }, timezone: 'UTC', requestedBy: 'test' });
    fixtures.export = exported.id;
    const request = await graphql(server.url, 'mutation { requestPayout(input: { clientId: "acl-other", idempotencyKey: "acl-1" }) { id } }', {}, tokens.service);
    fixtures.otherRequest = (request.data as { requestPayout: { id: string } }).requestPayout.id;
    // Two dead letters: one for the admin to retry, one to discard.
    await app.inbound.processBatch(
      ['1', '2'].map((offset) => ({ topic: app.settingsOf(accrualsModule).TOPIC_ACCRUALS, partition: 0, offset, key: null, value: `{not json ${offset}` })),
      'KAFKA',
    );
    const letters = await app.orm.em.fork().execute<{ id: string }[]>('SELECT id::text AS id FROM dead_letter ORDER BY id');
    fixtures.deadLetters = letters.map((l) => l.id);
  });
  afterAll(async () => server?.close());

  const adminOnly = { unscoped: 'FORBIDDEN', driver: 'FORBIDDEN', dispatcher: 'FORBIDDEN', service: 'FORBIDDEN', admin: 'ok' } as const;
  const everyone = { unscoped: 'ok', driver: 'ok', dispatcher: 'ok', service: 'ok', admin: 'ok' } as const;
  /** Something of `other`: only admins and services see it. */
  const othersThing = { unscoped: 'FORBIDDEN', driver: 'FORBIDDEN', dispatcher: 'FORBIDDEN', service: 'ok', admin: 'ok' } as const;
  /** A list limited to the caller's payees: refused to a token that sees no payee of its kind at all. */
  const scopedList = { unscoped: 'FORBIDDEN', driver: 'FORBIDDEN', dispatcher: 'ok', service: 'ok', admin: 'ok' } as const;

  /** One row per operation of the schema; a new operation without one fails the test below. */
  const TABLE: Record<string, Row> = {
    'Query.auditLog': {
      document: '{ auditLog(first: 5) { totalCount nodes { id operation } } }',
      // A dispatcher reads its parks' entries; a service has no business in the audit log.
      expect: { unscoped: 'FORBIDDEN', driver: 'FORBIDDEN', dispatcher: 'ok', service: 'FORBIDDEN', admin: 'ok' },
    },
    'Query.balances': { document: '{ balances(payee: { kind: CLIENT, id: "acl-other" }) { balance { minor } } }', expect: othersThing },
    'Query.calendar': { document: '{ calendar(id: "acl-base") { id } }', expect: everyone },
    'Query.calendars': { document: '{ calendars { id } }', expect: everyone },
    'Query.deadLetters': { document: '{ deadLetters { nodes { id } } }', expect: adminOnly },
    'Query.fleetPayoutSettings': {
      document: '{ fleetPayoutSettings { periodicDays } }',
      expect: { unscoped: 'FORBIDDEN', driver: 'FORBIDDEN', dispatcher: 'ok', service: 'ok', admin: 'ok' },
    },
    'Query.park': { document: '{ park(id: "acl-park-other") { id } }', expect: othersThing },
    'Query.driver': { document: '{ driver(parkId: "acl-park-other", driverId: "d1") { id } }', expect: othersThing },
    'Query.drivers': { document: '{ drivers(parkId: "acl-park-other") { totalCount nodes { id } } }', expect: othersThing },
    'Query.wallets': { document: '{ wallets(parkId: "acl-park-other") { id } }', expect: adminOnly },
    'Query.transactions': { document: '{ transactions(filter: { parkId: "acl-park-other" }) { totalCount nodes { id } } }', expect: othersThing },
    'Query.transactionExport': {
      document: 'query($id: ID!) { transactionExport(id: $id) { id status } }',
      variables: () => ({ id: fixtures.export }),
      expect: othersThing,
    },
    'Mutation.createTopUp': {
      document: 'mutation($key: String!) { createTopUp(input: { paymentSystem: PAYSTACK, amount: "100", idempotencyKey: $key }) { payUrl } }',
      variables: (who) => ({ key: `acl-${who}` }),
      // Only a driver, for the driver's own park; past the check, that park has no Paystack wallet (NOT_FOUND).
      expect: { unscoped: 'FORBIDDEN', driver: 'allowed', dispatcher: 'FORBIDDEN', service: 'FORBIDDEN', admin: 'FORBIDDEN' },
    },
    'Mutation.createWallet': {
      document: 'mutation { createWallet(input: { parkId: "acl-park-other", paymentSystem: TBC, title: "T", currency: "GEL" }) { id } }',
      expect: adminOnly,
    },
    'Mutation.updateWallet': {
      document: 'mutation($id: ID!) { updateWallet(input: { id: $id, title: "Renamed" }) { id } }',
      variables: () => ({ id: fixtures.wallet }),
      expect: adminOnly,
    },
    'Mutation.issueCallbackLink': {
      document: 'mutation($id: ID!) { issueCallbackLink(walletId: $id) { link { id } } }',
      variables: () => ({ id: fixtures.wallet }),
      expect: adminOnly,
    },
    'Mutation.revokeCallbackLink': {
      document: 'mutation($id: ID!) { revokeCallbackLink(id: $id) { id } }',
      variables: () => ({ id: fixtures.link }),
      expect: adminOnly,
    },
    'Mutation.deleteWallet': {
      document: 'mutation($id: ID!) { deleteWallet(id: $id) { id } }',
      variables: () => ({ id: fixtures.walletToDelete }),
      expect: adminOnly,
    },
    'Mutation.exportTransactions': {
      document: 'mutation { exportTransactions(filter: { parkId: "acl-park-other" }) { id status } }',
      expect: othersThing,
    },
    'Query.parks': { document: '{ parks { totalCount nodes { id } } }', expect: scopedList },
    'Query.payout': { document: 'query($id: ID!) { payout(id: $id) { id } }', variables: () => ({ id: fixtures.otherPayouts.admin }), expect: othersThing },
    'Query.payoutRequest': { document: 'query($id: ID!) { payoutRequest(id: $id) { id } }', variables: () => ({ id: fixtures.otherRequest }), expect: othersThing },
    'Query.payoutRequests': {
      document: '{ payoutRequests { totalCount nodes { id } } }',
      // The dispatcher's client made no request: it sees none, and not the other client's.
      expect: { ...scopedList, dispatcher: 'empty' },
    },
    'Query.payoutSchedule': { document: '{ payoutSchedule(id: "acl-daily") { id } }', expect: everyone },
    'Query.payoutSchedules': { document: '{ payoutSchedules { id } }', expect: everyone },
    // A driver sees its own payouts (none here), not the other client's.
    'Query.payouts': { document: '{ payouts { totalCount nodes { id } } }', expect: { ...scopedList, driver: 'empty' } },
    'Query.shop': { document: '{ shop(partyId: "acl-party", shopId: "acl-shop") { shopId } }', expect: { ...othersThing, dispatcher: 'ok' } },
    'Query.shops': { document: '{ shops { totalCount nodes { shopId } } }', expect: scopedList },
    'Query.signalqConfig': { document: '{ signalqConfig(parkId: "acl-park-other") { parkId } }', expect: othersThing },
    'Query.signalqPayments': { document: '{ signalqPayments { totalCount nodes { parkId } } }', expect: scopedList },
    'Mutation.runSignalqBilling': { document: 'mutation { runSignalqBilling(parkId: "acl-park-other") { linesRecorded } }', expect: adminOnly },
    'Mutation.upsertSignalqConfig': {
      document:
        'mutation { upsertSignalqConfig(input: { parkId: "acl-park-other", currency: "RUB", dailyRate: "100", minActiveMinutes: 60, ' +
        'periodDays: 7, periodStart: "2026-11-01", timezone: "UTC", enabled: false, reason: "access test" }) { parkId } }',
      expect: adminOnly,
    },
    'Mutation.cancelPayout': {
      document: 'mutation($id: ID!) { cancelPayout(id: $id) { status } }',
      variables: (who) => ({ id: fixtures.otherPayouts[who] }),
      expect: othersThing,
    },
    'Mutation.discardDeadLetter': {
      document: 'mutation($id: ID!) { discardDeadLetter(id: $id, reason: "access test") { id } }',
      variables: () => ({ id: fixtures.deadLetters[1] }),
      expect: adminOnly,
    },
    'Mutation.requestInstantPayout': {
      document: 'mutation($key: String!) { requestInstantPayout(input: { parkId: "acl-park-other", idempotencyKey: $key }) { id } }',
      variables: (who) => ({ key: `acl-${who}` }),
      // Past the check, a park with nothing to pay refuses for its own reasons.
      expect: { ...adminOnly, admin: 'allowed' },
    },
    'Mutation.runFleetPeriodicPayouts': { document: 'mutation { runFleetPeriodicPayouts { parksChecked } }', expect: adminOnly },
    'Mutation.setParkInstantPayouts': {
      document: 'mutation { setParkInstantPayouts(input: { parkId: "acl-park-other", enabled: true, reason: "access test" }) { id } }',
      expect: adminOnly,
    },
    'Mutation.updateFleetPayoutSettings': { document: 'mutation { updateFleetPayoutSettings(input: { periodicDays: 7 }) { periodicDays } }', expect: adminOnly },
    'Mutation.upsertPark': {
      document: 'mutation { upsertPark(input: { id: "acl-park-new", name: "New", currency: "RUB", timezone: "UTC", status: ACTIVE, reason: "access test" }) { id } }',
      expect: adminOnly,
    },
    'Mutation.recordAccrual': {
      document: 'mutation { recordAccrual(input: { payee: { kind: CLIENT, id: "acl-own" }, amount: "1", currency: "RUB", reference: "acl-manual", reason: "access test" }) { applied } }',
      expect: adminOnly,
    },
    'Mutation.requestPayout': {
      document: 'mutation($key: String!) { requestPayout(input: { clientId: "acl-other", idempotencyKey: $key }) { id } }',
      variables: (who) => ({ key: `acl-${who}` }),
      expect: othersThing,
    },
    'Mutation.retryDeadLetter': { document: 'mutation($id: ID!) { retryDeadLetter(id: $id) { outcome } }', variables: () => ({ id: fixtures.deadLetters[0] }), expect: adminOnly },
    'Mutation.retryPayoutRequest': {
      document: 'mutation($id: ID!) { retryPayoutRequest(id: $id) { id } }',
      variables: () => ({ id: fixtures.otherRequest }),
      // Past the check, the request (NEW, not ERROR) cannot be retried: a CONFLICT of its own.
      expect: { ...adminOnly, admin: 'allowed' },
    },
    'Mutation.upsertCalendar': {
      document: 'mutation { upsertCalendar(input: { id: "acl-cal", timezone: "UTC", holidays: [] }) { id } }',
      expect: adminOnly,
    },
    'Mutation.upsertPayoutSchedule': {
      document: 'mutation { upsertPayoutSchedule(input: { id: "acl-sched", cron: "0 10 * * *", calendarId: "acl-cal" }) { id } }',
      expect: adminOnly,
    },
  };

  it('has a row for every query and mutation of the schema', async () => {
    const schema = await server.app.graphqlSchema();
    const operations = [schema.getQueryType(), schema.getMutationType()].flatMap((type) =>
      type ? Object.keys(type.getFields()).map((name) => `${type.name}.${name}`) : [],
    );
    expect(Object.keys(TABLE).sort()).toEqual(operations.sort());
  });

  it('answers each as its row says: UNAUTHENTICATED without a token, FORBIDDEN outside the rule, data within it', async () => {
    const mismatches: string[] = [];
    // Refused callers first: what an allowed one changes (a cancel) must not decide a refusal.
    for (const who of WHO) {
      for (const [operation, row] of Object.entries(TABLE)) {
        const answer = await graphql(server.url, row.document, row.variables?.(who) ?? {}, who === 'none' ? null : tokens[who]);
        const want: Outcome = who === 'none' ? 'UNAUTHENTICATED' : row.expect[who];
        const codes = errorCodes(answer);
        const got: string =
          codes.length > 0
            ? want === 'allowed' && !codes.some((code) => code === 'FORBIDDEN' || code === 'UNAUTHENTICATED' || code === 'INTERNAL_SERVER_ERROR')
              ? 'allowed'
              : codes.join(',')
            : want === 'allowed'
              ? 'allowed'
              : holdsNothing(answer.data)
                ? 'empty'
                : 'ok';
        // A refusal answers no data at all (not a null that would pass for "not found").
        if ((want === 'FORBIDDEN' || want === 'UNAUTHENTICATED') && got === want && !holdsNothing(answer.data)) {
          mismatches.push(`${operation} as ${who}: refused but answered ${JSON.stringify(answer.data)}`);
        }
        if (got !== want) mismatches.push(`${operation} as ${who}: expected ${want}, got ${got} ${JSON.stringify(answer.errors?.[0]?.message ?? answer.data).slice(0, 160)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});

/** True when an answer holds no value: null, or objects whose every list is empty and counts zero. */
function holdsNothing(data: unknown): boolean {
  if (data === null || data === undefined) return true;
  if (Array.isArray(data)) return data.length === 0;
  if (typeof data === 'object') return Object.values(data).every(holdsNothing);
  return typeof data === 'number' ? data === 0 : false;
}
