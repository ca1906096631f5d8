import { getIntrospectionQuery, print } from 'graphql';
import { createSigner } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { worldAccount } from '../src/ledger/ledger.service';
import type { PayoutSource, PayoutStatus } from '../src/payouts/lifecycle';
import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { payeeId, type Payee, type PayoutPayeeKind } from '../src/access/payee';
import {
  BalancesDocument,
  CancelPayoutDocument,
  DeadLettersDocument,
  DiscardDeadLetterDocument,
  PayoutDocument,
  PayoutHistoriesDocument,
  PayoutsDocument,
  RecordAccrualDocument,
  RetryDeadLetterDocument,
  type AccrualInput,
  type PayoutFilter,
  type PayoutsQuery,
} from './generated/graphql';
import { startTestServer, TEST_JWT_SECRET, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql, type GraphQLResponse } from './helpers/graphql';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { accrualsModule } from '../src/accruals/module';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const admin = tokenFor('admin');
const service = tokenFor('service');
const client = (id: string): Payee => ({ kind: 'CLIENT', id });
const shop = (partyId: string, shopId: string): Payee => ({ kind: 'SHOP', partyId, shopId });
const NO_SUCH_PAYOUT = '00000000-0000-4000-8000-000000000000';

// --- seeding through the services, as the rest of the system would ---------------------------

let fundings = 0;
/** Money into a payee's payout account. Accruals refuse shops, so shops are funded on the ledger. */
async function fund(payee: Payee, amount: bigint, currency = 'RUB', account = 'payout'): Promise<void> {
  const { app } = server;
  const reference = `funding-${++fundings}`;
  await app.orm.em.fork().transactional(async (em) => {
    if (payee.kind !== 'SHOP') {
      await app.use(accrualsModule).accruals.apply(em, { payee, account, amount, currency, reference, occurredAt: new Date() }, 'MANUAL');
      return;
    }
    const owner = { kind: 'SHOP', id: payeeId(payee) };
    await app.use(ledgerModule).ledger.move(em, worldAccount(currency), { owner, type: account, currency }, {
      idempotencyKey: `test:${reference}`,
      amount,
      kind: 'test_funding',
      reference,
    });
  });
}

let payoutKeys = 0;
interface PayoutSeed {
  payee: Payee;
  amount?: bigint;
  currency?: string;
  source?: PayoutSource;
  sourceRef?: string;
  cutoff?: Date;
  payoutToolId?: string;
  /** Statuses to move through after CREATED, in order. */
  then?: PayoutStatus[];
}

/** Creates payouts (all in one transaction, as a schedule run does) and moves them on; returns ids. */
async function createPayouts(...seeds: PayoutSeed[]): Promise<string[]> {
  const { app } = server;
  const ids = await app.orm.em.fork().transactional(async (em) => {
    const created: string[] = [];
    for (const seed of seeds) {
      const { payout } = await app.use(payoutsModule).lifecycle.create(em, {
        payee: seed.payee,
        amount: seed.amount ?? 1_000n,
        currency: seed.currency ?? 'RUB',
        source: seed.source ?? 'MANUAL',
        idempotencyKey: `api-test-${++payoutKeys}`,
        sourceRef: seed.sourceRef,
        cutoff: seed.cutoff,
        payoutToolId: seed.payoutToolId,
      });
      created.push(payout.id);
    }
    return created;
  });
  for (const [i, seed] of seeds.entries()) {
    for (const status of seed.then ?? []) await transition(ids[i]!, status, `to ${status}`);
  }
  return ids;
}

async function createPayout(seed: PayoutSeed): Promise<string> {
  const [id] = await createPayouts(seed);
  return id!;
}

function transition(id: string, status: PayoutStatus, reason?: string) {
  const { app } = server;
  return app.orm.em.fork().transactional((em) => app.use(payoutsModule).lifecycle.transition(em, id, status, { reason, actor: 'test' }));
}

async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  return server.app.orm.em.fork().execute<T[]>(query, params);
}

/** Balances as the API reports them: `type/currency → minor`. */
async function balancesOf(payee: Payee, token = admin): Promise<Record<string, string>> {
  const input = payee.kind === 'SHOP' ? { kind: payee.kind, partyId: payee.partyId, shopId: payee.shopId } : { kind: payee.kind as PayoutPayeeKind, id: payee.id };
  const response = await graphql(server.url, BalancesDocument, { payee: input }, token);
  expect(response.errors).toBeUndefined();
  return Object.fromEntries(response.data!.balances.map((b) => [`${b.accountType}/${b.currency}`, b.balance.minor]));
}

/** Every payout matching a filter, walked page by page; ids in the order the API gave them. */
async function allPages(filter: PayoutFilter, first: number, token = admin): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let after: string | null = null;
  for (;;) {
    const response: GraphQLResponse<PayoutsQuery> = await graphql(server.url, PayoutsDocument, { filter, first, after }, token);
    expect(response.errors).toBeUndefined();
    const connection = response.data!.payouts;
    ids.push(...connection.nodes.map((n) => n.id));
    pages.push(connection.nodes.length);
    if (!connection.pageInfo.hasNextPage) return { ids, pages };
    after = connection.pageInfo.endCursor;
  }
}

async function listIds(filter: PayoutFilter, token = admin): Promise<{ ids: string[]; totalCount: number }> {
  const response = await graphql(server.url, PayoutsDocument, { filter, first: 100 }, token);
  expect(response.errors).toBeUndefined();
  return { ids: response.data!.payouts.nodes.map((n) => n.id), totalCount: response.data!.payouts.totalCount };
}

const accrualInput = (payee: Payee, amount: string, reference: string): AccrualInput => ({
  payee: payee.kind === 'SHOP' ? { kind: 'SHOP', partyId: payee.partyId, shopId: payee.shopId } : { kind: payee.kind as PayoutPayeeKind, id: payee.id },
  amount,
  currency: 'RUB',
  reference,
  reason: 'manual correction by support',
});

// --- authentication and authorization --------------------------------------------------------

describe('authentication', () => {
  const operations = [
    ['payouts', PayoutsDocument, { first: 5 }],
    ['payout', PayoutDocument, { id: NO_SUCH_PAYOUT }],
    ['balances', BalancesDocument, { payee: { kind: 'CLIENT', id: 'auth-1' } }],
    ['deadLetters', DeadLettersDocument, {}],
    ['cancelPayout', CancelPayoutDocument, { id: NO_SUCH_PAYOUT }],
    ['recordAccrual', RecordAccrualDocument, { input: accrualInput(client('auth-1'), '5000', 'auth-1') }],
    ['retryDeadLetter', RetryDeadLetterDocument, { id: '1' }],
    ['discardDeadLetter', DiscardDeadLetterDocument, { id: '1', reason: 'test' }],
  ] as const;

  const forged = new TokenService('not-the-secret-not-the-secret-not-the-0', claimsPolicy).sign({ subject: 'mallory', role: 'admin' });
  const expired = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: 60_000, clockTimestamp: Date.now() - 3_600_000 })({
    sub: 'late',
    role: 'admin',
    payees: [],
  });
  const unknownRole = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'x', role: 'root', payees: [] });
  const noSubject = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ role: 'admin', payees: [] });
  const noExpiry = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ sub: 'forever', role: 'admin', payees: [] });
  const tooLong = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: 8 * 86_400_000 })({ sub: 'x', role: 'admin', payees: [] });
  const badPayee = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'x', role: 'driver', payees: ['c1'] });
  const [header, payload] = admin.split('.');
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  const tampered = `${header}.${Buffer.from(JSON.stringify({ sub: 'x', role: 'admin', payees: [], exp: 4_000_000_000 })).toString('base64url')}.${admin.split('.')[2]}`;

  const authorizations: [string, string | undefined][] = [
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['another scheme', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
    ['a bearer without a token', 'Bearer '],
    ['a token that is not a JWT', 'Bearer not-a-jwt'],
    ['two tokens', `Bearer ${admin} ${admin}`],
    ['a forged signature', `Bearer ${forged}`],
    ['an expired token', `Bearer ${expired}`],
    ['an unknown role', `Bearer ${unknownRole}`],
    ['no subject', `Bearer ${noSubject}`],
    ['a malformed payee claim', `Bearer ${badPayee}`],
    ['a token without exp', `Bearer ${noExpiry}`],
    ['a token living longer than JWT_MAX_TTL (7d)', `Bearer ${tooLong}`],
    ['alg none', `Bearer ${unsigned}`],
    ['claims changed after signing', `Bearer ${tampered}`],
  ];

  for (const [why, authorization] of authorizations) {
    it(`refuses every operation with ${why}: UNAUTHENTICATED and HTTP 401`, async () => {
      for (const [name, document, variables] of operations) {
        const response = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
          body: JSON.stringify({ query: print(document), variables }),
        });
        const body = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
        expect(response.status, name).toBe(401);
        expect(body.errors?.map((e) => e.extensions?.code), name).toEqual(['UNAUTHENTICATED']);
        expect(body.data ?? null, name).toBeNull();
      }
    });
  }

  it('changes nothing for an unauthenticated mutation', async () => {
    const response = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(client('auth-2'), '5000', 'a') }, null);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    expect(await balancesOf(client('auth-2'))).toEqual({});
  });

  it('accepts a valid token in a case-insensitive scheme', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `bearer ${admin}` },
      body: JSON.stringify({ query: print(PayoutsDocument), variables: { first: 1 } }),
    });
    expect(response.status).toBe(200);
  });
});

describe('authorization by role and payee', () => {
  const c1 = client('c1');
  const c2 = client('c2');
  const dispatcher = tokenFor('dispatcher', [c1]);
  const driver = tokenFor('driver', [c1]);
  const nobody = tokenFor('driver', []);
  let c1Payouts: string[];
  let c2Payout: string;
  let c2Sent: string;

  beforeAll(async () => {
    await fund(c1, 10_000n);
    await fund(c2, 10_000n);
    c1Payouts = await createPayouts({ payee: c1 }, { payee: c1, then: ['SENT'] });
    [c2Payout, c2Sent] = await createPayouts({ payee: c2 }, { payee: c2, then: ['SENT'] });
  });

  for (const [role, token] of [
    ['dispatcher', dispatcher],
    ['driver', driver],
  ] as const) {
    it(`a ${role} sees only their payees' payouts in the list`, async () => {
      const { ids, totalCount } = await listIds({}, token);
      expect(new Set(ids)).toEqual(new Set(c1Payouts));
      expect(totalCount).toBe(2);
      // A filter naming someone else's payee narrows to nothing rather than widening the view.
      expect(await listIds({ payeeKind: 'CLIENT', payeeId: 'c2' }, token)).toEqual({ ids: [], totalCount: 0 });
    });

    it(`a ${role} reads their own payout and balances, not another payee's`, async () => {
      const own = await graphql(server.url, PayoutDocument, { id: c1Payouts[0]! }, token);
      expect(own.data?.payout?.payee).toMatchObject({ kind: 'CLIENT', id: 'c1' });

      const other = await graphql(server.url, PayoutDocument, { id: c2Payout }, token);
      expect(errorCodes(other)).toEqual(['FORBIDDEN']);
      expect(other.data?.payout ?? null).toBeNull();

      expect(await balancesOf(c1, token)).toMatchObject({ 'payout/RUB': '8000' });
      const balances = await graphql(server.url, BalancesDocument, { payee: { kind: 'CLIENT', id: 'c2' } }, token);
      expect(errorCodes(balances)).toEqual(['FORBIDDEN']);
    });

    it(`a ${role} may not cancel another payee's payout, nor use admin operations`, async () => {
      const cancel = await graphql(server.url, CancelPayoutDocument, { id: c2Payout }, token);
      expect(errorCodes(cancel)).toEqual(['FORBIDDEN']);
      const accrual = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(c1, '1000000', `self-${role}`) }, token);
      expect(errorCodes(accrual)).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(server.url, DeadLettersDocument, {}, token))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(server.url, RetryDeadLetterDocument, { id: '1' }, token))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(server.url, DiscardDeadLetterDocument, { id: '1', reason: 'mine' }, token))).toEqual(['FORBIDDEN']);

      const [row] = await sql<{ status: string }>('SELECT status FROM payout WHERE id = ?', [c2Payout]);
      expect(row!.status).toBe('CREATED');
      expect(await balancesOf(c1)).toMatchObject({ 'payout/RUB': '8000' });
    });
  }

  it('a token with no payees may see nothing', async () => {
    expect(errorCodes(await graphql(server.url, PayoutsDocument, {}, nobody))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, PayoutDocument, { id: c1Payouts[0]! }, nobody))).toEqual(['FORBIDDEN']);
  });

  it('a dispatcher may cancel their own payee’s payout', async () => {
    const id = await createPayout({ payee: c1, amount: 500n });
    const response = await graphql(server.url, CancelPayoutDocument, { id }, dispatcher);
    expect(response.errors).toBeUndefined();
    expect(response.data!.cancelPayout.status).toBe('CANCELLED');
    expect(response.data!.cancelPayout.statusHistory.at(-1)).toEqual({ status: 'CANCELLED', actor: 'dispatcher:test-dispatcher' });
  });

  for (const [role, token] of [
    ['admin', admin],
    ['service', service],
  ] as const) {
    it(`${role} sees every payee`, async () => {
      const [{ count }] = (await sql<{ count: string }>('SELECT count(*) AS count FROM payout')) as [{ count: string }];
      const { totalCount } = await listIds({}, token);
      expect(totalCount).toBe(Number(count));
      for (const id of [c1Payouts[0]!, c2Sent]) {
        expect((await graphql(server.url, PayoutDocument, { id }, token)).data?.payout?.id).toBe(id);
      }
      expect(await balancesOf(c2, token)).toMatchObject({ 'payout/RUB': '8000', 'payout-reserved/RUB': '1000', 'payout-sent/RUB': '1000' });
    });
  }

  it('only admin may record accruals and handle dead letters, not service', async () => {
    const accrual = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(c2, '1', 'svc') }, service);
    expect(errorCodes(accrual)).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, DeadLettersDocument, {}, service))).toEqual(['FORBIDDEN']);
  });
});

// --- the payouts list ------------------------------------------------------------------------

describe('payouts: a Relay connection', () => {
  const payee = client('pager');
  let expected: string[];

  beforeAll(async () => {
    await fund(payee, 100_000n);
    // Created in batches within single transactions (same created_at), and one by one.
    await createPayouts(...Array.from({ length: 15 }, () => ({ payee })));
    for (let i = 0; i < 15; i++) await createPayout({ payee });
    await createPayouts(...Array.from({ length: 15 }, () => ({ payee })));
    const rows = await sql<{ id: string }>(
      "SELECT id FROM payout WHERE payee_kind = 'CLIENT' AND payee_id = 'pager' ORDER BY created_at DESC, id DESC",
    );
    expected = rows.map((r) => r.id);
    expect(expected).toHaveLength(45);
  });

  it('pages through 45 payouts 20 at a time: each exactly once, newest first', async () => {
    const { ids, pages } = await allPages({ payeeKind: 'CLIENT', payeeId: 'pager' }, 20);
    expect(pages).toEqual([20, 20, 5]);
    expect(ids).toEqual(expected);
  });

  it('pages with other sizes too, without skipping payouts created in the same instant', async () => {
    for (const size of [1, 7, 15, 44, 45, 100]) {
      const { ids } = await allPages({ payeeKind: 'CLIENT', payeeId: 'pager' }, size);
      expect(ids, `first: ${size}`).toEqual(expected);
    }
  });

  it('gives edges with cursors, nodes, pageInfo and totalCount', async () => {
    const filter: PayoutFilter = { payeeKind: 'CLIENT', payeeId: 'pager' };
    const first = await graphql(server.url, PayoutsDocument, { filter, first: 20 }, admin);
    const page = first.data!.payouts;
    expect(page.totalCount).toBe(45);
    expect(page.edges.map((e) => e.node.id)).toEqual(page.nodes.map((n) => n.id));
    expect(new Set(page.edges.map((e) => e.cursor)).size).toBe(20);
    expect(page.pageInfo).toEqual({
      hasNextPage: true,
      hasPreviousPage: false,
      startCursor: page.edges[0]!.cursor,
      endCursor: page.edges[19]!.cursor,
    });
    expect(page.nodes[0]).toMatchObject({ status: 'CREATED', source: 'MANUAL', payee: { kind: 'CLIENT', id: 'pager' }, amount: { minor: '1000', currency: 'RUB' } });

    // Any edge's cursor continues right after that edge.
    const fromMiddle = await graphql(server.url, PayoutsDocument, { filter, first: 3, after: page.edges[9]!.cursor }, admin);
    expect(fromMiddle.data!.payouts.nodes.map((n) => n.id)).toEqual(expected.slice(10, 13));
    expect(fromMiddle.data!.payouts.pageInfo.hasPreviousPage).toBe(true);
    expect(fromMiddle.data!.payouts.totalCount).toBe(45);

    const last = await graphql(server.url, PayoutsDocument, { filter, first: 20, after: page.edges[19]!.cursor }, admin);
    const lastButOne = await graphql(server.url, PayoutsDocument, { filter, first: 20, after: last.data!.payouts.pageInfo.endCursor }, admin);
    expect(lastButOne.data!.payouts.pageInfo).toMatchObject({ hasNextPage: false });
    expect(lastButOne.data!.payouts.nodes).toHaveLength(5);
  });

  it('answers first: 0 with no edges and the count', async () => {
    const response = await graphql(server.url, PayoutsDocument, { filter: { payeeKind: 'CLIENT', payeeId: 'pager' }, first: 0 }, admin);
    expect(response.data!.payouts).toMatchObject({ edges: [], nodes: [], totalCount: 45, pageInfo: { endCursor: null } });
  });

  it('defaults to 20 per page', async () => {
    const response = await graphql(server.url, PayoutsDocument, { filter: { payeeKind: 'CLIENT', payeeId: 'pager' } }, admin);
    expect(response.data!.payouts.nodes.map((n) => n.id)).toEqual(expected.slice(0, 20));
  });

  for (const first of [101, 1000, -1]) {
    it(`refuses first: ${first} with BAD_USER_INPUT`, async () => {
      const response = await graphql(server.url, PayoutsDocument, { first }, admin);
      expect(response.status).toBe(400);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.data ?? null).toBeNull();
    });
  }

  const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
  for (const after of [
    'garbage',
    'Zm9v',
    '!!!',
    cursorOf('not-a-date|x'),
    cursorOf('2020-01-01T00:00:00.000Z|'),
    cursorOf("2020-01-01T00:00:00.000Z|' OR 1=1 --"),
    cursorOf('2020-01-01T00:00:00.000Z|not-a-uuid'),
  ]) {
    it(`refuses after: ${JSON.stringify(after)} with BAD_USER_INPUT`, async () => {
      const response = await graphql(server.url, PayoutsDocument, { first: 5, after }, admin);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    });
  }

  it('reads an empty `after` as no cursor', async () => {
    const response = await graphql(server.url, PayoutsDocument, { filter: { payeeKind: 'CLIENT', payeeId: 'pager' }, first: 3, after: '' }, admin);
    expect(response.data!.payouts.nodes.map((n) => n.id)).toEqual(expected.slice(0, 3));
  });
});

describe('payouts: filters', () => {
  // Four shop payouts on fixed days in 2020, one client payout made now.
  const s11 = shop('fp1', 'fs1');
  const s12 = shop('fp1', 'fs2');
  const s21 = shop('fp2', 'fs1');
  let a: string, b: string, c: string, d: string, e: string;

  beforeAll(async () => {
    for (const payee of [s11, s12, s21]) await fund(payee, 10_000n);
    await fund(client('fc1'), 10_000n);
    [a, b] = await createPayouts({ payee: s11, source: 'MANUAL' }, { payee: s11, source: 'SCHEDULE', then: ['SENT'] });
    c = await createPayout({ payee: s12, source: 'REQUEST' });
    d = await createPayout({ payee: s21, source: 'MANUAL', then: ['SENT', 'PAID'] });
    e = await createPayout({ payee: client('fc1'), source: 'INSTANT' });
    for (const [id, day] of [
      [a, '2020-01-01T10:00:00Z'],
      [b, '2020-01-02T10:00:00Z'],
      [c, '2020-01-03T10:00:00Z'],
      [d, '2020-01-04T10:00:00Z'],
    ] as const) {
      await sql('UPDATE payout SET created_at = ? WHERE id = ?', [day, id]);
    }
  });

  const cases: [string, PayoutFilter, () => string[]][] = [
    ['partyId', { partyId: 'fp1' }, () => [c, b, a]],
    ['partyId and shopId', { partyId: 'fp1', shopId: 'fs1' }, () => [b, a]],
    ['shopId across parties', { shopId: 'fs1' }, () => [d, b, a]],
    ['payeeKind and payeeId of a shop', { payeeKind: 'SHOP', payeeId: 'fp2/fs1' }, () => [d]],
    ['payeeKind and payeeId of a client', { payeeKind: 'CLIENT', payeeId: 'fc1' }, () => [e]],
    ['status, one of a list', { shopId: 'fs1', status: ['SENT', 'PAID'] }, () => [d, b]],
    ['status', { partyId: 'fp1', status: ['CREATED'] }, () => [c, a]],
    ['source', { shopId: 'fs1', source: ['MANUAL'] }, () => [d, a]],
    ['source, one of a list', { partyId: 'fp1', source: ['SCHEDULE', 'REQUEST'] }, () => [c, b]],
    ['createdFrom inclusive and createdTo exclusive', { createdFrom: '2020-01-02T10:00:00Z', createdTo: '2020-01-04T10:00:00Z' }, () => [c, b]],
    ['createdFrom alone', { partyId: 'fp2', createdFrom: '2020-01-04T10:00:00Z' }, () => [d]],
    ['createdTo alone', { createdTo: '2020-01-02T00:00:00Z' }, () => [a]],
    ['filters that exclude each other', { partyId: 'fp2', source: ['REQUEST'] }, () => []],
    ['an unknown party', { partyId: 'nobody' }, () => []],
  ];

  for (const [name, filter, expected] of cases) {
    it(`filters by ${name}, with a totalCount to match`, async () => {
      const want = expected();
      expect(await listIds(filter)).toEqual({ ids: want, totalCount: want.length });
    });
  }

  it('accepts a single status value where a list is expected', async () => {
    const response = await graphql(
      server.url,
      'query { payouts(filter: { partyId: "fp1", status: SENT }) { totalCount nodes { id } } }',
      {},
      admin,
    );
    expect(response.data).toEqual({ payouts: { totalCount: 1, nodes: [{ id: b }] } });
  });

  it('pages within a filter', async () => {
    expect((await allPages({ partyId: 'fp1' }, 2)).ids).toEqual([c, b, a]);
  });

  it('refuses payeeId without payeeKind', async () => {
    expect(errorCodes(await graphql(server.url, PayoutsDocument, { filter: { payeeId: 'fc1' } }, admin))).toEqual(['BAD_USER_INPUT']);
  });
});

// --- one payout ------------------------------------------------------------------------------

describe('payout(id)', () => {
  it('returns every field, the amount formatted in major units and the history in order', async () => {
    const payee = shop('dp1', 'ds1');
    await fund(payee, 100_000n);
    const cutoff = new Date('2026-11-02T10:00:00Z');
    const id = await createPayout({
      payee,
      amount: 67_000n,
      source: 'SCHEDULE',
      sourceRef: 'run-42',
      cutoff,
      payoutToolId: 'tool-1',
      then: ['SENT', 'ACCEPTED'],
    });
    const response = await graphql(server.url, PayoutDocument, { id }, admin);
    expect(response.errors).toBeUndefined();
    const payout = response.data!.payout!;
    const [account] = await sql<{ id: string }>(
      "SELECT id FROM ledger_account WHERE owner_kind = 'SHOP' AND owner_id = 'dp1/ds1' AND type = 'payout'",
    );
    expect(payout).toMatchObject({
      id,
      status: 'ACCEPTED',
      amount: { minor: '67000', amount: '670.00', currency: 'RUB' },
      payee: { kind: 'SHOP', id: 'dp1/ds1', partyId: 'dp1', shopId: 'ds1' },
      source: 'SCHEDULE',
      sourceRef: 'run-42',
      cutoff: cutoff.toISOString(),
      payoutToolId: 'tool-1',
      accountId: String(account!.id),
      sequence: 3,
    });
    expect(payout.statusHistory.map((h) => [h.sequence, h.status, h.reason, h.actor])).toEqual([
      [1, 'CREATED', null, null],
      [2, 'SENT', 'to SENT', 'test'],
      [3, 'ACCEPTED', 'to ACCEPTED', 'test'],
    ]);
    const times = payout.statusHistory.map((h) => Date.parse(h.occurredAt));
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(Date.parse(payout.createdAt)).toBe(times[0]);
    expect(Date.parse(payout.updatedAt)).toBe(times[2]);
  });

  it('formats amounts by the currency’s minor digits', async () => {
    const payee = client('money-1');
    for (const [currency, amount, major] of [
      ['RUB', 5n, '0.05'],
      ['JPY', 67_000n, '67000'],
      ['KWD', 1_234n, '1.234'],
      ['USD', 100n, '1.00'],
    ] as const) {
      await fund(payee, amount, currency);
      const id = await createPayout({ payee, amount, currency });
      const response = await graphql(server.url, PayoutDocument, { id }, admin);
      expect(response.data!.payout!.amount).toEqual({ minor: String(amount), amount: major, currency });
    }
  });

  it('answers null for an unknown id and for an id that is not a uuid', async () => {
    for (const id of [NO_SUCH_PAYOUT, 'not-a-uuid', '42', "' OR 1=1 --"]) {
      const response = await graphql(server.url, PayoutDocument, { id }, admin);
      expect(response.errors, id).toBeUndefined();
      expect(response.data, id).toEqual({ payout: null });
    }
  });
});

// --- cancelPayout ----------------------------------------------------------------------------

describe('cancelPayout', () => {
  const payee = client('cancel-1');

  it('cancels a CREATED payout and gives the money back', async () => {
    await fund(payee, 10_000n);
    const id = await createPayout({ payee, amount: 4_000n });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '6000', 'payout-reserved/RUB': '4000' });

    const response = await graphql(server.url, CancelPayoutDocument, { id }, admin);
    expect(response.errors).toBeUndefined();
    expect(response.data!.cancelPayout).toEqual({
      id,
      status: 'CANCELLED',
      sequence: 2,
      statusHistory: [
        { status: 'CREATED', actor: null },
        { status: 'CANCELLED', actor: 'admin:test-admin' },
      ],
    });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '10000', 'payout-reserved/RUB': '0' });

    // Cancelling again changes nothing and gives nothing back twice.
    const again = await graphql(server.url, CancelPayoutDocument, { id }, admin);
    expect(again.data!.cancelPayout).toMatchObject({ status: 'CANCELLED', sequence: 2 });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '10000', 'payout-reserved/RUB': '0' });
  });

  it('refuses to cancel a SENT payout with CONFLICT and leaves it as it was', async () => {
    const id = await createPayout({ payee, amount: 1_000n, then: ['SENT'] });
    const response = await graphql(server.url, CancelPayoutDocument, { id }, admin);
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect(response.errors![0]!.extensions).toMatchObject({ from: 'SENT', to: 'CANCELLED' });
    const after = await graphql(server.url, PayoutDocument, { id }, admin);
    expect(after.data!.payout).toMatchObject({ status: 'SENT', sequence: 2 });
    expect(await balancesOf(payee)).toMatchObject({ 'payout/RUB': '9000', 'payout-sent/RUB': '1000' });
  });

  it('answers NOT_FOUND for an unknown payout', async () => {
    for (const id of [NO_SUCH_PAYOUT, 'nope']) {
      expect(errorCodes(await graphql(server.url, CancelPayoutDocument, { id }, admin)), id).toEqual(['NOT_FOUND']);
    }
  });
});

// --- balances --------------------------------------------------------------------------------

describe('balances', () => {
  it('lists a payee’s balances per account type and currency', async () => {
    const payee = client('bal-1');
    await fund(payee, 10_000n);
    await fund(payee, 500n, 'RUB', 'bonus');
    await fund(payee, 300n, 'USD');
    await createPayout({ payee, amount: 2_500n });
    await createPayout({ payee, amount: 1_000n, then: ['SENT'] });

    const response = await graphql(server.url, BalancesDocument, { payee: { kind: 'CLIENT', id: 'bal-1' } }, admin);
    expect(response.errors).toBeUndefined();
    expect(response.data!.balances.map((b) => [b.accountType, b.currency, b.balance])).toEqual([
      ['bonus', 'RUB', { minor: '500', amount: '5.00', currency: 'RUB' }],
      ['payout', 'RUB', { minor: '6500', amount: '65.00', currency: 'RUB' }],
      ['payout', 'USD', { minor: '300', amount: '3.00', currency: 'USD' }],
      ['payout-reserved', 'RUB', { minor: '2500', amount: '25.00', currency: 'RUB' }],
      ['payout-sent', 'RUB', { minor: '1000', amount: '10.00', currency: 'RUB' }],
    ]);
    expect(new Set(response.data!.balances.map((b) => b.accountId)).size).toBe(5);
  });

  it('names a shop by partyId and shopId', async () => {
    await fund(shop('bp1', 'bs1'), 700n);
    expect(await balancesOf(shop('bp1', 'bs1'))).toEqual({ 'payout/RUB': '700' });
  });

  it('answers an empty list for a payee with no accounts', async () => {
    expect(await balancesOf(client('nobody-at-all'))).toEqual({});
    // The same id under another kind is another payee.
    await fund(client('kind-1'), 100n);
    expect(await balancesOf({ kind: 'PARK', id: 'kind-1' })).toEqual({});
  });
});

// --- recordAccrual ---------------------------------------------------------------------------

describe('recordAccrual', () => {
  const payee = client('acc-1');

  it('credits once per reference', async () => {
    const first = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(payee, '50000', 'r-1') }, admin);
    expect(first.errors).toBeUndefined();
    expect(first.data!.recordAccrual).toMatchObject({ applied: true, amount: { minor: '50000', amount: '500.00', currency: 'RUB' } });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '50000' });

    const again = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(payee, '50000', 'r-1') }, admin);
    expect(again.data!.recordAccrual).toMatchObject({ applied: false, transferId: first.data!.recordAccrual.transferId });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '50000' });

    const [row] = await sql<{ reason: string; actor: string; origin: string }>(
      "SELECT reason, actor, origin FROM accrual WHERE payee_id = 'acc-1' AND reference = 'r-1'",
    );
    expect(row).toEqual({ reason: 'manual correction by support', actor: 'admin:test-admin', origin: 'MANUAL' });
  });

  it('refuses the same reference with another amount', async () => {
    const response = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(payee, '70000', 'r-1') }, admin);
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '50000' });
  });

  it('debits with a negative amount, but not beyond the balance', async () => {
    const tooMuch = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(payee, '-50001', 'r-2') }, admin);
    expect(errorCodes(tooMuch)).toEqual(['CONFLICT']);
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '50000' });

    const debit = await graphql(server.url, RecordAccrualDocument, { input: accrualInput(payee, '-20000', 'r-3') }, admin);
    expect(debit.data!.recordAccrual).toMatchObject({ applied: true, amount: { minor: '-20000', amount: '-200.00' } });
    expect(await balancesOf(payee)).toEqual({ 'payout/RUB': '30000' });
  });

  it('credits another account type when asked', async () => {
    const input = { ...accrualInput(payee, '100', 'r-4'), account: 'bonus' };
    expect((await graphql(server.url, RecordAccrualDocument, { input }, admin)).errors).toBeUndefined();
    expect(await balancesOf(payee)).toEqual({ 'bonus/RUB': '100', 'payout/RUB': '30000' });
  });

  it('requires a reason of at least three characters', async () => {
    const { reason: _omitted, ...withoutReason } = accrualInput(payee, '100', 'r-5');
    const missing = await graphql(server.url, RecordAccrualDocument, { input: withoutReason as AccrualInput }, admin);
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
    for (const reason of ['', 'ab', '      ', 'x'.repeat(1001)]) {
      const response = await graphql(server.url, RecordAccrualDocument, { input: { ...accrualInput(payee, '100', 'r-5'), reason } }, admin);
      expect(errorCodes(response), JSON.stringify(reason)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await balancesOf(payee)).toEqual({ 'bonus/RUB': '100', 'payout/RUB': '30000' });
  });

  it('refuses accounts only the payout lifecycle may move', async () => {
    for (const account of ['payout-reserved', 'payout-sent', 'Payout', '']) {
      const response = await graphql(server.url, RecordAccrualDocument, { input: { ...accrualInput(payee, '100', 'r-6'), account } }, admin);
      expect(errorCodes(response), account).toEqual(['BAD_USER_INPUT']);
    }
  });
});

// --- dead letters ----------------------------------------------------------------------------

describe('deadLetters, retryDeadLetter and discardDeadLetter', () => {
  const topic = () => server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS;
  const debit = JSON.stringify({
    eventId: 'dl-ev-1',
    occurredAt: '2026-11-02T10:00:00Z',
    payee: { kind: 'CLIENT', id: 'dl-1' },
    account: 'payout',
    amount: '-500',
    currency: 'RUB',
    reference: 'dl-ref-1',
  });

  beforeAll(async () => {
    const outcomes = await server.app.inbound.processBatch(
      [
        { topic: topic(), partition: 0, offset: '7', key: 'CLIENT:dl-1', value: debit },
        { topic: topic(), partition: 0, offset: '8', key: null, value: '{"eventId": "dl-ev-2", ' },
      ],
      'KAFKA',
    );
    expect(outcomes).toEqual(['dead-lettered', 'dead-lettered']);
  });

  async function letters(includeResolved = false) {
    const response = await graphql(server.url, DeadLettersDocument, { topic: topic(), includeResolved }, admin);
    expect(response.errors).toBeUndefined();
    return response.data!.deadLetters;
  }

  it('lists dead letters with where they came from and why', async () => {
    const page = await letters();
    expect(page.hasNextPage).toBe(false);
    expect(page.nodes).toHaveLength(2);
    expect(page.nodes[0]).toMatchObject({
      topic: topic(),
      partition: 0,
      offset: '7',
      key: 'CLIENT:dl-1',
      value: debit,
      errorCode: 'CONFLICT',
      reason: expect.stringMatching(/insufficient funds/i),
      attempts: 1,
      resolvedAt: null,
    });
    expect(page.nodes[1]).toMatchObject({ offset: '8', key: null, errorCode: 'BAD_USER_INPUT', reason: 'Message is not valid JSON' });
    expect(page.endCursor).toBe(page.nodes[1]!.id);

    const other = await graphql(server.url, DeadLettersDocument, { topic: 'no-such-topic' }, admin);
    expect(other.data!.deadLetters.nodes).toEqual([]);
  });

  it('pages through dead letters', async () => {
    const first = await graphql(server.url, DeadLettersDocument, { topic: topic(), first: 1 }, admin);
    expect(first.data!.deadLetters).toMatchObject({ hasNextPage: true, nodes: [{ offset: '7' }] });
    const second = await graphql(server.url, DeadLettersDocument, { topic: topic(), first: 1, after: first.data!.deadLetters.endCursor }, admin);
    expect(second.data!.deadLetters).toMatchObject({ hasNextPage: false, nodes: [{ offset: '8' }] });
  });

  it('applies a dead letter again once its cause is fixed', async () => {
    const [insufficient, malformed] = (await letters()).nodes;

    // Still failing: the reason stays, the attempt is counted.
    const early = await graphql(server.url, RetryDeadLetterDocument, { id: insufficient!.id }, admin);
    expect(early.data!.retryDeadLetter).toMatchObject({ outcome: 'dead-lettered', reason: expect.stringMatching(/insufficient funds/i) });

    await graphql(server.url, RecordAccrualDocument, { input: accrualInput(client('dl-1'), '1000', 'dl-funding') }, admin);
    const retried = await graphql(server.url, RetryDeadLetterDocument, { id: insufficient!.id }, admin);
    expect(retried.data!.retryDeadLetter).toEqual({ id: insufficient!.id, outcome: 'applied', reason: null });
    expect(await balancesOf(client('dl-1'))).toEqual({ 'payout/RUB': '500' });

    expect((await letters()).nodes.map((n) => n.id)).toEqual([malformed!.id]);
    const all = await letters(true);
    expect(all.nodes[0]).toMatchObject({ id: insufficient!.id, attempts: 3, resolvedAt: expect.any(String) });

    // Once resolved, a retry applies nothing twice.
    const twice = await graphql(server.url, RetryDeadLetterDocument, { id: insufficient!.id }, admin);
    expect(twice.data!.retryDeadLetter.outcome).toBe('already-resolved');
    expect(await balancesOf(client('dl-1'))).toEqual({ 'payout/RUB': '500' });

    // A message that can never be applied stays dead.
    const never = await graphql(server.url, RetryDeadLetterDocument, { id: malformed!.id }, admin);
    expect(never.data!.retryDeadLetter).toMatchObject({ outcome: 'dead-lettered', reason: 'Message is not valid JSON' });
  });

  it('discards a dead letter for a reason, keeping who, when and why; it is then neither open nor retried', async () => {
    const [open] = (await letters()).nodes;
    expect(open).toMatchObject({ reason: 'Message is not valid JSON', discardedAt: null });
    expect(errorCodes(await graphql(server.url, DiscardDeadLetterDocument, { id: open!.id, reason: '  ' }, admin))).toEqual(['BAD_USER_INPUT']);

    const discarded = await graphql(server.url, DiscardDeadLetterDocument, { id: open!.id, reason: 'truncated by the producer; resent as dl-ev-3' }, admin);
    expect(discarded.errors).toBeUndefined();
    expect(discarded.data!.discardDeadLetter).toEqual({
      id: open!.id,
      resolvedAt: null,
      discardedAt: expect.any(String),
      discardedBy: 'test-admin',
      discardReason: 'truncated by the producer; resent as dl-ev-3',
    });
    expect((await letters()).nodes).toEqual([]);
    expect((await letters(true)).nodes.find((n) => n.id === open!.id)).toMatchObject({ discardedBy: 'test-admin', discardReason: 'truncated by the producer; resent as dl-ev-3' });

    // A retry leaves it alone, and a second discard keeps the first verdict.
    const retry = await graphql(server.url, RetryDeadLetterDocument, { id: open!.id }, admin);
    expect(retry.data!.retryDeadLetter).toMatchObject({ outcome: 'discarded', reason: 'truncated by the producer; resent as dl-ev-3' });
    const again = await graphql(server.url, DiscardDeadLetterDocument, { id: open!.id, reason: 'another reason' }, admin);
    expect(again.data!.discardDeadLetter).toEqual(discarded.data!.discardDeadLetter);
  });

  it('refuses to discard a dead letter that was applied: CONFLICT', async () => {
    const applied = (await letters(true)).nodes.find((n) => n.resolvedAt !== null)!;
    const response = await graphql(server.url, DiscardDeadLetterDocument, { id: applied.id, reason: 'too late' }, admin);
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect((await letters(true)).nodes.find((n) => n.id === applied.id)).toMatchObject({ discardedAt: null, resolvedAt: expect.any(String) });
  });

  it('answers NOT_FOUND and BAD_USER_INPUT for ids that are not dead letters', async () => {
    expect(errorCodes(await graphql(server.url, DiscardDeadLetterDocument, { id: '999999999', reason: 'x' }, admin))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await graphql(server.url, DiscardDeadLetterDocument, { id: 'abc', reason: 'x' }, admin))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await graphql(server.url, RetryDeadLetterDocument, { id: '999999999' }, admin))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await graphql(server.url, RetryDeadLetterDocument, { id: 'abc' }, admin))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await graphql(server.url, DeadLettersDocument, { after: 'abc' }, admin))).toEqual(['BAD_USER_INPUT']);
  });
});

// --- efficiency and limits -------------------------------------------------------------------

describe('no N+1 queries', () => {
  beforeAll(async () => {
    const payee = client('nplus-1');
    await fund(payee, 100_000n);
    await createPayouts(...Array.from({ length: 40 }, () => ({ payee, then: ['SENT'] as PayoutStatus[] })));
  });

  /** Counts the SQL statements the server's ORM runs while `run` is in progress. */
  async function countQueries(run: () => Promise<unknown>): Promise<number> {
    const logger = server.app.orm.config.getLogger();
    const original = logger.logQuery.bind(logger);
    let count = 0;
    logger.logQuery = (context) => {
      count++;
      original(context);
    };
    try {
      await run();
    } finally {
      logger.logQuery = original;
    }
    return count;
  }

  it('loads the histories of a whole page in a bounded number of queries', async () => {
    const queriesFor = async (first: number) =>
      countQueries(async () => {
        const response = await graphql(server.url, PayoutHistoriesDocument, { first }, admin);
        expect(response.errors).toBeUndefined();
        expect(response.data!.payouts.nodes).toHaveLength(first);
        // The newest 40 are the SENT ones made above: each history is complete and its own.
        for (const node of response.data!.payouts.nodes) {
          expect(node.statusHistory.map((h) => h.status)).toEqual(['CREATED', 'SENT']);
        }
      });
    const small = await queriesFor(2);
    const large = await queriesFor(40);
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThanOrEqual(3);
    expect(large).toBe(small);
  });
});

describe('query limits', () => {
  it('refuses a query deeper than GRAPHQL_MAX_DEPTH before running it, but not introspection', async () => {
    // Our schema is shallow, so a server with a low limit shows the rule on real fields.
    const shallow = await startTestServer({}, { env: { GRAPHQL_MAX_DEPTH: '3' } });
    try {
      const admin = tokenFor('admin');
      const depth3 = await graphql(shallow.url, '{ payouts { pageInfo { hasNextPage } } }', {}, admin);
      expect(depth3.errors).toBeUndefined();

      const depth4 = await graphql(shallow.url, '{ payouts { nodes { payee { kind } } } }', {}, admin);
      expect(depth4.status).toBe(400);
      expect(errorCodes(depth4)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(depth4.errors![0]!.message).toMatch(/depth 4 exceeds the limit of 3/);
      expect(depth4.data ?? null).toBeNull();

      // Tools (GraphiQL, codegen against a URL) send deeply nested introspection; it stays allowed.
      const introspection = await graphql(shallow.url, getIntrospectionQuery(), {}, admin);
      expect(introspection.errors).toBeUndefined();
      expect((introspection.data as { __schema: { queryType: { name: string } } }).__schema.queryType.name).toBe('Query');
    } finally {
      await shallow.close();
    }
  });

  it('refuses a query whose cost exceeds GRAPHQL_MAX_COST before running it', async () => {
    const page = 'payouts(first: 100) { nodes { id status statusHistory { sequence status occurredAt } } }';
    const one = await graphql(server.url, `{ ${page} }`, {}, admin);
    expect(one.errors).toBeUndefined();

    const aliased = Array.from({ length: 10 }, (_, i) => `p${i}: ${page}`).join('\n');
    const costly = await graphql(server.url, `{ ${aliased} }`, {}, admin);
    expect(costly.status).toBe(400);
    expect(errorCodes(costly)).toEqual(['BAD_USER_INPUT']);
    expect(costly.errors![0]!.message).toMatch(/cost/i);
    expect(costly.data ?? null).toBeNull();

    // The same document again: its cost is remembered, and still too high.
    const again = await graphql(server.url, `{ ${aliased} }`, {}, admin);
    expect(again.status).toBe(400);
    expect(errorCodes(again)).toEqual(['BAD_USER_INPUT']);
  });

  it('costs a query whose page size is a variable on every request, not once per document', async () => {
    const page = 'payouts(first: $n) { nodes { id status statusHistory { sequence status occurredAt } } }';
    const document = `query Pages($n: Int) { ${Array.from({ length: 10 }, (_, i) => `p${i}: ${page}`).join('\n')} }`;
    const small = await graphql(server.url, document, { n: 1 }, admin);
    expect(small.errors).toBeUndefined();
    const large = await graphql(server.url, document, { n: 100 }, admin);
    expect(large.status).toBe(400);
    expect(errorCodes(large)).toEqual(['BAD_USER_INPUT']);
    expect(large.errors![0]!.message).toMatch(/cost/i);
  });
});
