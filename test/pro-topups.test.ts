import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topupsModule } from '../src/topups/module';
import { walletsModule } from '../src/wallets/module';
import { creditJobKey } from '../src/topups/topups';
import { proTopUpsModule } from '../src/pro-topups/module';
import { POLL_MAX_ATTEMPTS, pollJobKey } from '../src/pro-topups/pro-topups';
import { topupRequestPoll } from '../src/pro-topups/topup_request__poll';
import type { TransactionRow } from '../src/topups/transaction';
import { CreateTopUpDocument, DeleteWalletDocument, UpdateWalletDocument } from './generated/graphql';
import { tokenFor } from './helpers/app';
import { startCallbackTestbed, type CallbackTestbed, type TestPark, type TestWallet } from './helpers/callbacks';
import { errorCodes, graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';
import { chargeSuccess, paystackSignature, PaystackStandIn, QiwiBillsStandIn } from './helpers/payment-apis';

/**
 * Top-ups from the Pro app, end to end: createTopUp over GraphQL with a driver's token, the
 * payment systems' APIs as local stand-ins that follow their published APIs, the worker polling
 * QIWI bills and the callback server taking Paystack's webhook over real HTTP; balances read
 * through GraphQL.
 */

const QIWI_KEY = 'qiwi-secret-key-0123456789abcdef';
const PAYSTACK_KEY = 'sk_test_0123456789abcdef0123456789';
/** Short enough for the TTL test, long enough for a bill to be paid after an outage. */
const BILL_TTL_MS = 6000;
/** When a Paystack top-up the webhook never credited is verified. */
const PAYSTACK_TTL_MS = 8000;

let bed: CallbackTestbed;
let qiwi: QiwiBillsStandIn;
let paystack: PaystackStandIn;

beforeAll(async () => {
  qiwi = await new QiwiBillsStandIn([QIWI_KEY]).start();
  paystack = await new PaystackStandIn([PAYSTACK_KEY]).start();
  bed = await startCallbackTestbed({
    env: {
      QIWI_API_URL: qiwi.url,
      PAYSTACK_API_URL: paystack.url,
      QIWI_BILL_TTL: `${BILL_TTL_MS}ms`,
      QIWI_POLL_INTERVAL: '300ms',
      PAYSTACK_TOPUP_TTL: `${PAYSTACK_TTL_MS}ms`,
      PAYMENT_API_TIMEOUT: '1s',
      PAYMENT_API_ATTEMPTS: '3',
      PAYMENT_API_BACKOFF: '50ms',
    },
  });
});
afterAll(async () => {
  await bed?.close();
  await qiwi?.close();
  await paystack?.close();
});

const driverToken = (park: TestPark, driverId = park.working.id) => tokenFor('driver', [{ kind: 'DRIVER', id: `${park.id}/${driverId}` }]);
let keys = 0;

async function createTopUp(park: TestPark, paymentSystem: 'QIWI' | 'PAYSTACK', amount: string, idempotencyKey = `key-${++keys}`, token = driverToken(park)) {
  return graphql(bed.server.url, CreateTopUpDocument, { input: { paymentSystem, amount, idempotencyKey } }, token);
}

async function transactionOf(walletId: string, externalId: string): Promise<TransactionRow> {
  return (await bed.server.app.use(topupsModule).topups.find(bed.server.app.orm.em.fork(), walletId, externalId))!;
}

/** Waits until the top-up leaves ACCEPTED (credited or rejected) and its credit job, if any, has run. */
async function finalOf(walletId: string, externalId: string, timeoutMs = 15_000): Promise<TransactionRow> {
  const row = await waitFor(() => transactionOf(walletId, externalId), (t) => t.status !== 'ACCEPTED', timeoutMs);
  await bed.settle();
  return row;
}

async function creditJobs(walletId: string, externalId: string): Promise<number> {
  const [row] = await bed.server.app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?`, [creditJobKey(walletId, externalId)]);
  return Number(row!.n);
}

describe('QIWI top-ups: a bill, polled', () => {
  let park: TestPark;
  let wallet: TestWallet;
  beforeAll(async () => {
    park = await bed.park({ currency: 'RUB' });
    wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
  });

  it('creates the bill with the wallet’s key, returns its payUrl, and the same key returns the same top-up', async () => {
    const first = await createTopUp(park, 'QIWI', '10045', 'same-key');
    expect(first.errors).toBeUndefined();
    const topUp = first.data!.createTopUp;
    expect(topUp.transaction).toMatchObject({ status: 'ACCEPTED', paymentSystem: 'QIWI', driverId: park.working.id, amount: { minor: '10045', currency: 'RUB' } });
    const bill = qiwi.bills.get(topUp.transaction.externalId)!;
    expect(topUp.payUrl).toBe(bill.payUrl);
    expect(bill.amount).toEqual({ currency: 'RUB', value: '100.45' });
    expect(bill.expirationDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    const put = qiwi.requests.find((r) => r.method === 'PUT' && r.path.endsWith(topUp.transaction.externalId))!;
    expect(put.authorization).toBe(`Bearer ${QIWI_KEY}`);

    const again = await createTopUp(park, 'QIWI', '10045', 'same-key');
    expect(again.data!.createTopUp).toEqual(topUp);
    expect(qiwi.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(topUp.transaction.externalId))).toHaveLength(1);
    const other = await createTopUp(park, 'QIWI', '20000', 'same-key');
    expect(errorCodes(other)).toEqual(['CONFLICT']);
    qiwi.setStatus(topUp.transaction.externalId, 'REJECTED');
    await finalOf(wallet.id, topUp.transaction.externalId);
  });

  it('credits a paid bill once, and nothing while it waits', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'QIWI', '50000')).data!.createTopUp;
    // Polled a few times while the bill waits: nothing credited.
    await waitFor(async () => qiwi.requests.filter((r) => r.method === 'GET' && r.path.endsWith(transaction.externalId)).length, (n) => n >= 2);
    expect((await transactionOf(wallet.id, transaction.externalId)).status).toBe('ACCEPTED');
    expect(await creditJobs(wallet.id, transaction.externalId)).toBe(0);
    expect(await park.balance(park.working.id)).toBe(before);

    qiwi.pay(transaction.externalId);
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'PROCESSED', reason: null, awaiting_payment: false });
    expect((await park.balance(park.working.id)) - before).toBe(50_000n);
    // Polling stopped: no more questions about a settled bill.
    const asked = qiwi.requests.filter((r) => r.path.endsWith(transaction.externalId)).length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(qiwi.requests.filter((r) => r.path.endsWith(transaction.externalId)).length).toBe(asked);
    expect(await bed.server.app.checkLedger()).toEqual([]);
  });

  it('books its poll job so that it never runs out of attempts, first and every time it books itself again', async () => {
    const { transaction } = (await createTopUp(park, 'QIWI', '3000')).data!.createTopUp;
    const pollJob = async () =>
      (
        await bed.server.app.orm.em
          .fork()
          .execute<{ max_attempts: number }[]>(`SELECT max_attempts FROM graphile_worker.jobs WHERE key = ?`, [pollJobKey(wallet.id, transaction.externalId)])
      )[0];
    expect(await pollJob()).toEqual({ max_attempts: POLL_MAX_ATTEMPTS });
    await waitFor(async () => qiwi.requests.filter((r) => r.method === 'GET' && r.path.endsWith(transaction.externalId)).length, (n) => n >= 2);
    expect(await pollJob()).toEqual({ max_attempts: POLL_MAX_ATTEMPTS });
    qiwi.setStatus(transaction.externalId, 'REJECTED');
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'REJECTED', reason: 'PAYMENT_REJECTED' });
  });

  it('rejects a bill QIWI rejected or expired, crediting nothing; asked again with the same key, hands out no payUrl', async () => {
    const before = await park.balance(park.working.id);
    const rejected = (await createTopUp(park, 'QIWI', '1000', 'rejected-key')).data!.createTopUp.transaction;
    const expired = (await createTopUp(park, 'QIWI', '2000')).data!.createTopUp.transaction;
    qiwi.setStatus(rejected.externalId, 'REJECTED');
    qiwi.setStatus(expired.externalId, 'EXPIRED');
    expect(await finalOf(wallet.id, rejected.externalId)).toMatchObject({ status: 'REJECTED', reason: 'PAYMENT_REJECTED' });
    expect(await finalOf(wallet.id, expired.externalId)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(await park.balance(park.working.id)).toBe(before);
    const again = (await createTopUp(park, 'QIWI', '1000', 'rejected-key')).data!.createTopUp;
    expect(again).toMatchObject({ payUrl: null, transaction: { externalId: rejected.externalId, status: 'REJECTED' } });
  });

  it('rides out QIWI being down for a while (503s, then dropped connections) and credits the paid bill once it is back', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'QIWI', '7500')).data!.createTopUp;
    qiwi.pay(transaction.externalId);
    qiwi.down(1500, 'http503');
    await new Promise((resolve) => setTimeout(resolve, 1600));
    qiwi.down(1000, 'drop');
    const final = await finalOf(wallet.id, transaction.externalId);
    expect(final).toMatchObject({ status: 'PROCESSED' });
    expect((await park.balance(park.working.id)) - before).toBe(7_500n);
    expect(qiwi.requests.filter((r) => r.path.endsWith(transaction.externalId) && r.method === 'GET').length).toBeGreaterThan(2);
    const metrics = await bed.server.app.metrics.registry.getSingleMetric('payouts_topup_polls_total')!.get();
    expect(metrics.values.find((v) => v.labels.outcome === 'error' && v.labels.payment_system === 'QIWI')?.value).toBeGreaterThan(0);
  });

  it('answers ACCEPTED without a payUrl while QIWI is down; the same key opens the same bill once it is back, credited once', async () => {
    const before = await park.balance(park.working.id);
    qiwi.down(1500, 'http503');
    const during = (await createTopUp(park, 'QIWI', '6100', 'down-key')).data!.createTopUp;
    expect(during).toMatchObject({ payUrl: null, transaction: { status: 'ACCEPTED' } });
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const after = (await createTopUp(park, 'QIWI', '6100', 'down-key')).data!.createTopUp;
    expect(after.transaction.id).toBe(during.transaction.id);
    expect(after.payUrl).toBe(qiwi.bills.get(during.transaction.externalId)!.payUrl);
    qiwi.pay(during.transaction.externalId);
    expect(await finalOf(wallet.id, during.transaction.externalId)).toMatchObject({ status: 'PROCESSED' });
    expect((await park.balance(park.working.id)) - before).toBe(6_100n);
  });

  it('at the TTL rejects the bill at QIWI and the top-up with it', async () => {
    const { transaction } = (await createTopUp(park, 'QIWI', '3000')).data!.createTopUp;
    const final = await finalOf(wallet.id, transaction.externalId, BILL_TTL_MS + 10_000);
    expect(final).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(qiwi.bills.get(transaction.externalId)!.status.value).toBe('REJECTED');
    expect(qiwi.requests.some((r) => r.method === 'POST' && r.path.endsWith(`${transaction.externalId}/reject`))).toBe(true);
  });

  it('holds back a bill paid with another amount than billed', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'QIWI', '4000')).data!.createTopUp;
    qiwi.pay(transaction.externalId, '400.00');
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'REJECTED', reason: 'AMOUNT_MISMATCH' });
    expect(await park.balance(park.working.id)).toBe(before);
  });

  it('records and credits the driver a token names by phone under the driver’s id, as a callback’s account would', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'QIWI', '1500', undefined, driverToken(park, park.working.phone))).data!.createTopUp;
    expect(transaction.driverId).toBe(park.working.id);
    qiwi.pay(transaction.externalId);
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'PROCESSED', driver_id: park.working.id });
    expect((await park.balance(park.working.id)) - before).toBe(1_500n);
  });

  it('answers with a typed error: no wallet of that system, a fired driver, a token not a driver’s, an amount out of bounds', async () => {
    const bare = await bed.park({ currency: 'RUB' });
    expect(errorCodes(await createTopUp(bare, 'QIWI', '1000'))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await createTopUp(park, 'QIWI', '1000', undefined, driverToken(park, park.fired.id)))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await createTopUp(park, 'QIWI', '1000', undefined, tokenFor('dispatcher', [{ kind: 'PARK', id: park.id }])))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await createTopUp(park, 'QIWI', '-5'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await createTopUp(park, 'QIWI', '99999999999999999999999'))).toEqual(['BAD_USER_INPUT']);
    const bounded = await bed.park({ currency: 'RUB' });
    await bounded.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 86_400_000 * 100).toISOString() }, { maxAmount: '1000' });
    expect(errorCodes(await createTopUp(bounded, 'QIWI', '1001'))).toEqual(['BAD_USER_INPUT']);
  });

  it('records a bill QIWI refused (a wrong key) as REJECTED with no payUrl, asks once, and shows the key nowhere in the answer', async () => {
    const wrong = await bed.park({ currency: 'RUB' });
    const wrongWallet = await wrong.wallet('QIWI', { secretKey: 'not-the-right-key-0000', expiresAt: new Date(Date.now() + 86_400_000 * 100).toISOString() });
    const response = await createTopUp(wrong, 'QIWI', '1000');
    expect(response.errors).toBeUndefined();
    expect(response.data!.createTopUp).toMatchObject({ payUrl: null, transaction: { status: 'REJECTED', reason: 'PAYMENT_SYSTEM_REFUSED' } });
    expect(JSON.stringify(response)).not.toContain('not-the-right-key');
    // A refusal is not asked again.
    expect(qiwi.requests.filter((r) => r.method === 'PUT' && r.authorization === 'Bearer not-the-right-key-0000')).toHaveLength(1);
    expect(await transactionOf(wrongWallet.id, response.data!.createTopUp.transaction.externalId)).toMatchObject({ status: 'REJECTED' });
  });
});

describe('A QIWI wallet deleted while bills are open', () => {
  /** Until a session of this database waits for a row lock (createTopUp on the wallet the test holds). */
  const waitForLockWait = async () => {
    const waiting = async () =>
      Number(
        (
          await bed.server.app.orm.em
            .fork()
            .execute<{ n: string }[]>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)
        )[0]!.n,
      );
    expect(await waitFor(waiting, (n) => n > 0)).toBeGreaterThan(0);
  };
  const dispatcherOf = (park: TestPark) => tokenFor('dispatcher', [{ kind: 'PARK', id: park.id }]);
  const sealedKeyOf = async (walletId: string) =>
    (await bed.server.app.use(walletsModule).wallets.find(bed.server.app.orm.em.fork(), walletId, { withDeleted: true }))!.credentials_sealed;

  it('refuses to remove the key the open bills need; deleting closes them at once with it — the paid one credited, the unpaid one rejected at QIWI — then erases it', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const before = await park.balance(park.working.id);
    const paid = (await createTopUp(park, 'QIWI', '7000')).data!.createTopUp.transaction;
    const unpaid = (await createTopUp(park, 'QIWI', '2000')).data!.createTopUp.transaction;

    const removal = await graphql(bed.server.url, UpdateWalletDocument, { input: { id: wallet.id, credentials: null } }, dispatcherOf(park));
    expect(errorCodes(removal)).toEqual(['CONFLICT']);
    expect(await sealedKeyOf(wallet.id)).not.toBeNull();

    qiwi.pay(paid.externalId); // paid just before the delete: credited whichever poll finds it
    const deleted = await graphql(bed.server.url, DeleteWalletDocument, { id: wallet.id }, dispatcherOf(park));
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data!.deleteWallet).toMatchObject({ credentialsSet: false, credentialsHint: null, enabled: false });
    expect(deleted.data!.deleteWallet.deletedAt).not.toBeNull();

    expect(await finalOf(wallet.id, paid.externalId)).toMatchObject({ status: 'PROCESSED' });
    // Closed because of the delete (at the TTL it would be EXPIRED), and closed at QIWI: nobody can pay it now.
    expect(await finalOf(wallet.id, unpaid.externalId)).toMatchObject({ status: 'REJECTED', reason: 'WALLET_DELETED' });
    expect(qiwi.bills.get(unpaid.externalId)!.status.value).toBe('REJECTED');
    expect(qiwi.requests.some((r) => r.path.endsWith(`${unpaid.externalId}/reject`) && r.authorization === `Bearer ${QIWI_KEY}`)).toBe(true);
    expect((await park.balance(park.working.id)) - before).toBe(7_000n);
    // The key was kept only for them.
    expect(await waitFor(() => sealedKeyOf(wallet.id), (sealed) => sealed === null)).toBeNull();
    expect(await bed.server.app.checkLedger()).toEqual([]);
  });

  it('makes a top-up asked for during the delete wait for it, then refuses it: no bill is opened for a deleted wallet', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const billsBefore = qiwi.bills.size;
    let asking: ReturnType<typeof createTopUp> | undefined;
    let answered = false;
    // A delete in progress, as deleteWallet's transaction holds the wallet.
    await bed.server.app.orm.em.fork().transactional(async (tx) => {
      await tx.execute('SELECT 1 FROM wallet WHERE id = ? FOR UPDATE', [wallet.id]);
      asking = createTopUp(park, 'QIWI', '3000');
      void asking.then(() => (answered = true));
      await waitForLockWait();
      expect(answered).toBe(false); // waiting for the delete
      await tx.execute('UPDATE wallet SET deleted_at = now(), enabled = false, credentials_key_id = NULL, credentials_sealed = NULL WHERE id = ?', [wallet.id]);
    });
    expect(errorCodes(await asking!)).toEqual(['NOT_FOUND']);
    expect(qiwi.bills.size).toBe(billsBefore);
    expect(await bed.server.app.use(topupsModule).topups.awaitingOn(bed.server.app.orm.em.fork(), wallet.id)).toEqual([]);
  });

  it('makes a top-up asked for while its key is being removed wait, then refuses it: no bill is opened with a removed key', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const billsBefore = qiwi.bills.size;
    let asking: ReturnType<typeof createTopUp> | undefined;
    await bed.server.app.orm.em.fork().transactional(async (tx) => {
      await tx.execute('SELECT 1 FROM wallet WHERE id = ? FOR UPDATE', [wallet.id]);
      asking = createTopUp(park, 'QIWI', '3000');
      await waitForLockWait();
      await tx.execute('UPDATE wallet SET credentials_key_id = NULL, credentials_sealed = NULL, credentials_set_at = NULL WHERE id = ?', [wallet.id]);
    });
    expect(errorCodes(await asking!)).toEqual(['NOT_FOUND']);
    expect(qiwi.bills.size).toBe(billsBefore);
  });

  /** A new park's QIWI wallet and a createTopUp whose bill QIWI has received but not created yet (its PUT held until `releasePut`). */
  async function askWithTheBillHeld(amount: string) {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const puts = () => qiwi.requests.filter((r) => r.method === 'PUT');
    const putsBefore = puts().length;
    const releasePut = qiwi.holdNext('PUT');
    const asking = createTopUp(park, 'QIWI', amount);
    await waitFor(async () => puts().length, (n) => n > putsBefore);
    const billId = puts().at(-1)!.path.split('/').at(-1)!;
    return { park, wallet, billId, asking, releasePut };
  }

  it('closes at QIWI a bill it opened only after its top-up was closed (QIWI slow to answer while the wallet was deleted), and hands out no payUrl', async () => {
    const { park, wallet, billId, asking, releasePut: release } = await askWithTheBillHeld('2500');
    expect((await graphql(bed.server.url, DeleteWalletDocument, { id: wallet.id }, dispatcherOf(park))).errors).toBeUndefined();
    // The delete's poll finds no bill yet and closes the top-up.
    expect(await finalOf(wallet.id, billId)).toMatchObject({ status: 'REJECTED', reason: 'WALLET_DELETED' });
    release();
    const answer = await asking;
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.createTopUp).toMatchObject({ payUrl: null, transaction: { status: 'REJECTED', reason: 'WALLET_DELETED' } });
    expect(await waitFor(async () => qiwi.bills.get(billId)?.status.value, (status) => status === 'REJECTED')).toBe('REJECTED');
    expect(await waitFor(() => sealedKeyOf(wallet.id), (sealed) => sealed === null)).toBeNull();
  });

  /**
   * The delete's poll asks QIWI about a bill whose creation (the PUT) is slow: GET (no such bill),
   * reject (no such bill), GET again. `late` is the request whose answer arrives only after QIWI
   * has created the bill and the driver has its payUrl: the reject (the GET after it then finds the
   * bill waiting), or the last GET (it still says no such bill).
   */
  async function deleteWhileTheBillIsBeingOpened(late: 'POST' | 'GET') {
    const { park, wallet, billId, asking, releasePut } = await askWithTheBillHeld('2600');
    const seen = (method: string) => qiwi.requests.filter((r) => r.method === method && r.path.includes(billId)).length;
    let releaseLate = qiwi.holdNext('POST', { pathEnd: `${billId}/reject`, answerFirst: true });
    expect((await graphql(bed.server.url, DeleteWalletDocument, { id: wallet.id }, dispatcherOf(park))).errors).toBeUndefined();
    await waitFor(async () => seen('POST'), (n) => n >= 1);
    if (late === 'GET') {
      const releasePost = releaseLate;
      releaseLate = qiwi.holdNext('GET', { pathEnd: billId, answerFirst: true });
      releasePost();
      await waitFor(async () => seen('GET'), (n) => n >= 2);
    }
    releasePut();
    const answer = await asking;
    expect(answer.data!.createTopUp.payUrl).not.toBeNull();
    releaseLate();
    expect(await finalOf(wallet.id, billId)).toMatchObject({ status: 'REJECTED', reason: 'WALLET_DELETED' });
    expect(qiwi.bills.get(billId)!.status.value).toBe('REJECTED');
    expect(await waitFor(() => sealedKeyOf(wallet.id), (sealed) => sealed === null)).toBeNull();
  }

  it('does not close a bill its reject missed (QIWI created it meanwhile, its payUrl handed out): asks again and closes it at QIWI first', async () => {
    await deleteWhileTheBillIsBeingOpened('POST');
  });

  it('does not close as unknown a bill QIWI created while the poll was asking (its payUrl handed out): asks again and closes it at QIWI first', async () => {
    await deleteWhileTheBillIsBeingOpened('GET');
  });

  it('closes the open bills unasked when QIWI refuses the deleted wallet’s key, rather than keeping the key and asking for ever', async () => {
    const doomedKey = 'qiwi-secret-key-about-to-be-refused';
    qiwi.allowKey(doomedKey);
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: doomedKey, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const { transaction } = (await createTopUp(park, 'QIWI', '1200')).data!.createTopUp;
    qiwi.refuseKey(doomedKey);
    expect((await graphql(bed.server.url, DeleteWalletDocument, { id: wallet.id }, dispatcherOf(park))).errors).toBeUndefined();
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'REJECTED', reason: 'WALLET_DELETED' });
    expect(await waitFor(() => sealedKeyOf(wallet.id), (sealed) => sealed === null)).toBeNull();
  });

  it('erases a deleted wallet’s key when the last open top-up was settled by someone else (a poll that had not seen the delete)', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const { transaction } = (await createTopUp(park, 'QIWI', '1300')).data!.createTopUp;
    const em = () => bed.server.app.orm.em.fork();
    // As the delete leaves it while a top-up is open (key kept), then that top-up closed by a run that saw no delete.
    await em().execute('UPDATE wallet SET deleted_at = now(), enabled = false WHERE id = ?', [wallet.id]);
    await bed.server.app.use(topupsModule).topups.giveUp(em(), wallet.id, transaction.externalId, 'EXPIRED');
    expect(await bed.server.app.use(proTopUpsModule).proTopUps.poll(wallet.id, transaction.externalId)).toBeNull();
    expect(await sealedKeyOf(wallet.id)).toBeNull();
  });

  it('re-books itself keeping the time of a job booked meanwhile under its key (the delete’s “now”)', async () => {
    const booked: { jobKeyMode?: string }[] = [];
    const task = topupRequestPoll({ poll: async () => new Date(Date.now() + 60_000) } as never);
    await task({ walletId: 'w', externalId: 'e' }, { addJob: async (_task: string, _payload: unknown, options: { jobKeyMode?: string }) => void booked.push(options) } as never);
    expect(booked).toEqual([expect.objectContaining({ jobKeyMode: 'preserve_run_at', maxAttempts: POLL_MAX_ATTEMPTS })]);
  });

  it('erases the key at once when no bill is open, and lets a key with no open bills be removed', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const kept = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    const removal = await graphql(bed.server.url, UpdateWalletDocument, { input: { id: kept.id, credentials: null } }, dispatcherOf(park));
    expect(removal.errors).toBeUndefined();
    expect(removal.data!.updateWallet.credentialsSet).toBe(false);
    expect(await sealedKeyOf(kept.id)).toBeNull();

    const other = await bed.park({ currency: 'RUB' });
    const gone = await other.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: new Date(Date.now() + 200 * 86_400_000).toISOString() });
    expect((await graphql(bed.server.url, DeleteWalletDocument, { id: gone.id }, dispatcherOf(other))).errors).toBeUndefined();
    expect(await sealedKeyOf(gone.id)).toBeNull();
  });
});

describe('A QIWI key replaced while bills are open', () => {
  const dispatcherOf = (park: TestPark) => tokenFor('dispatcher', [{ kind: 'PARK', id: park.id }]);
  const yearAhead = () => new Date(Date.now() + 365 * 86_400_000).toISOString();
  const replaceKey = (park: TestPark, walletId: string, secretKey: string) =>
    graphql(bed.server.url, UpdateWalletDocument, { input: { id: walletId, credentials: { secretKey, expiresAt: yearAhead() } } }, dispatcherOf(park));
  const retiredKeys = async (walletId: string) =>
    Number((await bed.server.app.orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM wallet_retired_key WHERE wallet_id = ?', [walletId]))[0]!.n);
  const asked = (externalId: string, key: string, method: string) => qiwi.requests.some((r) => r.method === method && r.path.includes(externalId) && r.authorization === `Bearer ${key}`);
  let accounts = 0;
  /** A key of a QIWI account of its own, which sees none of the first account's bills. */
  const otherAccountKey = () => {
    const key = `qiwi-other-account-${++accounts}-0123456789abcdef`;
    qiwi.allowAccountKey(key, `other-${accounts}`);
    return key;
  };
  /** A park whose QIWI wallet has two bills open (to be paid, and not), then its key replaced with another account's. */
  const twoBillsThenAnotherAccount = async (paidAmount: string, unpaidAmount: string, firstKey = QIWI_KEY) => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: firstKey, expiresAt: yearAhead() });
    const before = await park.balance(park.working.id);
    const paid = (await createTopUp(park, 'QIWI', paidAmount)).data!.createTopUp.transaction;
    const unpaid = (await createTopUp(park, 'QIWI', unpaidAmount)).data!.createTopUp.transaction;
    const newKey = otherAccountKey();
    expect((await replaceKey(park, wallet.id, newKey)).errors).toBeUndefined();
    return { park, wallet, before, paid, unpaid, newKey };
  };

  it('keeps the replaced key for the bills opened with it when the new one is another account’s: paid → credited, unpaid → closed at QIWI at its time; then erases it', async () => {
    const { park, wallet, before, paid, unpaid, newKey } = await twoBillsThenAnotherAccount('8000', '1500');
    expect(await retiredKeys(wallet.id)).toBe(1);
    // A bill opened now is the new account's.
    const fresh = (await createTopUp(park, 'QIWI', '2500')).data!.createTopUp.transaction;
    expect(asked(fresh.externalId, newKey, 'PUT')).toBe(true);

    // Paid in the old account after the key was replaced: the new key cannot see it, the kept one does.
    qiwi.pay(paid.externalId);
    qiwi.pay(fresh.externalId);
    expect(await finalOf(wallet.id, paid.externalId)).toMatchObject({ status: 'PROCESSED' });
    expect(asked(paid.externalId, QIWI_KEY, 'GET')).toBe(true);
    expect(await finalOf(wallet.id, fresh.externalId)).toMatchObject({ status: 'PROCESSED' });
    // The unpaid one, at its time, is closed at QIWI with the key that opened it: nobody can pay it now.
    expect(await finalOf(wallet.id, unpaid.externalId, BILL_TTL_MS + 10_000)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(qiwi.bills.get(unpaid.externalId)!.status.value).toBe('REJECTED');
    expect(asked(`${unpaid.externalId}/reject`, QIWI_KEY, 'POST')).toBe(true);
    expect((await park.balance(park.working.id)) - before).toBe(10_500n);
    // Kept only while they were open.
    expect(await waitFor(() => retiredKeys(wallet.id), (n) => n === 0)).toBe(0);
    expect(await bed.server.app.checkLedger()).toEqual([]);
  });

  it('asks with the kept key about a bill opened while the replacement was under way (its transaction begun first)', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: yearAhead() });
    const before = await park.balance(park.working.id);
    const { wallets } = bed.server.app.use(walletsModule);
    let opened!: { externalId: string };
    // The replacing transaction begins (its now() is the new key's credentials_set_at) before the
    // top-up is recorded with the old key; only then does it lock the wallet and replace the key.
    await bed.server.app.orm.em.fork().transactional(async (tx) => {
      await tx.execute('SELECT 1');
      opened = (await createTopUp(park, 'QIWI', '3300')).data!.createTopUp.transaction;
      await wallets.update(tx, { id: wallet.id, credentials: { secretKey: otherAccountKey(), expiresAt: yearAhead() } }, 'test');
    });
    expect(await retiredKeys(wallet.id)).toBe(1);
    qiwi.pay(opened.externalId);
    expect(await finalOf(wallet.id, opened.externalId)).toMatchObject({ status: 'PROCESSED' });
    expect((await park.balance(park.working.id)) - before).toBe(3_300n);
    expect(await waitFor(() => retiredKeys(wallet.id), (n) => n === 0)).toBe(0);
  });

  it('gives up at its time a bill only a refused replaced key could see (expired, the new key another account’s): closed unasked, the key erased, not asked for ever', async () => {
    const expiringKey = 'qiwi-expiring-key-0123456789abcdef';
    qiwi.allowAccountKey(expiringKey, 'main');
    const { wallet, unpaid, paid } = await twoBillsThenAnotherAccount('1100', '1200', expiringKey);
    qiwi.refuseKey(expiringKey);
    for (const bill of [paid, unpaid]) {
      expect(await finalOf(wallet.id, bill.externalId, BILL_TTL_MS + 10_000)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    }
    expect(await waitFor(() => retiredKeys(wallet.id), (n) => n === 0)).toBe(0);
  });

  it('asks again, and never gives up, a bill opened with the wallet’s own key while that key is refused, though a replaced key is kept: credited once the key is let in again', async () => {
    const { park, wallet, before, paid, unpaid, newKey } = await twoBillsThenAnotherAccount('500', '600');
    const fresh = (await createTopUp(park, 'QIWI', '2700')).data!.createTopUp.transaction;
    qiwi.refuseKey(newKey);
    try {
      qiwi.pay(fresh.externalId);
      qiwi.pay(paid.externalId);
      // The old account's bill is still found with the kept key.
      expect(await finalOf(wallet.id, paid.externalId)).toMatchObject({ status: 'PROCESSED' });
      // Past the new bill's time, its own key refused: waiting for the key, not given up (the kept key cannot have opened it).
      await new Promise((resolve) => setTimeout(resolve, BILL_TTL_MS + 1500));
      expect(await transactionOf(wallet.id, fresh.externalId)).toMatchObject({ status: 'ACCEPTED', awaiting_payment: true });
    } finally {
      qiwi.allowKey(newKey);
    }
    expect(await finalOf(wallet.id, fresh.externalId, 30_000)).toMatchObject({ status: 'PROCESSED' });
    expect(await finalOf(wallet.id, unpaid.externalId)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect((await park.balance(park.working.id)) - before).toBe(3_200n);
  });

  it('does not give up, unseen, a bill the new key opened while the poll was asking (the old key refused): asks again and closes it at QIWI', async () => {
    const oldKey = 'qiwi-old-slow-key-0123456789abcdef';
    qiwi.allowAccountKey(oldKey, 'main');
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: oldKey, expiresAt: yearAhead() });
    const { proTopUps } = bed.server.app.use(proTopUpsModule);
    const db = () => bed.server.app.orm.em.fork();
    // Its first open finds QIWI down: recorded, with no bill yet.
    qiwi.down(1000, 'http503');
    const first = (await createTopUp(park, 'QIWI', '1300', 'slow-open')).data!.createTopUp;
    expect(first.payUrl).toBeNull();
    const billId = first.transaction.externalId;
    // Only this test asks about it from here on (twice: a run under way re-books itself once).
    for (let i = 0; i < 2; i++) {
      await db().execute('SELECT graphile_worker.remove_job(?)', [pollJobKey(wallet.id, billId)]);
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    expect((await replaceKey(park, wallet.id, otherAccountKey())).errors).toBeUndefined();
    qiwi.refuseKey(oldKey);
    const { expires_at: expiresAt } = await transactionOf(wallet.id, billId);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt!.getTime() - Date.now()) + 100));

    // The poll at its time asks the new key, whose answer (no such bill) is slow to come back…
    const releaseGet = qiwi.holdNext('GET', { pathEnd: billId, answerFirst: true });
    const polling = proTopUps.poll(wallet.id, billId);
    await waitFor(async () => qiwi.requests.filter((r) => r.method === 'GET' && r.path.endsWith(billId)).length, (n) => n >= 1);
    // …and meanwhile the driver's retry opens the bill with the new key and gets its address.
    const retried = (await createTopUp(park, 'QIWI', '1300', 'slow-open')).data!.createTopUp;
    expect(retried.payUrl).toBe(qiwi.bills.get(billId)!.payUrl);
    releaseGet();
    // The old key refused, nothing saw the bill: but it was opened since the poll read it, so it is asked about again.
    expect(await polling).toBeInstanceOf(Date);
    expect(await transactionOf(wallet.id, billId)).toMatchObject({ status: 'ACCEPTED', awaiting_payment: true });
    expect(await proTopUps.poll(wallet.id, billId)).toBeNull();
    expect(await finalOf(wallet.id, billId)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(qiwi.bills.get(billId)!.status.value).toBe('REJECTED');
    expect(await waitFor(() => retiredKeys(wallet.id), (n) => n === 0)).toBe(0);
  });

  it('keeps no replaced key when no bill is open', async () => {
    const park = await bed.park({ currency: 'RUB' });
    const wallet = await park.wallet('QIWI', { secretKey: QIWI_KEY, expiresAt: yearAhead() });
    expect((await replaceKey(park, wallet.id, otherAccountKey())).errors).toBeUndefined();
    expect(await retiredKeys(wallet.id)).toBe(0);
  });

  it('deleting the wallet afterwards closes the old account’s bills with the kept key — paid credited, unpaid rejected at QIWI — and erases every key', async () => {
    const { park, wallet, before, paid, unpaid } = await twoBillsThenAnotherAccount('4200', '900');

    qiwi.pay(paid.externalId);
    expect((await graphql(bed.server.url, DeleteWalletDocument, { id: wallet.id }, dispatcherOf(park))).errors).toBeUndefined();
    expect(await finalOf(wallet.id, paid.externalId)).toMatchObject({ status: 'PROCESSED' });
    expect(await finalOf(wallet.id, unpaid.externalId)).toMatchObject({ status: 'REJECTED', reason: 'WALLET_DELETED' });
    expect(qiwi.bills.get(unpaid.externalId)!.status.value).toBe('REJECTED');
    expect((await park.balance(park.working.id)) - before).toBe(4_200n);
    const sealedKey = async () => (await bed.server.app.use(walletsModule).wallets.find(bed.server.app.orm.em.fork(), wallet.id, { withDeleted: true }))!.credentials_sealed;
    expect(await waitFor(async () => ({ current: await sealedKey(), retired: await retiredKeys(wallet.id) }), (k) => k.current === null && k.retired === 0)).toEqual({
      current: null,
      retired: 0,
    });
  });
});

describe('Paystack top-ups: initialize, then the charge.success webhook', () => {
  let park: TestPark;
  let wallet: TestWallet;
  const webhook = (body: string, signature: string | null, link = wallet.link) =>
    bed.call(link, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(signature ? { 'x-paystack-signature': signature } : {}) } });

  beforeAll(async () => {
    park = await bed.park({ currency: 'NGN' });
    wallet = await park.wallet('PAYSTACK', { secretKey: PAYSTACK_KEY });
  });

  it('initializes with our reference, the amount in kobo and the driver in the metadata; the authorization_url is the payUrl', async () => {
    const { payUrl, transaction } = (await createTopUp(park, 'PAYSTACK', '250000')).data!.createTopUp;
    const initialized = paystack.transactions.get(transaction.externalId)!;
    expect(payUrl).toMatch(/^https:\/\/checkout\.paystack\.com\//);
    expect(initialized).toMatchObject({ amount: 250_000, currency: 'NGN', metadata: { parkId: park.id, driverId: park.working.id } });
    expect(paystack.requests.find((r) => r.path === '/transaction/initialize')!.body).toMatchObject({ amount: 250_000, reference: transaction.externalId });
    expect(paystack.requests.find((r) => r.path === '/transaction/initialize')!.authorization).toBe(`Bearer ${PAYSTACK_KEY}`);
    expect(transaction).toMatchObject({ status: 'ACCEPTED', amount: { minor: '250000', currency: 'NGN' } });
  });

  it('credits a signed charge.success once; a repeat is 200 and credits nothing', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'PAYSTACK', '120000')).data!.createTopUp;
    const body = paystack.pay(transaction.externalId);
    const first = await webhook(body, paystackSignature(body, PAYSTACK_KEY));
    expect(first).toMatchObject({ status: 200 });
    expect(JSON.parse(first.text)).toEqual({ status: 'accepted' });
    expect(await finalOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'PROCESSED' });
    const again = await webhook(body, paystackSignature(body, PAYSTACK_KEY));
    expect(again.status).toBe(200);
    expect(JSON.parse(again.text)).toEqual({ status: 'duplicate' });
    await bed.settle();
    expect((await park.balance(park.working.id)) - before).toBe(120_000n);
  });

  it('refuses a wrong or missing signature and an unknown or revoked link with 401, crediting nothing', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'PAYSTACK', '5000')).data!.createTopUp;
    // A forger's claim: Paystack itself never saw it paid.
    const body = chargeSuccess({ reference: transaction.externalId, amount: 5000, currency: 'NGN', metadata: { driverId: park.working.id } });
    expect((await webhook(body, paystackSignature(body, 'sk_test_someone_elses_key_000000'))).status).toBe(401);
    expect((await webhook(body, null)).status).toBe(401);
    expect((await webhook(body, paystackSignature(`${body} `, PAYSTACK_KEY))).status).toBe(401);
    const unknownLink = wallet.link.replace(/[^/]+$/, 'x'.repeat(43));
    expect((await webhook(body, paystackSignature(body, PAYSTACK_KEY), unknownLink)).status).toBe(401);
    const other = await bed.park({ currency: 'NGN' });
    const revoked = await other.wallet('PAYSTACK', { secretKey: PAYSTACK_KEY });
    const oldLink = revoked.link;
    await revoked.revoke();
    expect((await webhook(body, paystackSignature(body, PAYSTACK_KEY), oldLink)).status).toBe(401);
    expect((await transactionOf(wallet.id, transaction.externalId)).status).toBe('ACCEPTED');
    expect(await park.balance(park.working.id)).toBe(before);
    const metrics = await (await fetch(`${bed.callbackUrl}/metrics`)).text();
    expect(metrics).toMatch(/payouts_callback_refusals_total\{payment_system="PAYSTACK",code="BAD_SIGNATURE"\} 3\n/);
  });

  it('accepts a payment we did not initialise for the driver its metadata names, and refuses an unknown driver or a foreign currency', async () => {
    const before = await park.balance(park.working.id);
    const theirs = chargeSuccess({ reference: 'T685312322670591', amount: 30_000, currency: 'NGN', metadata: { driverId: park.working.phone } });
    const answer = await webhook(theirs, paystackSignature(theirs, PAYSTACK_KEY));
    expect(JSON.parse(answer.text)).toEqual({ status: 'accepted' });
    expect(await finalOf(wallet.id, 'T685312322670591')).toMatchObject({ status: 'PROCESSED', driver_id: park.working.id });
    const stranger = chargeSuccess({ reference: 'T000000000000001', amount: 30_000, currency: 'NGN', metadata: { driverId: 'nobody' } });
    expect(JSON.parse((await webhook(stranger, paystackSignature(stranger, PAYSTACK_KEY))).text)).toEqual({ status: 'refused', reason: 'UNKNOWN_DRIVER' });
    const cedis = chargeSuccess({ reference: 'T000000000000002', amount: 30_000, currency: 'GHS', metadata: { driverId: park.working.id } });
    expect(JSON.parse((await webhook(cedis, paystackSignature(cedis, PAYSTACK_KEY))).text)).toEqual({ status: 'refused', reason: 'CURRENCY_MISMATCH' });
    const bad = chargeSuccess({ reference: 'T000000000000003', amount: '12.5', currency: 'NGN', metadata: { driverId: park.working.id } });
    expect((await webhook(bad, paystackSignature(bad, PAYSTACK_KEY))).status).toBe(400);
    await bed.settle();
    expect((await park.balance(park.working.id)) - before).toBe(30_000n);
  });

  it('holds back a charge of another amount than initialised', async () => {
    const before = await park.balance(park.working.id);
    const { transaction } = (await createTopUp(park, 'PAYSTACK', '9000')).data!.createTopUp;
    const body = chargeSuccess({ reference: transaction.externalId, amount: 900, currency: 'NGN', metadata: { driverId: park.working.id } });
    const answer = await webhook(body, paystackSignature(body, PAYSTACK_KEY));
    expect(JSON.parse(answer.text)).toEqual({ status: 'refused', reason: 'AMOUNT_MISMATCH' });
    expect(await transactionOf(wallet.id, transaction.externalId)).toMatchObject({ status: 'REJECTED', reason: 'AMOUNT_MISMATCH' });
    expect(await park.balance(park.working.id)).toBe(before);
  });

  it('at its TTL verifies a top-up the webhook never credited: paid → credited once, unpaid → EXPIRED', async () => {
    const before = await park.balance(park.working.id);
    const paid = (await createTopUp(park, 'PAYSTACK', '64000')).data!.createTopUp.transaction;
    const unpaid = (await createTopUp(park, 'PAYSTACK', '1000')).data!.createTopUp.transaction;
    paystack.pay(paid.externalId); // the webhook is lost
    expect(await finalOf(wallet.id, paid.externalId, PAYSTACK_TTL_MS + 10_000)).toMatchObject({ status: 'PROCESSED' });
    expect(await finalOf(wallet.id, unpaid.externalId)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(paystack.requests.filter((r) => r.path === `/transaction/verify/${paid.externalId}`)).toHaveLength(1);
    expect((await park.balance(park.working.id)) - before).toBe(64_000n);
  });

  it('credits a top-up it had given up on (EXPIRED) when the payer pays after all: once, and a charge of another amount is held back', async () => {
    const before = await park.balance(park.working.id);
    const late = (await createTopUp(park, 'PAYSTACK', '7000')).data!.createTopUp.transaction;
    const lateOther = (await createTopUp(park, 'PAYSTACK', '3000')).data!.createTopUp.transaction;
    expect(await finalOf(wallet.id, late.externalId, PAYSTACK_TTL_MS + 10_000)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    expect(await finalOf(wallet.id, lateOther.externalId)).toMatchObject({ status: 'REJECTED', reason: 'EXPIRED' });
    // Paystack cannot close a checkout: the driver completes it after our TTL, and the webhook comes.
    const body = paystack.pay(late.externalId);
    const answer = await webhook(body, paystackSignature(body, PAYSTACK_KEY));
    expect(JSON.parse(answer.text)).toEqual({ status: 'accepted' });
    expect(await finalOf(wallet.id, late.externalId)).toMatchObject({ status: 'PROCESSED', reason: null });
    expect(JSON.parse((await webhook(body, paystackSignature(body, PAYSTACK_KEY))).text)).toEqual({ status: 'duplicate' });
    const other = chargeSuccess({ reference: lateOther.externalId, amount: 300, currency: 'NGN', metadata: { driverId: park.working.id } });
    expect(JSON.parse((await webhook(other, paystackSignature(other, PAYSTACK_KEY))).text)).toEqual({ status: 'refused', reason: 'AMOUNT_MISMATCH' });
    expect(await transactionOf(wallet.id, lateOther.externalId)).toMatchObject({ status: 'REJECTED', reason: 'AMOUNT_MISMATCH' });
    await bed.settle();
    expect((await park.balance(park.working.id)) - before).toBe(7_000n);
    expect(await bed.server.app.checkLedger()).toEqual([]);
  });

  it('credits a top-up Paystack refused to open when a signed charge.success for it comes after all (a retried initialize is refused as a duplicate)', async () => {
    const other = await bed.park({ currency: 'NGN' });
    const ownKey = 'sk_test_a_key_the_stand_in_does_not_know_0';
    const otherWallet = await other.wallet('PAYSTACK', { secretKey: ownKey });
    const { transaction, payUrl } = (await createTopUp(other, 'PAYSTACK', '4000')).data!.createTopUp;
    expect(payUrl).toBeNull();
    expect(await transactionOf(otherWallet.id, transaction.externalId)).toMatchObject({ status: 'REJECTED', reason: 'PAYMENT_SYSTEM_REFUSED' });
    const body = chargeSuccess({ reference: transaction.externalId, amount: 4000, currency: 'NGN', metadata: { driverId: other.working.id } });
    const answer = await webhook(body, paystackSignature(body, ownKey), otherWallet.link);
    expect(JSON.parse(answer.text)).toEqual({ status: 'accepted' });
    expect(await finalOf(otherWallet.id, transaction.externalId)).toMatchObject({ status: 'PROCESSED' });
    expect(await other.balance(other.working.id)).toBe(4_000n);
  });

  it('watches a deleted wallet’s checkout to its time (Paystack cannot close one): paid meanwhile, it is credited, and the key erased after', async () => {
    const other = await bed.park({ currency: 'NGN' });
    const doomed = await other.wallet('PAYSTACK', { secretKey: PAYSTACK_KEY });
    const before = await other.balance(other.working.id);
    const { transaction } = (await createTopUp(other, 'PAYSTACK', '4500')).data!.createTopUp;
    const deleted = await graphql(bed.server.url, DeleteWalletDocument, { id: doomed.id }, tokenFor('dispatcher', [{ kind: 'PARK', id: other.id }]));
    expect(deleted.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await transactionOf(doomed.id, transaction.externalId)).toMatchObject({ status: 'ACCEPTED', awaiting_payment: true });
    paystack.pay(transaction.externalId); // its webhook link is revoked: the verify at its time finds it
    expect(await finalOf(doomed.id, transaction.externalId, PAYSTACK_TTL_MS + 10_000)).toMatchObject({ status: 'PROCESSED' });
    expect((await other.balance(other.working.id)) - before).toBe(4_500n);
    const sealed = async () => (await bed.server.app.use(walletsModule).wallets.find(bed.server.app.orm.em.fork(), doomed.id, { withDeleted: true }))!.credentials_sealed;
    expect(await waitFor(sealed, (value) => value === null)).toBeNull();
  });

  it('counts the top-ups it opened per system', async () => {
    const metric = await bed.server.app.metrics.registry.getSingleMetric('payouts_topup_requests_total')!.get();
    const opened = (system: string) => metric.values.find((v) => v.labels.payment_system === system && v.labels.outcome === 'opened')?.value ?? 0;
    expect(opened('PAYSTACK')).toBeGreaterThanOrEqual(4);
    expect(opened('QIWI')).toBeGreaterThanOrEqual(6);
  });
});
