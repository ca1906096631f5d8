import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverStatus } from '../src/parks/driver';
import { parksModule } from '../src/parks/module';
import { topupsModule } from '../src/topups/module';
import type { TransactionRow } from '../src/topups/transaction';
import { creditJobKey, type AcceptResult } from '../src/topups/topups';
import { walletsModule } from '../src/wallets/module';
import type { WalletRow } from '../src/wallets/wallet';
import {
  CreateWalletDocument,
  ExportTransactionsDocument,
  TransactionExportDocument,
  TransactionsDocument,
  UpdateWalletDocument,
  UpsertParkDocument,
} from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';

const admin = tokenFor('admin');
const dispatcherOf = (parkId: string) => tokenFor('dispatcher', [{ kind: 'PARK', id: parkId }]);
const env = { WALLET_KEYS: `k1:${randomBytes(32).toString('base64')}` };

async function upsertPark(server: TestServer, id: string, timezone = 'Europe/Moscow') {
  const response = await graphql(
    server.url,
    UpsertParkDocument,
    { input: { id, name: `Park ${id}`, currency: 'RUB', email: null, timezone, status: 'ACTIVE', reason: 'test set-up' } },
    admin,
  );
  expect(response.errors).toBeUndefined();
}

let versions = 0;
async function upsertDriver(server: TestServer, parkId: string, driverId: string, status: DriverStatus = 'WORKING', phone: string | null = null) {
  const { drivers } = server.app.use(parksModule);
  await server.app.orm.em.fork().transactional((em) =>
    drivers.upsert(em, { parkId, driverId, name: `Driver ${driverId}`, phone, status, occurredAt: new Date(Date.UTC(2026, 0, 1) + ++versions * 1000) }),
  );
}

async function createWallet(server: TestServer, parkId: string, fields: { minAmount?: string; maxAmount?: string } = {}): Promise<WalletRow> {
  const response = await graphql(
    server.url,
    CreateWalletDocument,
    { input: { parkId, paymentSystem: 'PAYSTACK', title: 'Paystack', currency: 'RUB', credentials: { secretKey: 'sk_test_0123456789abcdef' }, ...fields } },
    dispatcherOf(parkId),
  );
  expect(response.errors).toBeUndefined();
  const { wallets } = server.app.use(walletsModule);
  return (await wallets.find(server.app.orm.em.fork(), response.data!.createWallet.id))!;
}

async function balanceOf(server: TestServer, parkId: string, driverId: string): Promise<bigint> {
  const [row] = await server.app.orm.em
    .fork()
    .execute<{ balance: string }[]>(`SELECT balance FROM ledger_account WHERE owner_kind = 'DRIVER' AND owner_id = ? AND type = 'balance' AND currency = 'RUB'`, [
      `${parkId}/${driverId}`,
    ]);
  return BigInt(row?.balance ?? 0);
}

describe('top-ups through the core: check, accept, credit', () => {
  let server: TestServer;
  let wallet: WalletRow;
  const em = () => server.app.orm.em.fork();
  const core = () => server.app.use(topupsModule).topups;

  beforeAll(async () => {
    // No worker: the test runs the credit job's work itself, at the moment it chooses.
    server = await startTestServer({}, { env });
    await upsertPark(server, 'tp');
    await upsertDriver(server, 'tp', 'd1', 'WORKING', '79990001122');
    await upsertDriver(server, 'tp', 'fired', 'FIRED');
    wallet = await createWallet(server, 'tp', { minAmount: '100', maxAmount: '1000000' });
  });
  afterAll(async () => server?.close());

  it('checks the account: a working driver by id or phone; refusals for anyone else', async () => {
    expect(await core().check(em(), wallet, 'd1')).toMatchObject({ ok: true, driver: { id: 'd1' } });
    expect(await core().check(em(), wallet, '+7 999 000-11-22')).toMatchObject({ ok: true, driver: { id: 'd1' } });
    expect(await core().check(em(), wallet, 'nobody')).toMatchObject({ ok: false, refusal: 'UNKNOWN_DRIVER' });
    expect(await core().check(em(), wallet, 'fired')).toMatchObject({ ok: false, refusal: 'DRIVER_FIRED' });
    expect(await core().check(em(), wallet, 'd1', 99n)).toMatchObject({ ok: false, refusal: 'AMOUNT_TOO_SMALL' });
    expect(await core().check(em(), wallet, 'd1', 1_000_001n)).toMatchObject({ ok: false, refusal: 'AMOUNT_TOO_LARGE' });
  });

  it('accepts once per externalId with no job of its own (the credit gate finds it), credits once, and answers a repeat with the same transaction', async () => {
    const first = await core().accept(em(), wallet, 'ps-1', 'd1', 50_000n);
    expect(first).toMatchObject({ created: true, refusal: null, transaction: { status: 'ACCEPTED', amount: 50_000n, driver_id: 'd1' } });
    const [job] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'topup__credit'`);
    expect(Number(job!.n)).toBe(0);
    expect(await core().countAccepted(em())).toBe(1);
    const again = await core().accept(em(), wallet, 'ps-1', '79990001122', 50_000n);
    expect(again).toMatchObject({ created: false, transaction: { id: first.transaction!.id } });

    const credited = await core().credit(em(), wallet.id, 'ps-1');
    expect(credited).toMatchObject({ status: 'PROCESSED', reason: null });
    expect(credited!.processed_at).toBeInstanceOf(Date);
    // The job run twice (a retry after a lost acknowledgement) changes nothing.
    await core().credit(em(), wallet.id, 'ps-1');
    expect(await balanceOf(server, 'tp', 'd1')).toBe(50_000n);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it("takes a callback's new payment without an EntityManager, and makes one only for a repeat or a refusal", async () => {
    // A driver of its own: the later tests' balances of d1 stay theirs.
    await upsertDriver(server, 'tp', 'cb');
    let made = 0;
    const onDemand = () => {
      made += 1;
      return em();
    };
    const fresh = await core().acceptOutsideTransaction(onDemand, wallet, 'cb-1', 'cb', 7_000n);
    expect(fresh).toMatchObject({ created: true, refusal: null, transaction: { status: 'ACCEPTED', amount: 7_000n } });
    expect(made).toBe(0);
    const repeat = await core().acceptOutsideTransaction(onDemand, wallet, 'cb-1', 'cb', 7_000n);
    expect(repeat).toMatchObject({ created: false, transaction: { id: fresh.transaction!.id } });
    expect(made).toBe(1);
    const fired = await core().acceptOutsideTransaction(onDemand, wallet, 'cb-2', 'fired', 7_000n);
    expect(fired).toMatchObject({ created: true, refusal: 'DRIVER_FIRED', transaction: { status: 'REJECTED' } });
    expect(made).toBe(2);
    await expect(core().acceptOutsideTransaction(onDemand, wallet, 'cb 3', 'cb', 7_000n)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('finds a payer by index however many drivers the park has, in the generic plan a prepared statement settles on', async () => {
    await upsertPark(server, 'big');
    // Statistics from before the park's drivers arrived (a fleet imported today; autovacuum not yet by):
    // they say a park has a driver or two.
    await em().execute('ANALYZE driver');
    await em().execute(
      `INSERT INTO driver (park_id, id, name, phone, status, version_at)
       SELECT 'big', 'b' || g, 'Driver ' || g, '7999' || lpad(g::text, 7, '0'), 'WORKING', now() FROM generate_series(1, 2000) g`,
    );
    const { drivers } = server.app.use(parksModule);
    expect(await drivers.findPayable(em(), 'big', 'b1500')).toMatchObject({ driver: { id: 'b1500' }, parkStatus: 'ACTIVE' });
    expect(await drivers.findPayable(em(), 'big', '+7 999 000-15-00')).toMatchObject({ driver: { id: 'b1500' } });

    /** Rows of `driver` the plan read (returned, or read and then filtered out), over all its loops. */
    const driverRowsRead = (node: PlanNode): number =>
      (node['Relation Name'] === 'driver'
        ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops']
        : 0) + (node.Plans ?? []).reduce((sum, child) => sum + driverRowsRead(child), 0);
    const readFor = (account: string, phone: string) =>
      em().transactional(async (tx) => {
        await tx.execute('SET LOCAL plan_cache_mode = force_generic_plan');
        await tx.execute(`PREPARE payable_plan (text, text, text) AS ${drivers.payableSql('$1', '$2', '$3')}`);
        try {
          const [row] = await tx.execute<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
            `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE payable_plan ('big', '${account}', '${phone}')`,
          );
          return driverRowsRead(row!['QUERY PLAN'][0].Plan);
        } finally {
          await tx.execute('DEALLOCATE payable_plan');
        }
      });
    expect(await readFor('b1500', '')).toBeLessThanOrEqual(2);
    // By phone, once the statistics have caught up (with these, a park of a driver or two makes
    // reading the park as cheap, to the planner, as the phone index).
    await em().execute('ANALYZE driver');
    expect(await readFor('+79990001500', '79990001500')).toBeLessThanOrEqual(2);
  });

  it('records the payments of callers at the same moment in one statement, each answered as if alone', async () => {
    const results = await Promise.all([
      core().accept(em(), wallet, 'together-1', 'd1', 1_000n),
      core().accept(em(), wallet, 'together-2', '79990001122', 2_000n),
      core().accept(em(), wallet, 'together-3', 'fired', 3_000n),
      core().accept(em(), wallet, 'together-1', 'd1', 1_000n),
      core().accept(em(), wallet, 'together-4', 'nobody', 4_000n),
    ]);
    expect(results[1]).toMatchObject({ created: true, refusal: null, transaction: { status: 'ACCEPTED', driver_id: 'd1', amount: 2_000n } });
    // The row a caller gets is the row as stored, every column (the statement returns only what the database chose).
    expect(results[1]!.transaction).toEqual(await core().find(em(), wallet.id, 'together-2'));
    expect(results[2]).toMatchObject({ created: true, refusal: 'DRIVER_FIRED', transaction: { status: 'REJECTED' } });
    expect(results[4]).toEqual({ transaction: null, refusal: 'UNKNOWN_DRIVER', created: false });
    // The same payment twice at once: one transaction, new to one caller only.
    expect([results[0]!.created, results[3]!.created].sort()).toEqual([false, true]);
    expect(results[0]!.transaction!.id).toBe(results[3]!.transaction!.id);
    // The new ones nothing refused were committed together.
    const [together] = await em().execute<{ n: string }[]>(
      `SELECT count(DISTINCT xmin::text) AS n FROM topup_transaction WHERE external_id IN ('together-1', 'together-2')`,
    );
    expect(Number(together!.n)).toBe(1);
    const jobs = await em().execute<{ key: string }[]>(`SELECT key FROM graphile_worker.jobs WHERE key LIKE ? ORDER BY key`, [`%:together-%`]);
    expect(jobs, 'no job per payment: the credit gate finds them').toEqual([]);
  });

  it('credits with the gate the ACCEPTED top-ups no job of their own holds, and gives one that fails a job of its own', async () => {
    await core().creditAccepted(em(), 1000, 60); // what earlier tests left ACCEPTED
    await core().accept(em(), wallet, 'gate-1', 'd1', 1_000n);
    await core().accept(em(), wallet, 'gate-2', 'd1', 2_000n);
    await core().accept(em(), wallet, 'gate-fails', 'd1', 4_000n);
    // Booked its own job in the caller's transaction: that job credits it, not the gate.
    await em().transactional((tx) => core().accept(tx, wallet, 'gate-own', 'd1', 8_000n));
    await em().execute(`CREATE FUNCTION test_credit_fails() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.external_id = 'gate-fails' AND NEW.status = 'PROCESSED' THEN RAISE EXCEPTION 'the ledger is unreachable'; END IF; RETURN NEW; END $$`);
    await em().execute(`CREATE TRIGGER test_credit_fails BEFORE UPDATE ON topup_transaction FOR EACH ROW EXECUTE FUNCTION test_credit_fails()`);
    const before = await balanceOf(server, 'tp', 'd1');
    try {
      // The three together fail on the one; then each alone: two credited, the one given its own job.
      expect(await core().creditAccepted(em(), 1000, 60)).toEqual({ found: 3, failed: 1, togetherFailed: expect.objectContaining({ message: expect.stringContaining('the ledger is unreachable') }) });
      const status = async (externalId: string) => (await core().find(em(), wallet.id, externalId))!.status;
      expect([await status('gate-1'), await status('gate-2'), await status('gate-fails'), await status('gate-own')]).toEqual(['PROCESSED', 'PROCESSED', 'ACCEPTED', 'ACCEPTED']);
      expect((await balanceOf(server, 'tp', 'd1')) - before).toBe(3_000n);
      // The one that failed now has its own job (retried with backoff): the gate leaves it to that job.
      const [fails] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'gate-fails')]);
      expect(Number(fails!.n)).toBe(1);
      expect(await core().creditAccepted(em(), 1000, 60)).toEqual({ found: 0, failed: 0 });
    } finally {
      await em().execute(`DROP TRIGGER test_credit_fails ON topup_transaction; DROP FUNCTION test_credit_fails()`);
    }
    // A job held by a worker that died long ago: the gate takes its top-up back.
    await em().execute(`UPDATE graphile_worker._private_jobs SET locked_at = now() - interval '10 minutes', locked_by = 'killed-worker' WHERE key = ?`, [
      creditJobKey(wallet.id, 'gate-own'),
    ]);
    expect(await core().creditAccepted(em(), 1000, 60)).toEqual({ found: 1, failed: 0 });
    expect((await core().find(em(), wallet.id, 'gate-own'))!.status).toBe('PROCESSED');
    expect((await balanceOf(server, 'tp', 'd1')) - before).toBe(11_000n);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('books the credit in the caller’s transaction when it holds one: rolled back, neither row nor job', async () => {
    const inside = await em().transactional(async (tx) => {
      const result = await core().accept(tx, wallet, 'ps-in-tx', 'd1', 2_000n);
      const [job] = await tx.execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'ps-in-tx')]);
      expect(Number(job!.n), 'booked before the commit, in the same transaction').toBe(1);
      return result;
    });
    expect(inside).toMatchObject({ created: true, transaction: { status: 'ACCEPTED' } });
    await expect(
      em().transactional(async (tx) => {
        await core().accept(tx, wallet, 'ps-rolled-back', 'd1', 2_000n);
        throw new Error('the caller changed its mind');
      }),
    ).rejects.toThrow('the caller changed its mind');
    expect(await core().find(em(), wallet.id, 'ps-rolled-back')).toBeNull();
    const [job] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'ps-rolled-back')]);
    expect(Number(job!.n)).toBe(0);
  });

  it('books a job of its own for a top-up the credit gate has not credited in time (the gate dead or behind)', async () => {
    await core().creditAccepted(em(), 1000, 60); // what earlier tests left ACCEPTED
    await core().accept(em(), wallet, 'ps-unbooked', 'd1', 3_000n);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await core().rebookOverdue(em(), 1)).toBe(1);
    const [job] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'ps-unbooked')]);
    expect(Number(job!.n)).toBe(1);
  });

  it('books the credit again when the worker that held its job was killed, and credits once', async () => {
    await core().creditAccepted(em(), 1000, 60); // what earlier tests left ACCEPTED
    // In a caller's transaction: its own job, booked with the row.
    await em().transactional((tx) => core().accept(tx, wallet, 'ps-killed', 'd1', 1_000n));
    // What a SIGKILLed worker leaves behind: its job locked, for hours, by a worker that is gone.
    await em().execute(`UPDATE graphile_worker._private_jobs SET locked_at = now() - interval '10 minutes', locked_by = 'killed-worker' WHERE key = ?`, [
      creditJobKey(wallet.id, 'ps-killed'),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await core().rebookOverdue(em(), 1)).toBe(1);
    const jobs = await em().execute<{ locked_at: Date | null }[]>(`SELECT locked_at FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'ps-killed')]);
    expect(jobs).toEqual([{ locked_at: null }]);
    // Booked again while a live job exists: nothing more.
    expect(await core().rebookOverdue(em(), 1)).toBe(0);
    const before = await balanceOf(server, 'tp', 'd1');
    await core().credit(em(), wallet.id, 'ps-killed');
    await core().credit(em(), wallet.id, 'ps-killed');
    expect((await balanceOf(server, 'tp', 'd1')) - before).toBe(1_000n);
  });

  it('books the sweep\'s jobs past older top-ups that have a live job of their own, however many', async () => {
    await core().creditAccepted(em(), 1000, 60); // what earlier tests left without a job
    await em().transactional((tx) => core().accept(tx, wallet, 'sweep-held', 'd1', 1_000n));
    await core().accept(em(), wallet, 'sweep-free', 'd1', 1_000n);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // A limit of one: the older top-ups with live jobs (these tests left several) do not use it up.
    expect(await core().rebookOverdue(em(), 1, 1)).toBe(1);
    const [job] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'sweep-free')]);
    expect(Number(job!.n)).toBe(1);
    expect(await core().rebookOverdue(em(), 1, 1)).toBe(0);
  });

  it('rejects at once a fired driver or an amount out of bounds, and names no transaction for an unknown account', async () => {
    expect(await core().accept(em(), wallet, 'ps-2', 'fired', 500n)).toMatchObject({ created: true, refusal: 'DRIVER_FIRED', transaction: { status: 'REJECTED', reason: 'DRIVER_FIRED' } });
    expect(await core().accept(em(), wallet, 'ps-3', 'd1', 10n)).toMatchObject({ refusal: 'AMOUNT_TOO_SMALL', transaction: { status: 'REJECTED' } });
    expect(await core().accept(em(), wallet, 'ps-4', 'nobody', 500n)).toEqual({ transaction: null, refusal: 'UNKNOWN_DRIVER', created: false });
    await expect(core().accept(em(), wallet, 'ps-5', 'd1', 0n)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('records a withdrawn payment once, REJECTED with no credit job: a later accept of it is the repeat of a refusal; a recorded one is never withdrawn', async () => {
    const withdrawn = await core().withdraw(em(), wallet, 'ps-w1', '79990001122', 900n);
    expect(withdrawn).toMatchObject({ status: 'REJECTED', reason: 'WITHDRAWN', driver_id: 'd1', amount: 900n });
    expect(await core().withdraw(em(), wallet, 'ps-w1', 'd1', 900n)).toMatchObject({ id: withdrawn!.id, reason: 'WITHDRAWN' });
    expect(await core().accept(em(), wallet, 'ps-w1', 'd1', 900n)).toMatchObject({ created: false, refusal: 'WITHDRAWN', transaction: { id: withdrawn!.id } });
    const [jobs] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(wallet.id, 'ps-w1')]);
    expect(Number(jobs!.n)).toBe(0);
    const accepted = await core().accept(em(), wallet, 'ps-w2', 'd1', 900n);
    expect(await core().withdraw(em(), wallet, 'ps-w2', 'd1', 900n)).toMatchObject({ id: accepted.transaction!.id, status: 'ACCEPTED' });
    expect(await core().withdraw(em(), wallet, 'ps-w3', 'nobody', 900n)).toBeNull();
  });

  it('credits what it accepted whatever changed after the accept (the driver fired, the wallet disabled): the payer has paid', async () => {
    const before = await balanceOf(server, 'tp', 'd1');
    await core().accept(em(), wallet, 'ps-6', 'd1', 700n);
    await core().accept(em(), wallet, 'ps-7', 'd1', 800n);
    await upsertDriver(server, 'tp', 'd1', 'FIRED', '79990001122');
    expect(await core().credit(em(), wallet.id, 'ps-6')).toMatchObject({ status: 'PROCESSED', reason: null });
    await upsertDriver(server, 'tp', 'd1', 'WORKING', '79990001122');
    const disabled = await graphql(server.url, UpdateWalletDocument, { input: { id: wallet.id, enabled: false } }, dispatcherOf('tp'));
    expect(disabled.errors).toBeUndefined();
    expect(await core().credit(em(), wallet.id, 'ps-7')).toMatchObject({ status: 'PROCESSED', reason: null });
    await graphql(server.url, UpdateWalletDocument, { input: { id: wallet.id, enabled: true } }, dispatcherOf('tp'));
    expect(await balanceOf(server, 'tp', 'd1')).toBe(before + 1_500n);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});

describe('the credit gate: many top-ups in one transaction', () => {
  let server: TestServer;
  let wallet: WalletRow;
  const em = () => server.app.orm.em.fork();
  const core = () => server.app.use(topupsModule).topups;
  const statusOf = async (externalId: string) => (await core().find(em(), wallet.id, externalId))!;

  beforeAll(async () => {
    server = await startTestServer({}, { env });
    await upsertPark(server, 'many');
    for (const driver of ['m1', 'm2', 'm3']) await upsertDriver(server, 'many', driver);
    wallet = await createWallet(server, 'many', { maxAmount: '50000' });
  });
  afterAll(async () => server?.close());

  it('credits every accepted top-up, a driver fired since included, all in one commit, with one transfer each', async () => {
    await core().accept(em(), wallet, 'many-1', 'm1', 1_000n);
    await core().accept(em(), wallet, 'many-2', 'm1', 2_000n);
    await core().accept(em(), wallet, 'many-3', 'm2', 4_000n);
    await core().accept(em(), wallet, 'many-fired', 'm3', 8_000n);
    await upsertDriver(server, 'many', 'm3', 'FIRED');

    expect(await core().creditAccepted(em(), 1000, 60)).toEqual({ found: 4, failed: 0 });
    const decided = await Promise.all(['many-1', 'many-2', 'many-3', 'many-fired'].map(statusOf));
    expect(decided.map((t) => [t.status, t.reason])).toEqual([
      ['PROCESSED', null],
      ['PROCESSED', null],
      ['PROCESSED', null],
      ['PROCESSED', null],
    ]);
    // now() is the transaction's start: one value for all of them is one transaction.
    expect(new Set(decided.map((t) => t.processed_at!.getTime())).size).toBe(1);
    expect([await balanceOf(server, 'many', 'm1'), await balanceOf(server, 'many', 'm2'), await balanceOf(server, 'many', 'm3')]).toEqual([3_000n, 4_000n, 8_000n]);
    const transfers = await em().execute<{ idempotency_key: string; amount: string }[]>(
      `SELECT idempotency_key, amount FROM ledger_transfer WHERE kind = 'TOPUP' ORDER BY amount`,
    );
    expect(transfers).toEqual(decided.map((t) => ({ idempotency_key: `topup:${t.id}`, amount: String(t.amount) })));
    expect(await core().creditAccepted(em(), 1000, 60)).toEqual({ found: 0, failed: 0 });
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('skips a top-up another transaction holds and one credited meanwhile: each is credited once', async () => {
    const held = (await core().accept(em(), wallet, 'held', 'm2', 100n)).transaction!;
    const free = (await core().accept(em(), wallet, 'free', 'm2', 200n)).transaction!;
    const already = (await core().accept(em(), wallet, 'already', 'm2', 400n)).transaction!;
    await core().credit(em(), wallet.id, 'already');
    const before = await balanceOf(server, 'many', 'm2');
    const keys = [held, free, already].map((t) => ({ walletId: t.wallet_id, externalId: t.external_id }));

    // Another credit of `held` is under way: its row is locked until that transaction ends.
    let release!: () => void;
    const holding = em().transactional(async (tx) => {
      await tx.execute('SELECT 1 FROM topup_transaction WHERE id = ? FOR UPDATE', [held.id]);
      await new Promise<void>((resolve) => (release = resolve));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const credited = await core().creditMany(em(), keys);
    expect(credited.map((t) => t.external_id)).toEqual(['free']);
    expect((await statusOf('held')).status).toBe('ACCEPTED');
    // The credit job of a top-up held that way does not wait for it: it returns it as it is.
    expect(await core().credit(em(), wallet.id, 'held')).toMatchObject({ external_id: 'held', status: 'ACCEPTED' });
    release();
    await holding;

    expect((await core().creditMany(em(), keys)).map((t) => t.external_id)).toEqual(['held']);
    expect((await balanceOf(server, 'many', 'm2')) - before).toBe(300n);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});

describe('top-ups with a worker: the job credits, 50 concurrent accepts are one transaction', () => {
  let server: TestServer;
  let wallet: WalletRow;
  beforeAll(async () => {
    server = await startTestServer({ worker: true }, { env });
    await upsertPark(server, 'race');
    await upsertDriver(server, 'race', 'd1');
    wallet = await createWallet(server, 'race');
  });
  afterAll(async () => server?.close());

  it('records one transaction and credits once', async () => {
    const { topups } = server.app.use(topupsModule);
    const results = await Promise.all(Array.from({ length: 50 }, () => topups.accept(server.app.orm.em.fork(), wallet, 'same-id', 'd1', 12_345n)));
    expect(new Set(results.map((r) => r.transaction!.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const done = await waitFor(
      () => topups.find(server.app.orm.em.fork(), wallet.id, 'same-id'),
      (tx) => tx?.status === 'PROCESSED',
    );
    expect(done!.status).toBe('PROCESSED');
    expect(await balanceOf(server, 'race', 'd1')).toBe(12_345n);
    const [transfers] = await server.app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM ledger_transfer WHERE kind = 'TOPUP'`);
    expect(Number(transfers!.n)).toBe(1);
    expect(await server.app.checkLedger()).toEqual([]);
  });

  it('a value PostgreSQL refuses fails only its own payment, not the others batched with it', async () => {
    const { topups } = server.app.use(topupsModule);
    const em = () => server.app.orm.em.fork();
    const good = Array.from({ length: 8 }, (_, i) => topups.acceptOutsideTransaction(em, wallet, `batch-good-${i}`, 'd1', 100n));
    // A NUL in text is refused by PostgreSQL (22021); the adapters refuse it first, this is the core's own guard.
    const bad = topups.acceptOutsideTransaction(em, wallet, 'batch-bad', 'd1\u0000', 100n);
    const [results, badResult] = await Promise.all([Promise.allSettled(good), Promise.allSettled([bad])]);
    expect(results.map((r) => r.status)).toEqual(Array(8).fill('fulfilled'));
    for (const r of results) expect((r as PromiseFulfilledResult<AcceptResult>).value).toMatchObject({ created: true, refusal: null, transaction: { status: 'ACCEPTED' } });
    expect(badResult[0]!.status).toBe('rejected');
    expect(await topups.find(em(), wallet.id, 'batch-bad')).toBeNull();
  });

  it('refuses a single top-up over TOPUP_AMOUNT_CEILING on a wallet with no bounds of its own, on both paths; the ceiling itself is taken', async () => {
    const { topups } = server.app.use(topupsModule);
    const em = () => server.app.orm.em.fork();
    expect(wallet.max_amount).toBeNull();
    expect(await topups.accept(em(), wallet, 'over-1', 'd1', 10_000_000_001n)).toMatchObject({ created: true, refusal: 'AMOUNT_TOO_LARGE', transaction: { status: 'REJECTED' } });
    expect(await topups.acceptOutsideTransaction(em, wallet, 'over-2', 'd1', 9_223_372_036_854_775_807n)).toMatchObject({ refusal: 'AMOUNT_TOO_LARGE', transaction: { status: 'REJECTED' } });
    expect(await topups.check(em(), wallet, 'd1', 10_000_000_001n)).toMatchObject({ ok: false, refusal: 'AMOUNT_TOO_LARGE' });
    expect(await topups.acceptOutsideTransaction(em, wallet, 'at-ceiling', 'd1', 10_000_000_000n)).toMatchObject({ created: true, refusal: null, transaction: { status: 'ACCEPTED' } });
  });
});

describe('the transaction list and its Excel export', () => {
  let server: TestServer;
  let mine: WalletRow;
  let theirs: WalletRow;
  const owner = dispatcherOf('lp');
  const stranger = dispatcherOf('lp-other');

  beforeAll(async () => {
    server = await startTestServer({ worker: true }, { env });
    await upsertPark(server, 'lp', 'Asia/Almaty');
    await upsertPark(server, 'lp-other');
    for (const d of ['a', 'b']) await upsertDriver(server, 'lp', d);
    await upsertDriver(server, 'lp-other', 'z');
    mine = await createWallet(server, 'lp');
    theirs = await createWallet(server, 'lp-other');
    const { topups } = server.app.use(topupsModule);
    const em = () => server.app.orm.em.fork();
    for (let i = 1; i <= 25; i++) await topups.accept(em(), mine, `m-${i}`, i % 2 ? 'a' : 'b', BigInt(i * 1001));
    await topups.accept(em(), theirs, 'o-1', 'z', 999n);
    await waitFor(() => topups.countAccepted(em()), (n) => n === 0);
  });
  afterAll(async () => server?.close());

  it('pages newest first with the count and the sums; filters by driver, status and amount', async () => {
    const first = await graphql(server.url, TransactionsDocument, { filter: { parkId: 'lp' }, first: 10 }, owner);
    expect(first.errors).toBeUndefined();
    const page = first.data!.transactions;
    expect(page.totalCount).toBe(25);
    const total = Array.from({ length: 25 }, (_, i) => (i + 1) * 1001).reduce((a, b) => a + b, 0);
    expect(page.sums).toEqual([{ minor: String(total), amount: (total / 100).toFixed(2), currency: 'RUB' }]);
    expect(page.nodes.map((n) => n.externalId)).toEqual(Array.from({ length: 10 }, (_, i) => `m-${25 - i}`));
    const next = await graphql(server.url, TransactionsDocument, { filter: { parkId: 'lp' }, first: 10, after: page.pageInfo.endCursor }, owner);
    expect(next.data!.transactions.nodes[0]!.externalId).toBe('m-15');

    const narrowed = await graphql(
      server.url,
      TransactionsDocument,
      { filter: { parkId: 'lp', driverId: 'b', status: ['PROCESSED'], minAmount: '5000', maxAmount: '10010', paymentSystem: ['PAYSTACK'], walletId: mine.id }, first: 50 },
      owner,
    );
    expect(narrowed.data!.transactions.nodes.map((n) => n.externalId)).toEqual(['m-10', 'm-8', 'm-6']);

    // A dispatcher without a filter sees only its parks; a driver only himself.
    const unfiltered = await graphql(server.url, TransactionsDocument, { first: 50 }, stranger);
    expect(unfiltered.data!.transactions.nodes.map((n) => n.externalId)).toEqual(['o-1']);
    const driver = await graphql(server.url, TransactionsDocument, { first: 50 }, tokenFor('driver', [{ kind: 'DRIVER', id: 'lp/b' }]));
    expect(driver.data!.transactions.totalCount).toBe(12);
    expect(new Set(driver.data!.transactions.nodes.map((n) => n.driverId))).toEqual(new Set(['b']));
  });

  it('exports the filtered transactions to an .xlsx that matches the database', async () => {
    const started = await graphql(server.url, ExportTransactionsDocument, { filter: { parkId: 'lp' } }, owner);
    expect(started.errors).toBeUndefined();
    expect(started.data!.exportTransactions).toMatchObject({ status: 'QUEUED', rows: 0, downloadUrl: null, timezone: 'Asia/Almaty' });
    const id = started.data!.exportTransactions.id;
    const done = await waitFor(
      async () => (await graphql(server.url, TransactionExportDocument, { id }, owner)).data!.transactionExport!,
      (exp) => exp.status === 'DONE' || exp.status === 'FAILED',
    );
    expect(done).toMatchObject({ status: 'DONE', rows: 25, downloadUrl: `/exports/${id}` });

    const response = await fetch(new URL(done.downloadUrl!, server.url), { headers: { authorization: `Bearer ${owner}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="transactions-lp-\d{4}-\d{2}-\d{2}\.xlsx"$/);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(Buffer.from(await response.arrayBuffer()) as any);
    const sheet = workbook.getWorksheet('Transactions')!;
    expect(String(sheet.getRow(1).getCell(1).value)).toContain('parkId=lp');
    expect(String(sheet.getRow(2).getCell(1).value)).toContain('Time zone: Asia/Almaty');
    expect(sheet.getRow(3).values).toContain('Amount');
    expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 3 });
    expect(sheet.autoFilter).toBeTruthy();

    const rows = await server.app.orm.em.fork().execute<TransactionRow[]>(`SELECT * FROM topup_transaction WHERE park_id = 'lp' ORDER BY id DESC`);
    expect(rows).toHaveLength(25);
    rows.forEach((db, i) => {
      const row = sheet.getRow(4 + i);
      const created = row.getCell(1).value as Date;
      expect(created).toBeInstanceOf(Date);
      // Almaty is UTC+5 (no DST): the wall clock shown is the instant plus five hours.
      expect(Math.abs(created.getTime() - (new Date(db.created_at).getTime() + 5 * 3_600_000))).toBeLessThan(1000);
      expect(row.getCell(4).value).toBe(db.driver_id);
      expect(row.getCell(6).value).toBe(db.external_id);
      expect(row.getCell(7).value).toBe(Number(db.amount) / 100);
      expect(row.getCell(7).numFmt).toBe('#,##0.00 "RUB"');
      expect(row.getCell(9).value).toBe(db.status);
    });
    const totals = sheet.getRow(4 + 25);
    expect(totals.getCell(1).value).toBe('Total');
    expect(totals.getCell(7).value).toBe(rows.reduce((sum, r) => sum + Number(r.amount), 0) / 100);
    expect(totals.getCell(8).value).toBe('RUB');
  });

  it('refuses every transaction and export operation on a park to a dispatcher of another', async () => {
    const started = await graphql(server.url, ExportTransactionsDocument, { filter: { parkId: 'lp' } }, owner);
    const id = started.data!.exportTransactions.id;
    await waitFor(
      async () => (await graphql(server.url, TransactionExportDocument, { id }, owner)).data!.transactionExport!.status,
      (status) => status === 'DONE',
    );
    expect(errorCodes(await graphql(server.url, TransactionsDocument, { filter: { parkId: 'lp' } }, stranger))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, ExportTransactionsDocument, { filter: { parkId: 'lp' } }, stranger))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await graphql(server.url, TransactionExportDocument, { id }, stranger))).toEqual(['FORBIDDEN']);
    const download = await fetch(new URL(`/exports/${id}`, server.url), { headers: { authorization: `Bearer ${stranger}` } });
    expect(download.status).toBe(403);
    const anonymous = await fetch(new URL(`/exports/${id}`, server.url));
    expect(anonymous.status).toBe(401);
    // An export of everything a dispatcher sees is not served to a dispatcher who sees less.
    const all = await graphql(server.url, ExportTransactionsDocument, {}, tokenFor('dispatcher', [{ kind: 'PARK', id: 'lp' }, { kind: 'PARK', id: 'lp-other' }]));
    expect(errorCodes(await graphql(server.url, TransactionExportDocument, { id: all.data!.exportTransactions.id }, owner))).toEqual(['FORBIDDEN']);
  });

  it('expires a finished export: the file is gone, the status says so', async () => {
    const started = await graphql(server.url, ExportTransactionsDocument, { filter: { parkId: 'lp', driverId: 'a' } }, owner);
    const id = started.data!.exportTransactions.id;
    await waitFor(
      async () => (await graphql(server.url, TransactionExportDocument, { id }, owner)).data!.transactionExport!.status,
      (status) => status === 'DONE',
    );
    await server.app.orm.em.fork().execute(`UPDATE transaction_export SET expires_at = now() - interval '1 second' WHERE id = ?`, [id]);
    expect((await graphql(server.url, TransactionExportDocument, { id }, owner)).data!.transactionExport!.status).toBe('EXPIRED');
    expect((await fetch(new URL(`/exports/${id}`, server.url), { headers: { authorization: `Bearer ${owner}` } })).status).toBe(404);
    expect(await server.app.use(topupsModule).exports.expire()).toBeGreaterThanOrEqual(1);
    const [chunks] = await server.app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM transaction_export_chunk WHERE export_id = ?`, [id]);
    expect(Number(chunks!.n)).toBe(0);
  });
});

/** The part of an `EXPLAIN (ANALYZE, FORMAT JSON)` plan node these tests read. */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}
