import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientFundsError } from '../src/ledger/ledger.service';
import { sqlState } from '../src/platform/database-errors';
import { NotFoundError } from '../src/platform/errors';
import type { Payee } from '../src/access/payee';
import {
  PayoutRequestDocument,
  PayoutRequestsDocument,
  RequestPayoutDocument,
  RetryPayoutRequestDocument,
  type PayoutRequestFilter,
} from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';
import { requestsModule } from '../src/requests/module';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { accrualsModule } from '../src/accruals/module';

// The API process alone: no worker runs the gates, so the tests call processBatch themselves.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const admin = tokenFor('admin');
const client = (id: string): Payee => ({ kind: 'CLIENT', id });

let fundings = 0;
async function fund(clientId: string, amount: bigint, currency = 'RUB', account = 'payout'): Promise<void> {
  const { app } = server;
  await app.orm.em.fork().transactional((em) =>
    app.use(accrualsModule).accruals.apply(
      em,
      { payee: client(clientId), account, amount, currency, reference: `funding-${++fundings}`, occurredAt: new Date() },
      'MANUAL',
    ),
  );
}

function record(clientId: string, idempotencyKey: string) {
  const { app } = server;
  return app.orm.em.fork().transactional((em) => app.use(requestsModule).requests.record(em, { clientId, idempotencyKey, actor: 'test' }));
}

interface RequestRow {
  id: string;
  client_id: string;
  status: string;
  error: string | null;
  processed_at: Date | null;
}

async function requestRow(id: string): Promise<RequestRow> {
  const rows = await server.app.orm.em.fork().execute<RequestRow[]>('SELECT * FROM payout_request WHERE id = ?', [id]);
  return rows[0]!;
}

interface PayoutRow {
  id: string;
  payee_id: string;
  amount: string;
  currency: string;
  status: string;
  source: string;
  source_ref: string | null;
}

/** The payouts a request made, as the database has them. */
async function payoutsOf(requestId: string): Promise<{ amount: bigint; currency: string; status: string; payee: string }[]> {
  const rows = await server.app.orm.em
    .fork()
    .execute<PayoutRow[]>("SELECT * FROM payout WHERE source = 'REQUEST' AND source_ref = ? ORDER BY currency", [requestId]);
  return rows.map((r) => ({ amount: BigInt(r.amount), currency: r.currency.trim(), status: r.status, payee: r.payee_id }));
}

async function balances(clientId: string): Promise<Record<string, bigint>> {
  const accounts = await server.app.use(ledgerModule).ledger.accountsOf(server.app.orm.em.fork(), { kind: 'CLIENT', id: clientId });
  return Object.fromEntries(accounts.map((a) => [`${a.type}/${a.currency.trim()}`, a.balance]));
}

/** Runs the req-gate until no NEW request is left; returns how many requests it took. */
async function drain(limit = 100): Promise<number> {
  let total = 0;
  for (let round = 0; round < 1000; round++) {
    const taken = await server.app.use(requestsModule).requests.processBatch(limit);
    if (taken === 0) return total;
    total += taken;
  }
  throw new Error('the req-gate never ran out of NEW requests');
}

async function newCount(): Promise<number> {
  const [row] = await server.app.orm.em.fork().execute<{ n: string }[]>("SELECT count(*) AS n FROM payout_request WHERE status = 'NEW'");
  return Number(row!.n);
}

/**
 * Makes a request fail in the gate: another payee's payout already holds the idempotency key the
 * request's payout in this currency must use, so creating it is refused inside the batch.
 */
async function squat(requestId: string, currency = 'RUB'): Promise<string> {
  const squatter = `squatter-${requestId}`;
  await fund(squatter, 1n, currency);
  const { payout } = await server.app.orm.em.fork().transactional((em) =>
    server.app.use(payoutsModule).lifecycle.create(em, {
      payee: client(squatter),
      amount: 1n,
      currency,
      source: 'MANUAL',
      idempotencyKey: `request:${requestId}:${currency}`,
    }),
  );
  return payout.id;
}

describe('requestPayout records the request and nothing more', () => {
  it('stores a NEW request without creating payouts or moving money', async () => {
    await fund('rq-record', 10_000n);
    const { request, created } = await record('rq-record', 'key-1');
    expect(created).toBe(true);
    const row = await requestRow(request.id);
    expect(row).toMatchObject({ client_id: 'rq-record', status: 'NEW', error: null, processed_at: null });
    expect(await payoutsOf(request.id)).toEqual([]);
    expect(await balances('rq-record')).toEqual({ 'payout/RUB': 10_000n });

    const response = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-record', idempotencyKey: 'key-2' } }, admin);
    expect(response.errors).toBeUndefined();
    expect(response.data?.requestPayout).toMatchObject({
      clientId: 'rq-record',
      idempotencyKey: 'key-2',
      status: 'NEW',
      error: null,
      processedAt: null,
      payouts: [],
    });
    expect(await balances('rq-record')).toEqual({ 'payout/RUB': 10_000n });
  });

  it('returns the same request for the same idempotency key, a new one for another key or client', async () => {
    await fund('rq-idem', 1_000n);
    await fund('rq-idem-2', 1_000n);
    const first = await record('rq-idem', 'same');
    const again = await record('rq-idem', 'same');
    expect(again.created).toBe(false);
    expect(again.request.id).toBe(first.request.id);

    const input = { clientId: 'rq-idem', idempotencyKey: 'same' };
    const overApi = await graphql(server.url, RequestPayoutDocument, { input }, admin);
    const overApiAgain = await graphql(server.url, RequestPayoutDocument, { input }, tokenFor('dispatcher', [client('rq-idem')]));
    expect(overApi.data?.requestPayout.id).toBe(first.request.id);
    expect(overApiAgain.data?.requestPayout.id).toBe(first.request.id);

    const otherKey = await record('rq-idem', 'other');
    const otherClient = await record('rq-idem-2', 'same');
    expect(new Set([first.request.id, otherKey.request.id, otherClient.request.id]).size).toBe(3);
    const [count] = await server.app.orm.em
      .fork()
      .execute<{ n: string }[]>("SELECT count(*) AS n FROM payout_request WHERE client_id IN ('rq-idem', 'rq-idem-2')");
    expect(Number(count!.n)).toBe(3);
  });

  it('refuses a client the ledger has never heard of: NOT_FOUND', async () => {
    await expect(record('rq-nobody', 'k')).rejects.toBeInstanceOf(NotFoundError);
    const response = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-nobody', idempotencyKey: 'k' } }, admin);
    expect(errorCodes(response)).toEqual(['NOT_FOUND']);
    const [count] = await server.app.orm.em
      .fork()
      .execute<{ n: string }[]>("SELECT count(*) AS n FROM payout_request WHERE client_id = 'rq-nobody'");
    expect(Number(count!.n)).toBe(0);
  });

  it('lets a dispatcher or driver request only for the clients in their token; refuses the anonymous', async () => {
    await fund('rq-c1', 1_000n);
    await fund('rq-c2', 1_000n);
    const dispatcher = tokenFor('dispatcher', [client('rq-c1')]);
    const driver = tokenFor('driver', [client('rq-c1')]);
    const service = tokenFor('service');

    const own = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-c1', idempotencyKey: 'd-1' } }, dispatcher);
    expect(own.errors).toBeUndefined();
    expect(own.data?.requestPayout).toMatchObject({ clientId: 'rq-c1', status: 'NEW' });
    const byDriver = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-c1', idempotencyKey: 'd-2' } }, driver);
    expect(byDriver.errors).toBeUndefined();
    const byService = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-c2', idempotencyKey: 's-1' } }, service);
    expect(byService.errors).toBeUndefined();

    for (const token of [dispatcher, driver]) {
      const other = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-c2', idempotencyKey: 'd-3' } }, token);
      expect(errorCodes(other)).toEqual(['FORBIDDEN']);
    }
    const anonymous = await graphql(server.url, RequestPayoutDocument, { input: { clientId: 'rq-c1', idempotencyKey: 'a-1' } }, null);
    expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);

    // Nothing was recorded for the refused calls.
    const rows = await server.app.orm.em
      .fork()
      .execute<{ client_id: string; idempotency_key: string }[]>(
        "SELECT client_id, idempotency_key FROM payout_request WHERE client_id IN ('rq-c1', 'rq-c2') ORDER BY idempotency_key",
      );
    expect(rows.map((r) => `${r.client_id}/${r.idempotency_key}`)).toEqual(['rq-c1/d-1', 'rq-c1/d-2', 'rq-c2/s-1']);

    // A request of another client is not shown to the dispatcher either: refused as outside its scopes.
    const seen = await graphql(server.url, PayoutRequestDocument, { id: byService.data!.requestPayout.id }, dispatcher);
    expect(errorCodes(seen)).toEqual(['FORBIDDEN']);
    expect(seen.data?.payoutRequest).toBeNull();
  });
});

describe('processBatch (the req-gate)', () => {
  it('pays out every positive payout balance of the client in full, one payout per currency', async () => {
    await fund('rq-multi', 50_000n, 'RUB');
    await fund('rq-multi', 1_234n, 'USD');
    await fund('rq-multi', 777n, 'RUB', 'bonus'); // not a payout account: stays where it is
    const { request } = await record('rq-multi', 'all');
    expect(await drain()).toBeGreaterThanOrEqual(1);

    const row = await requestRow(request.id);
    expect(row).toMatchObject({ status: 'DONE', error: null });
    expect(row.processed_at).not.toBeNull();
    expect(await payoutsOf(request.id)).toEqual([
      { amount: 50_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-multi' },
      { amount: 1_234n, currency: 'USD', status: 'CREATED', payee: 'rq-multi' },
    ]);
    expect(await balances('rq-multi')).toEqual({
      'bonus/RUB': 777n,
      'payout/RUB': 0n,
      'payout/USD': 0n,
      'payout-reserved/RUB': 50_000n,
      'payout-reserved/USD': 1_234n,
    });

    const response = await graphql(server.url, PayoutRequestDocument, { id: request.id }, tokenFor('driver', [client('rq-multi')]));
    expect(response.errors).toBeUndefined();
    const seen = response.data!.payoutRequest!;
    expect(seen).toMatchObject({ id: request.id, clientId: 'rq-multi', idempotencyKey: 'all', status: 'DONE', error: null });
    expect(seen.processedAt).not.toBeNull();
    const [rub, usd] = [...seen.payouts].sort((a, b) => a.amount.currency.localeCompare(b.amount.currency));
    const common = { status: 'CREATED', source: 'REQUEST', sourceRef: request.id, payee: { kind: 'CLIENT', id: 'rq-multi' } };
    expect(rub).toMatchObject({ ...common, amount: { minor: '50000', currency: 'RUB' } });
    expect(usd).toMatchObject({ ...common, amount: { minor: '1234', currency: 'USD' } });
    expect(seen.payouts).toHaveLength(2);
    expect(rub!.id).not.toBe(usd!.id);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('marks a request with nothing to pay DONE without payouts, and a second request after a payout pays nothing twice', async () => {
    await fund('rq-zero', 5_000n);
    await fund('rq-zero', -5_000n); // the account exists, its balance is zero
    const { request: empty } = await record('rq-zero', 'z-1');
    await fund('rq-twice', 3_000n);
    const { request: first } = await record('rq-twice', 't-1');
    await drain();
    const { request: second } = await record('rq-twice', 't-2');
    await drain();

    expect(await requestRow(empty.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(empty.id)).toEqual([]);
    expect(await requestRow(first.id)).toMatchObject({ status: 'DONE' });
    expect(await payoutsOf(first.id)).toEqual([{ amount: 3_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-twice' }]);
    expect(await requestRow(second.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(second.id)).toEqual([]);
    expect(await balances('rq-twice')).toMatchObject({ 'payout/RUB': 0n, 'payout-reserved/RUB': 3_000n });
  });

  it('takes at most `limit` requests per batch and leaves the rest NEW', async () => {
    await drain();
    for (let i = 0; i < 5; i++) {
      await fund(`rq-limit-${i}`, 100n);
      await record(`rq-limit-${i}`, 'l');
    }
    expect(await server.app.use(requestsModule).requests.processBatch(2)).toBe(2);
    expect(await newCount()).toBe(3);
    expect(await drain(2)).toBe(3);
    expect(await newCount()).toBe(0);
    expect(await server.app.use(requestsModule).requests.processBatch(2)).toBe(0);
  });

  it('marks a request that fails ERROR with the reason; the rest of the batch is DONE', async () => {
    await drain();
    await fund('rq-bad', 4_000n);
    await fund('rq-good-1', 1_000n);
    await fund('rq-good-2', 2_000n);
    const { request: good1 } = await record('rq-good-1', 'g');
    const { request: bad } = await record('rq-bad', 'b');
    const { request: good2 } = await record('rq-good-2', 'g');
    await squat(bad.id);

    expect(await server.app.use(requestsModule).requests.processBatch(10)).toBe(3);
    const failed = await requestRow(bad.id);
    expect(failed.status).toBe('ERROR');
    expect(failed.error).toMatch(/\S/);
    expect(await payoutsOf(bad.id)).toEqual([]);
    expect(await balances('rq-bad')).toEqual({ 'payout/RUB': 4_000n });
    expect(await requestRow(good1.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await requestRow(good2.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(good1.id)).toEqual([{ amount: 1_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-good-1' }]);
    expect(await payoutsOf(good2.id)).toEqual([{ amount: 2_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-good-2' }]);

    const response = await graphql(server.url, PayoutRequestDocument, { id: bad.id }, admin);
    expect(response.data?.payoutRequest).toMatchObject({ status: 'ERROR', error: failed.error, payouts: [] });
    // An ERROR request is not taken again by itself.
    expect(await server.app.use(requestsModule).requests.processBatch(10)).toBe(0);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('leaves what a failed request would have paid to the next request of the same client', async () => {
    await drain();
    await fund('rq-two-currencies', 3_000n, 'RUB');
    await fund('rq-two-currencies', 500n, 'USD');
    const { request: failing } = await record('rq-two-currencies', 'first');
    const { request: next } = await record('rq-two-currencies', 'second');
    // The first request pays RUB, then fails on USD: its RUB payout is rolled back with it.
    await squat(failing.id, 'USD');

    expect(await server.app.use(requestsModule).requests.processBatch(10)).toBe(2);
    expect(await requestRow(failing.id)).toMatchObject({ status: 'ERROR' });
    expect(await payoutsOf(failing.id)).toEqual([]);
    expect(await requestRow(next.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(next.id)).toEqual([
      { amount: 3_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-two-currencies' },
      { amount: 500n, currency: 'USD', status: 'CREATED', payee: 'rq-two-currencies' },
    ]);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});

describe('payoutRequests and retryPayoutRequest', () => {
  it('lists requests newest first, filtered by client and status, in pages with a total count', async () => {
    await drain();
    await fund('rq-list', 100n);
    await fund('rq-list-other', 100n);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await record('rq-list', `p-${i}`)).request.id);
    await record('rq-list-other', 'p-0');

    const list = (filter: PayoutRequestFilter, first?: number, after?: string) =>
      graphql(server.url, PayoutRequestsDocument, { filter, first, after }, admin);

    const pages: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 5; page++) {
      const response = await list({ clientId: 'rq-list' }, 2, after);
      expect(response.errors).toBeUndefined();
      const connection = response.data!.payoutRequests;
      expect(connection.totalCount).toBe(5);
      expect(connection.edges.map((e) => e.node.id)).toEqual(connection.nodes.map((n) => n.id));
      expect(connection.nodes.every((n) => n.clientId === 'rq-list')).toBe(true);
      pages.push(...connection.nodes.map((n) => n.id));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor!;
    }
    expect(pages).toEqual([...ids].reverse());

    const onlyNew = await list({ clientId: 'rq-list', status: ['NEW'] });
    expect(onlyNew.data?.payoutRequests.totalCount).toBe(5);
    // The oldest (taken first, while there is money to pay) fails; the others are DONE.
    await squat(ids[0]!);
    await drain();
    const done = await list({ clientId: 'rq-list', status: ['DONE'] });
    const errored = await list({ clientId: 'rq-list', status: ['ERROR'] });
    const either = await list({ clientId: 'rq-list', status: ['DONE', 'ERROR'] });
    expect(errored.data?.payoutRequests.nodes.map((n) => n.id)).toEqual([ids[0]]);
    expect(errored.data?.payoutRequests.totalCount).toBe(1);
    expect(done.data?.payoutRequests.totalCount).toBe(4);
    expect(done.data?.payoutRequests.nodes.map((n) => n.id).sort()).toEqual(ids.filter((id) => id !== ids[0]).sort());
    expect(either.data?.payoutRequests.totalCount).toBe(5);
    expect((await list({ clientId: 'rq-list', status: ['NEW'] })).data?.payoutRequests.totalCount).toBe(0);
    expect((await list({ clientId: 'rq-list-other' })).data?.payoutRequests.totalCount).toBe(1);
  });

  it('shows a dispatcher only the requests of their clients', async () => {
    await fund('rq-scope-1', 100n);
    await fund('rq-scope-2', 100n);
    await record('rq-scope-1', 's');
    await record('rq-scope-2', 's');
    const dispatcher = tokenFor('dispatcher', [client('rq-scope-1')]);
    const own = await graphql(server.url, PayoutRequestsDocument, { filter: { clientId: 'rq-scope-1' } }, dispatcher);
    expect(own.data?.payoutRequests.nodes.map((n) => n.clientId)).toEqual(['rq-scope-1']);
    const all = await graphql(server.url, PayoutRequestsDocument, { first: 100 }, dispatcher);
    expect(all.errors).toBeUndefined();
    expect(new Set(all.data!.payoutRequests.nodes.map((n) => n.clientId))).toEqual(new Set(['rq-scope-1']));
    // Asking for another client's requests is no error: the list is limited to what the token sees, so it is empty.
    const other = await graphql(server.url, PayoutRequestsDocument, { filter: { clientId: 'rq-scope-2' } }, dispatcher);
    expect(other.errors).toBeUndefined();
    expect(other.data!.payoutRequests).toMatchObject({ totalCount: 0, nodes: [] });
    // A token that names no client sees no requests at all.
    const noClients = await graphql(server.url, PayoutRequestsDocument, {}, tokenFor('dispatcher', []));
    expect(errorCodes(noClients)).toEqual(['FORBIDDEN']);
  });

  it('puts an ERROR request back to NEW for an admin, and it is processed once the cause is gone', async () => {
    await drain();
    await fund('rq-retry', 6_000n);
    const { request } = await record('rq-retry', 'r');
    const squatter = await squat(request.id);
    await drain();
    expect((await requestRow(request.id)).status).toBe('ERROR');

    for (const token of [tokenFor('service'), tokenFor('dispatcher', [client('rq-retry')])]) {
      expect(errorCodes(await graphql(server.url, RetryPayoutRequestDocument, { id: request.id }, token))).toEqual(['FORBIDDEN']);
    }
    expect(errorCodes(await graphql(server.url, RetryPayoutRequestDocument, { id: request.id }, null))).toEqual(['UNAUTHENTICATED']);
    expect((await requestRow(request.id)).status).toBe('ERROR');

    const retried = await graphql(server.url, RetryPayoutRequestDocument, { id: request.id }, admin);
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.retryPayoutRequest).toEqual({ id: request.id, status: 'NEW', error: null });
    expect(await requestRow(request.id)).toMatchObject({ status: 'NEW', error: null });

    // An operator frees the key; the next run of the gate pays the request.
    await server.app.orm.em.fork().execute("UPDATE payout SET idempotency_key = 'freed:' || id WHERE id = ?", [squatter]);
    expect(await drain()).toBe(1);
    expect(await requestRow(request.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(request.id)).toEqual([{ amount: 6_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-retry' }]);

    // Only ERROR can be retried.
    expect(errorCodes(await graphql(server.url, RetryPayoutRequestDocument, { id: request.id }, admin))).toEqual(['CONFLICT']);
    const { request: fresh } = await record('rq-retry', 'still-new');
    expect(errorCodes(await graphql(server.url, RetryPayoutRequestDocument, { id: fresh.id }, admin))).toEqual(['CONFLICT']);
    expect(errorCodes(await graphql(server.url, RetryPayoutRequestDocument, { id: '00000000-0000-4000-8000-000000000000' }, admin))).toEqual([
      'NOT_FOUND',
    ]);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('answers null for an unknown request id', async () => {
    const response = await graphql(server.url, PayoutRequestDocument, { id: '00000000-0000-4000-8000-000000000000' }, admin);
    expect(response.errors).toBeUndefined();
    expect(response.data?.payoutRequest).toBeNull();
  });
});

/**
 * The req-gate when part of a batch fails for a reason that is not the request's: a deadlock, a
 * debit that takes the money, the process dying between its two ways of settling a batch. Locks
 * are held by sessions of the test's own (plain pg clients), so each race is made to happen.
 */
describe('the req-gate under partial failures', () => {
  // Closing a session ends its transaction and lets go of its locks, even after a failed assertion.
  const sessions: Client[] = [];
  afterEach(async () => {
    for (const session of sessions.splice(0)) await session.end().catch(() => {});
  });

  async function session(): Promise<Client> {
    const client = new Client({ connectionString: server.env.DATABASE_URL });
    await client.connect();
    sessions.push(client);
    return client;
  }

  async function accountId(clientId: string, type: string): Promise<string> {
    const rows = await server.app.use(ledgerModule).ledger.accountIds(server.app.orm.em.fork(), [
      { owner: { kind: 'CLIENT', id: clientId }, type, currency: 'RUB' },
    ]);
    return rows[0]!;
  }

  /** Sessions of this database, other than the given ones, waiting for a lock; with what they are running. */
  async function waitingForLock(besides: Client[]): Promise<{ pid: number; query: string }[]> {
    const pids = await Promise.all(besides.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    return server.app.orm.em
      .fork()
      .execute<{ pid: number; query: string }[]>(
        `SELECT pid, query FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND NOT (pid = ANY (?::int[]))`,
        [`{${pids.join(',')}}`],
      );
  }

  async function untilGateWaits(besides: Client[]): Promise<{ pid: number; query: string }> {
    const [waiting] = await waitFor(() => waitingForLock(besides), (rows) => rows.length > 0, 10_000);
    if (!waiting) throw new Error('the req-gate never waited for the lock the test holds');
    return waiting;
  }

  const lockRow = (client: Client, id: string) => client.query('SELECT 1 FROM ledger_account WHERE id = $1 FOR UPDATE', [id]);

  async function requestRows(ids: string[]) {
    const rows = await server.app.orm.em
      .fork()
      .execute<{ id: string; status: string; attempts: number }[]>('SELECT id, status, attempts FROM payout_request WHERE id IN (?)', [ids]);
    return ids.map((id) => rows.find((row) => row.id === id)!).map(({ status, attempts }) => ({ status, attempts }));
  }

  /** Requests for clients funded with 1 000, 2 000, …: recorded in this order, so the gate takes them in it. */
  async function fundedRequests(prefix: string, count: number): Promise<{ clients: string[]; ids: string[] }> {
    await drain();
    const clients = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    for (const [i, clientId] of clients.entries()) await fund(clientId, BigInt(1_000 * (i + 1)));
    const ids: string[] = [];
    for (const clientId of clients) ids.push((await record(clientId, 'k')).request.id);
    return { clients, ids };
  }

  it('leaves the whole batch NEW when it deadlocks in the batch path, and the next run settles it', async () => {
    const { clients, ids } = await fundedRequests('rq-deadlock', 3);
    const victim = clients[1]!;
    const [available, reserved] = [await accountId(victim, 'payout'), await accountId(victim, 'payout-reserved')];

    // The test holds the victim's reserved account; the gate takes its available balance and waits
    // for the reserved one; the test then asks for the available one: a real deadlock.
    const other = await session();
    await other.query('BEGIN');
    await lockRow(other, reserved);
    const batch = server.app.use(requestsModule).requests.processBatch(10).then(
      (taken) => ({ taken }),
      (error: unknown) => ({ error }),
    );
    await untilGateWaits([other]);
    await lockRow(other, available); // granted once PostgreSQL has picked the gate as the deadlock's victim
    await other.query('ROLLBACK');

    const outcome = await batch;
    expect(outcome, 'the batch should have failed as a deadlock').toHaveProperty('error');
    expect(sqlState((outcome as { error: unknown }).error)).toBe('40P01');
    // Not the requests' fault: none is ERROR or counted as tried, nothing was paid.
    expect(await requestRows(ids)).toEqual(ids.map(() => ({ status: 'NEW', attempts: 0 })));
    for (const id of ids) expect(await payoutsOf(id)).toEqual([]);
    expect(await balances(victim)).toMatchObject({ 'payout/RUB': 2_000n, 'payout-reserved/RUB': 0n });

    expect(await drain()).toBe(3);
    expect(await requestRows(ids)).toEqual(ids.map(() => ({ status: 'DONE', attempts: 1 })));
    for (const [i, id] of ids.entries()) {
      expect(await payoutsOf(id)).toEqual([{ amount: BigInt(1_000 * (i + 1)), currency: 'RUB', status: 'CREATED', payee: clients[i] }]);
    }
    expect(await server.app.checkLedger()).toEqual([]);
  });

  /**
   * Drives a batch into its request-by-request retry (one request's key is squatted, which fails
   * the batch path) and stops it there: the retry waits for the last client's reserved account,
   * which a test session took as the batch path let go of it. Returns that session and the gate's
   * session, with the retry in the middle of its work (the first request settled, the second ERROR).
   */
  async function stopInsideTheRetry(ids: string[], clients: string[]) {
    const last = clients.at(-1)!;
    const reserved = await accountId(last, 'payout-reserved');
    await squat(ids[1]!);
    const first = await session();
    const second = await session();
    await first.query('BEGIN');
    await lockRow(first, reserved);
    const batch = server.app.use(requestsModule).requests.processBatch(10).then(
      (taken) => ({ taken }),
      (error: unknown) => ({ error }),
    );
    // The batch path waits for the reserved account; the second session queues behind it.
    await untilGateWaits([first, second]);
    await second.query('BEGIN');
    const secondHasIt = lockRow(second, reserved);
    await waitFor(() => waitingForLock([first]), (rows) => rows.length === 2, 10_000);
    // Let the batch path go on and fail; the second session takes the account before the retry needs it.
    await first.query('ROLLBACK');
    await secondHasIt;
    const gate = await untilGateWaits([first, second]);
    expect(gate.query).toMatch(/INSERT INTO payout /); // creating (and reserving) a payout
    return { holder: second, gate, batch };
  }

  it('leaves the whole batch NEW when it deadlocks in the request-by-request retry, undoing what the retry had settled', async () => {
    const { clients, ids } = await fundedRequests('rq-deadlock-retry', 3);
    const last = clients.at(-1)!;
    const { holder, batch } = await stopInsideTheRetry(ids, clients);
    await lockRow(holder, await accountId(last, 'payout')); // the deadlock: the gate holds this one
    await holder.query('ROLLBACK');

    const outcome = await batch;
    expect(outcome, 'the batch should have failed as a deadlock').toHaveProperty('error');
    expect(sqlState((outcome as { error: unknown }).error)).toBe('40P01');
    // The first request's payout and the second's ERROR went with the retry's transaction.
    expect(await requestRows(ids)).toEqual(ids.map(() => ({ status: 'NEW', attempts: 0 })));
    for (const id of ids) expect(await payoutsOf(id)).toEqual([]);

    expect(await drain()).toBe(3);
    expect(await requestRows(ids)).toEqual([
      { status: 'DONE', attempts: 1 },
      { status: 'ERROR', attempts: 1 },
      { status: 'DONE', attempts: 1 },
    ]);
    expect(await payoutsOf(ids[0]!)).toEqual([{ amount: 1_000n, currency: 'RUB', status: 'CREATED', payee: clients[0] }]);
    expect(await payoutsOf(ids[2]!)).toEqual([{ amount: 3_000n, currency: 'RUB', status: 'CREATED', payee: clients[2] }]);
    expect(await balances(clients[1]!)).toMatchObject({ 'payout/RUB': 2_000n });
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('loses and repeats nothing when the process dies after the batch path failed, in the middle of the retry', async () => {
    const { clients, ids } = await fundedRequests('rq-crash-retry', 3);
    const { holder, gate, batch } = await stopInsideTheRetry(ids, clients);
    // The process dies: to the database, its connection is gone in the middle of the transaction.
    await holder.query('SELECT pg_terminate_backend($1)', [gate.pid]);
    const outcome = await batch;
    expect(outcome).toHaveProperty('error');
    await holder.query('ROLLBACK');

    // As if the batch had never been taken.
    expect(await requestRows(ids)).toEqual(ids.map(() => ({ status: 'NEW', attempts: 0 })));
    for (const id of ids) expect(await payoutsOf(id)).toEqual([]);
    for (const [i, clientId] of clients.entries()) expect(await balances(clientId)).toMatchObject({ 'payout/RUB': BigInt(1_000 * (i + 1)) });

    // The next run (here, on a fresh connection of the same pool) settles each request once.
    expect(await drain()).toBe(3);
    expect(await requestRows(ids)).toEqual([
      { status: 'DONE', attempts: 1 },
      { status: 'ERROR', attempts: 1 },
      { status: 'DONE', attempts: 1 },
    ]);
    expect(await payoutsOf(ids[0]!)).toEqual([{ amount: 1_000n, currency: 'RUB', status: 'CREATED', payee: clients[0] }]);
    expect(await payoutsOf(ids[1]!)).toEqual([]);
    expect(await payoutsOf(ids[2]!)).toEqual([{ amount: 3_000n, currency: 'RUB', status: 'CREATED', payee: clients[2] }]);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('marks a request ERROR when its money is gone by the time its payout reserves it; the rest of the batch, and the client’s next request, are paid', async () => {
    await drain();
    await fund('rq-short', 5_000n);
    await fund('rq-short-other', 700n);
    const { request: short } = await record('rq-short', 'first');
    const { request: other } = await record('rq-short-other', 'k');
    const { request: next } = await record('rq-short', 'second');
    // Inside the gate's transaction, just before the first request's payout reserves it, a debit
    // takes the client's balance (as a debit slipping between reading and reserving would).
    const em = server.app.orm.em.fork();
    await em.execute(`
      CREATE FUNCTION test_take_balance() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM ledger_post('test-take:' || NEW.id, NEW.account_id,
                            (SELECT id FROM ledger_account WHERE owner_kind = 'SYSTEM' AND type = 'world' AND currency = 'RUB'),
                            1, 'RUB', 'test', NULL);
        RETURN NEW;
      END $$`);
    await em.execute(`CREATE TRIGGER test_take_balance BEFORE INSERT ON payout FOR EACH ROW
                        WHEN (NEW.payee_id = 'rq-short' AND NEW.source_ref = '${short.id}') EXECUTE FUNCTION test_take_balance()`);
    try {
      expect(await server.app.use(requestsModule).requests.processBatch(10)).toBe(3);
    } finally {
      await em.execute('DROP TRIGGER test_take_balance ON payout');
      await em.execute('DROP FUNCTION test_take_balance()');
    }
    const failed = await requestRow(short.id);
    expect(failed.status).toBe('ERROR');
    expect(failed.error).toBe(new InsufficientFundsError().message);
    expect(await payoutsOf(short.id)).toEqual([]);
    expect(await requestRow(other.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(other.id)).toEqual([{ amount: 700n, currency: 'RUB', status: 'CREATED', payee: 'rq-short-other' }]);
    // The failed request's money was not counted as paid: the client's next request in the batch took it.
    expect(await requestRow(next.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(next.id)).toEqual([{ amount: 5_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-short' }]);
    expect(await balances('rq-short')).toMatchObject({ 'payout/RUB': 0n, 'payout-reserved/RUB': 5_000n });
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('pays what is left when a debit commits while the gate waits for the balance', async () => {
    await drain();
    await fund('rq-debit-first', 10_000n);
    const { request } = await record('rq-debit-first', 'k');
    const debit = await session();
    await debit.query('BEGIN');
    const available = await accountId('rq-debit-first', 'payout');
    const world = (await debit.query<{ id: string }>("SELECT id FROM ledger_account WHERE owner_kind = 'SYSTEM' AND type = 'world' AND currency = 'RUB'")).rows[0]!.id;
    await debit.query(`SELECT ledger_post('test-debit-first', $1, $2, 6000, 'RUB', 'test', NULL)`, [available, world]);
    const batch = server.app.use(requestsModule).requests.processBatch(10);
    await untilGateWaits([debit]);
    await debit.query('COMMIT');
    expect(await batch).toBe(1);
    expect(await requestRow(request.id)).toMatchObject({ status: 'DONE', error: null });
    expect(await payoutsOf(request.id)).toEqual([{ amount: 4_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-debit-first' }]);
    expect(await balances('rq-debit-first')).toMatchObject({ 'payout/RUB': 0n, 'payout-reserved/RUB': 4_000n });
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('holds the balance it read until its payout is reserved: a debit racing it waits and finds nothing left', async () => {
    await drain();
    await fund('rq-gate-first', 10_000n);
    const { request } = await record('rq-gate-first', 'k');
    // Keep the gate in the middle of its batch: it has read and locked the balance, and waits to reserve it.
    const holder = await session();
    await holder.query('BEGIN');
    await lockRow(holder, await accountId('rq-gate-first', 'payout-reserved'));
    const batch = server.app.use(requestsModule).requests.processBatch(10);
    await untilGateWaits([holder]);
    const debit = server.app.orm.em.fork().transactional((em) =>
      server.app.use(accrualsModule).accruals.apply(
        em,
        { payee: client('rq-gate-first'), account: 'payout', amount: -6_000n, currency: 'RUB', reference: 'racing-debit', occurredAt: new Date() },
        'MANUAL',
      ),
    );
    const settled = debit.then(
      () => 'applied',
      (error: unknown) => error,
    );
    await waitFor(() => waitingForLock([holder]), (rows) => rows.length === 2, 10_000);
    await holder.query('ROLLBACK');

    expect(await batch).toBe(1);
    expect(await settled).toBeInstanceOf(InsufficientFundsError);
    expect(await payoutsOf(request.id)).toEqual([{ amount: 10_000n, currency: 'RUB', status: 'CREATED', payee: 'rq-gate-first' }]);
    expect(await balances('rq-gate-first')).toMatchObject({ 'payout/RUB': 0n, 'payout-reserved/RUB': 10_000n });
    expect(await server.app.checkLedger()).toEqual([]);
  });
});
