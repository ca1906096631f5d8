import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { InsufficientFundsError } from '../src/ledger/ledger.service';
import type { PayoutStatus } from '../src/payouts/lifecycle';
import { InvalidTransitionError } from '../src/payouts/payout-lifecycle';
import type { PayoutRow } from '../src/payouts/payout-messages';
import type { Payee } from '../src/access/payee';
import { createTestApp, type TestApp } from './helpers/app';
import { Random, seedFromEnv } from './helpers/random';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { erpModule } from '../src/erp/module';
import { accrualsModule } from '../src/accruals/module';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

const client = (id: string): Payee => ({ kind: 'CLIENT', id });

async function accrue(payee: Payee, amount: bigint, reference: string) {
  const em = t.app.orm.em.fork();
  return em.transactional((tx) =>
    t.app.use(accrualsModule).accruals.apply(tx, { payee, account: 'payout', amount, currency: 'RUB', reference, occurredAt: new Date() }, 'MANUAL'),
  );
}

async function balances(payee: Payee): Promise<Record<string, bigint>> {
  const accounts = await t.app.use(ledgerModule).ledger.accountsOf(t.app.orm.em.fork(), { kind: payee.kind, id: 'id' in payee ? payee.id : '' });
  return Object.fromEntries(accounts.map((a) => [a.type, a.balance]));
}

function create(payee: Payee, amount: bigint, key: string) {
  return t.app.orm.em.fork().transactional((tx) =>
    t.app.use(payoutsModule).lifecycle.create(tx, { payee, amount, currency: 'RUB', source: 'MANUAL', idempotencyKey: key }),
  );
}

function move(payoutId: string, status: PayoutStatus) {
  return t.app.orm.em.fork().transactional((tx) => t.app.use(payoutsModule).lifecycle.transition(tx, payoutId, status, { reason: 'test' }));
}

describe('payout lifecycle and its money', () => {
  it('reserves on create, moves in flight on send and settles on paid', async () => {
    const payee = client('life-1');
    await accrue(payee, 100_000n, 'earn-1');
    const { payout } = await create(payee, 60_000n, 'life-1-a');
    expect(payout.status).toBe('CREATED');
    expect(await balances(payee)).toMatchObject({ payout: 40_000n, 'payout-reserved': 60_000n });

    await move(payout.id, 'SENT');
    expect(await balances(payee)).toMatchObject({ payout: 40_000n, 'payout-reserved': 0n, 'payout-sent': 60_000n });
    await move(payout.id, 'ACCEPTED');
    const paid = await move(payout.id, 'PAID');
    expect(paid.payout.status).toBe('PAID');
    expect(paid.payout.sequence).toBe(4);
    expect(await balances(payee)).toMatchObject({ payout: 40_000n, 'payout-sent': 0n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('gives the money back on cancel, reject and return', async () => {
    const payee = client('life-2');
    await accrue(payee, 30_000n, 'earn-1');
    const cancelled = await create(payee, 10_000n, 'life-2-cancel');
    const rejected = await create(payee, 10_000n, 'life-2-reject');
    const returned = await create(payee, 10_000n, 'life-2-return');
    expect((await balances(payee)).payout).toBe(0n);

    await move(cancelled.payout.id, 'CANCELLED');
    await move(rejected.payout.id, 'SENT');
    await move(rejected.payout.id, 'REJECTED');
    await move(returned.payout.id, 'SENT');
    await move(returned.payout.id, 'PAID');
    await move(returned.payout.id, 'RETURNED');
    expect(await balances(payee)).toMatchObject({ payout: 30_000n, 'payout-reserved': 0n, 'payout-sent': 0n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('applies a RETURNED that arrives before its PAID as PAID, then RETURNED: history, money and messages', async () => {
    const payee = client('life-early-return');
    await accrue(payee, 20_000n, 'earn-1');
    const fromSent = (await create(payee, 12_000n, 'life-early-return-sent')).payout;
    const fromAccepted = (await create(payee, 8_000n, 'life-early-return-accepted')).payout;
    await move(fromSent.id, 'SENT');
    await move(fromAccepted.id, 'SENT');
    await move(fromAccepted.id, 'ACCEPTED');

    for (const [payout, before] of [
      [fromSent, ['CREATED', 'SENT']],
      [fromAccepted, ['CREATED', 'SENT', 'ACCEPTED']],
    ] as const) {
      const returned = await move(payout.id, 'RETURNED');
      expect(returned).toMatchObject({ changed: true, payout: { status: 'RETURNED', sequence: before.length + 2 } });
      const history = await t.app.orm.em
        .fork()
        .execute<{ sequence: number; status: string; reason: string | null }[]>(
          'SELECT sequence, status, reason FROM payout_status_change WHERE payout_id = ? ORDER BY sequence',
          [payout.id],
        );
      expect(history.map((h) => [h.sequence, h.status])).toEqual([...before, 'PAID', 'RETURNED'].map((status, i) => [i + 1, status]));
      expect(history.slice(-2).map((h) => h.reason)).toEqual(['implied by RETURNED', 'test']);
      // Paid out of the ledger and back in: one transfer each, as if the two messages had come in order.
      const transfers = await t.app.orm.em
        .fork()
        .execute<{ idempotency_key: string; amount: string }[]>(
          'SELECT idempotency_key, amount::text AS amount FROM ledger_transfer WHERE idempotency_key IN (?) ORDER BY id',
          [[`payout:${payout.id}:PAID`, `payout:${payout.id}:RETURNED`]],
        );
      expect(transfers).toEqual([
        { idempotency_key: `payout:${payout.id}:PAID`, amount: payout.amount },
        { idempotency_key: `payout:${payout.id}:RETURNED`, amount: payout.amount },
      ]);
      const events = await t.app.orm.em
        .fork()
        .execute<{ value: string }[]>("SELECT value FROM outbox_message WHERE topic = 'payouts.events' AND key = ? ORDER BY id", [payout.id]);
      expect(events.map((e) => JSON.parse(e.value)).map((e) => [e.sequence, e.status, e.payout.status])).toEqual(
        [...before, 'PAID', 'RETURNED'].map((status, i) => [i + 1, status, status]),
      );
    }
    expect(await balances(payee)).toMatchObject({ payout: 20_000n, 'payout-reserved': 0n, 'payout-sent': 0n });

    // The PAID arriving after all, and the RETURNED again, change nothing.
    for (const late of ['PAID', 'RETURNED', 'ACCEPTED'] as const) {
      expect(await move(fromSent.id, late)).toMatchObject({ changed: false, payout: { status: 'RETURNED', sequence: 4 } });
    }
    expect(await balances(payee)).toMatchObject({ payout: 20_000n, 'payout-reserved': 0n, 'payout-sent': 0n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('takes a RETURNED with its implied PAID and a REJECTED of the same payee at once without deadlocking', async () => {
    const payee = client('life-cross');
    await accrue(payee, 2_000n, 'earn-1');
    const returned = await create(payee, 1_000n, 'life-cross-return');
    const rejected = await create(payee, 1_000n, 'life-cross-reject');
    await move(returned.payout.id, 'SENT');
    await move(rejected.payout.id, 'SENT');
    const [available, inFlight] = await t.app.use(ledgerModule).ledger.accountIds(t.app.orm.em.fork(), [
      { owner: { kind: 'CLIENT', id: 'life-cross' }, type: 'payout', currency: 'RUB' },
      { owner: { kind: 'CLIENT', id: 'life-cross' }, type: 'payout-sent', currency: 'RUB' },
    ]);
    // A test session holds the available balance (opened before the in-flight account: a lower id).
    // Were the RETURNED's PAID step to lock its own pair first, it would wait for that balance
    // holding the in-flight account, which a REJECTED locks after the balance: each would wait
    // for the other. It must take its accounts in the ledger's order, all before its first step.
    const holder = t.app.orm.em.fork();
    await holder.begin();
    let returning: Promise<unknown>;
    let rejecting: Promise<unknown>;
    try {
      await holder.execute('SELECT 1 FROM ledger_account WHERE id = ? FOR NO KEY UPDATE', [available]);
      returning = move(returned.payout.id, 'RETURNED').catch((error: unknown) => error);
      await waitingFor(1);
      const probe = t.app.orm.em.fork();
      await probe.begin();
      const lockedInFlight = await probe
        .execute('SELECT 1 FROM ledger_account WHERE id = ? FOR NO KEY UPDATE NOWAIT', [inFlight])
        .then(() => false, () => true);
      await probe.rollback();
      expect(lockedInFlight, 'the waiting RETURNED holds the in-flight account').toBe(false);
      rejecting = move(rejected.payout.id, 'REJECTED').catch((error: unknown) => error);
      await waitingFor(2);
    } finally {
      await holder.rollback();
    }
    expect(await returning).toMatchObject({ changed: true, payout: { status: 'RETURNED' } });
    expect(await rejecting).toMatchObject({ changed: true, payout: { status: 'REJECTED' } });
    expect(await balances(payee)).toMatchObject({ payout: 2_000n, 'payout-sent': 0n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('refuses a RETURNED for a payout that was never sent or whose money came back already', async () => {
    const payee = client('life-no-return');
    await accrue(payee, 3_000n, 'earn-1');
    const created = (await create(payee, 1_000n, 'life-no-return-created')).payout;
    const rejected = (await create(payee, 1_000n, 'life-no-return-rejected')).payout;
    const cancelled = (await create(payee, 1_000n, 'life-no-return-cancelled')).payout;
    await move(rejected.id, 'SENT');
    await move(rejected.id, 'REJECTED');
    await move(cancelled.id, 'CANCELLED');
    for (const payout of [created, rejected, cancelled]) {
      await expect(move(payout.id, 'RETURNED')).rejects.toBeInstanceOf(InvalidTransitionError);
    }
    expect(await balances(payee)).toMatchObject({ payout: 2_000n, 'payout-reserved': 1_000n, 'payout-sent': 0n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('ignores repeats and late news, refuses what the lifecycle forbids', async () => {
    const payee = client('life-3');
    await accrue(payee, 10_000n, 'earn-1');
    const { payout } = await create(payee, 10_000n, 'life-3-a');
    await move(payout.id, 'SENT');
    await move(payout.id, 'PAID'); // the money feed before the document feed
    const late = await move(payout.id, 'ACCEPTED');
    expect(late.changed).toBe(false);
    expect(late.payout.status).toBe('PAID');
    const again = await move(payout.id, 'PAID');
    expect(again.changed).toBe(false);
    await expect(move(payout.id, 'CANCELLED')).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(await balances(payee)).toMatchObject({ payout: 0n, 'payout-sent': 0n });
  });

  it('refuses a payout larger than the available balance, in the database', async () => {
    const payee = client('life-4');
    await accrue(payee, 5_000n, 'earn-1');
    await expect(create(payee, 5_001n, 'life-4-a')).rejects.toBeInstanceOf(InsufficientFundsError);
    expect((await balances(payee)).payout).toBe(5_000n);
  });

  it('returns the same payout for the same idempotency key and reserves once', async () => {
    const payee = client('life-5');
    await accrue(payee, 50_000n, 'earn-1');
    const first = await create(payee, 20_000n, 'life-5-a');
    const second = await create(payee, 20_000n, 'life-5-a');
    expect(second.changed).toBe(false);
    expect(second.payout.id).toBe(first.payout.id);
    expect((await balances(payee)).payout).toBe(30_000n);
    await expect(create(payee, 25_000n, 'life-5-a')).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('creates many payouts in one call, all or nothing, and a key seen before returns its payout', async () => {
    const [rich, poor] = [client('life-7'), client('life-8')];
    await accrue(rich, 10_000n, 'earn-1');
    await accrue(poor, 1_000n, 'earn-1');
    const inputs = (amounts: [Payee, bigint, string][]) =>
      amounts.map(([payee, amount, key]) => ({ payee, amount, currency: 'RUB', source: 'MANUAL' as const, idempotencyKey: key }));
    const createMany = (batch: ReturnType<typeof inputs>) =>
      t.app.orm.em.fork().transactional((tx) => t.app.use(payoutsModule).lifecycle.createMany(tx, batch));

    const first = await createMany(inputs([[rich, 4_000n, 'life-7-a'], [poor, 1_000n, 'life-8-a'], [rich, 3_000n, 'life-7-b']]));
    expect(first.map((c) => [c.changed, c.payout.amount, c.payout.status])).toEqual([
      [true, '4000', 'CREATED'],
      [true, '1000', 'CREATED'],
      [true, '3000', 'CREATED'],
    ]);
    expect(await balances(rich)).toMatchObject({ payout: 3_000n, 'payout-reserved': 7_000n });

    // One payout the poor payee cannot afford fails the whole call: nothing of it is created or reserved.
    await expect(createMany(inputs([[rich, 1_000n, 'life-7-c'], [poor, 1n, 'life-8-b']]))).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await balances(rich)).toMatchObject({ payout: 3_000n, 'payout-reserved': 7_000n });

    const again = await createMany(inputs([[rich, 4_000n, 'life-7-a'], [rich, 2_000n, 'life-7-d']]));
    expect(again.map((c) => c.changed)).toEqual([false, true]);
    expect(again[0]!.payout.id).toBe(first[0]!.payout.id);
    expect(await balances(rich)).toMatchObject({ payout: 1_000n, 'payout-reserved': 9_000n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('sends a payout only as it was read, and skips one another transaction holds', async () => {
    const payee = client('life-9');
    await accrue(payee, 3_000n, 'earn-1');
    const { payout: held } = await create(payee, 1_000n, 'life-9-held');
    const { payout: stale } = await create(payee, 1_000n, 'life-9-stale');

    // Held: another transaction has the row locked, so the send gives up at once instead of waiting.
    const em = t.app.orm.em.fork();
    await em.begin();
    try {
      await em.execute('SELECT 1 FROM payout WHERE id = ? FOR UPDATE', [held.id]);
      expect(await t.app.use(payoutsModule).sender.sendIfFree(t.app.orm.em.fork(), held, { actor: 'test' })).toBeNull();
    } finally {
      await em.rollback();
    }
    const sent = await t.app.use(payoutsModule).sender.sendIfFree(t.app.orm.em.fork(), held, { actor: 'test' });
    expect(sent).toMatchObject({ id: held.id, status: 'SENT', sequence: 2 });

    // Stale: cancelled after it was read, so the send as read no longer applies and changes nothing.
    await move(stale.id, 'CANCELLED');
    expect(await t.app.use(payoutsModule).sender.sendIfFree(t.app.orm.em.fork(), stale, { actor: 'test' })).toBeNull();
    expect(await balances(payee)).toMatchObject({ payout: 2_000n, 'payout-reserved': 0n, 'payout-sent': 1_000n });
    const facts = await t.app.use(payoutsModule).facts.forPayouts(t.app.orm.em.fork(), [held.id, stale.id]);
    expect(facts.map((f) => [f.payout_id, String(f.amount)])).toEqual([[held.id, '1000']]);
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('sends many payouts in one call, each in a transaction of its own, skipping held and stale ones', async () => {
    const payee = client('life-10');
    await accrue(payee, 5_000n, 'earn-1');
    const read: PayoutRow[] = [];
    for (const key of ['a', 'b', 'c', 'd', 'e']) read.push((await create(payee, 1_000n, `life-10-${key}`)).payout);
    const [first, held, stale, fourth, fifth] = read;
    await move(stale!.id, 'CANCELLED');

    const em = t.app.orm.em.fork();
    await em.begin();
    let stepped: boolean[];
    try {
      await em.execute('SELECT 1 FROM payout WHERE id = ? FOR UPDATE', [held!.id]);
      stepped = await t.app.use(payoutsModule).sender.sendEach(t.app.orm.em.fork(), read, { actor: 'test' });
    } finally {
      await em.rollback();
    }
    expect(stepped).toEqual([true, false, false, true, true]);

    const rows = await t.app.orm.em
      .fork()
      .execute<{ id: string; status: string; sequence: number; xmin: string }[]>(
        'SELECT id, status, sequence, xmin::text AS xmin FROM payout WHERE id IN (?)',
        [read.map((p) => p.id)],
      );
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect([first, held, stale, fourth, fifth].map((p) => byId.get(p!.id)!.status)).toEqual(['SENT', 'CREATED', 'CANCELLED', 'SENT', 'SENT']);
    // Each send committed on its own: the three rows were last written by three transactions.
    expect(new Set([first, fourth, fifth].map((p) => byId.get(p!.id)!.xmin)).size).toBe(3);
    expect(await balances(payee)).toMatchObject({ payout: 1_000n, 'payout-reserved': 1_000n, 'payout-sent': 3_000n });
    const facts = await t.app.use(payoutsModule).facts.forPayouts(t.app.orm.em.fork(), read.map((p) => p.id));
    expect(facts.map((f) => f.payout_id).sort()).toEqual([first, fourth, fifth].map((p) => p!.id).sort());
    const erp = await t.app.orm.em
      .fork()
      .execute<{ key: string; value: string }[]>(`SELECT key, value FROM outbox_message WHERE topic = 'erp.payouts' AND key IN (?)`, [
        read.map((p) => p.id),
      ]);
    expect(erp.map((m) => JSON.parse(m.value)).map((m) => [m.payoutId, m.amount, m.cashPaymentFactId]).sort()).toEqual(
      facts.map((f) => [f.payout_id, '1000', f.id]).sort(),
    );
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('keeps the sends before a failing payout and stops there; the ERP sender then sends the rest one by one', async () => {
    const payees = ['life-11-a', 'life-11-b', 'life-11-c'].map(client);
    const read: PayoutRow[] = [];
    for (const payee of payees) {
      await accrue(payee, 1_000n, 'earn-1');
      read.push((await create(payee, 1_000n, `${payee.kind}-${'id' in payee ? payee.id : ''}`)).payout);
    }
    // The second payee's reservation is taken away behind the payout's back: sending it would overdraw.
    const reservation = (id: string, to: 'payout' | 'payout-reserved', key: string) =>
      t.app.orm.em.fork().transactional((tx) =>
        t.app.use(ledgerModule).ledger.move(
          tx,
          { owner: { kind: 'CLIENT', id }, type: to === 'payout' ? 'payout-reserved' : 'payout', currency: 'RUB' },
          { owner: { kind: 'CLIENT', id }, type: to, currency: 'RUB' },
          { idempotencyKey: key, amount: 1_000n, kind: 'test' },
        ),
      );
    await reservation('life-11-b', 'payout', 'life-11-unreserve');
    await expect(t.app.use(payoutsModule).sender.sendEach(t.app.orm.em.fork(), read, { actor: 'test' })).rejects.toBeInstanceOf(InsufficientFundsError);
    const statuses = async () => {
      const rows = await t.app.orm.em.fork().execute<{ id: string; status: string }[]>('SELECT id, status FROM payout WHERE id IN (?)', [
        read.map((p) => p.id),
      ]);
      return read.map((p) => rows.find((row) => row.id === p.id)!.status);
    };
    expect(await statuses()).toEqual(['SENT', 'CREATED', 'CREATED']);

    // The gate sends what it can of the same chunk and leaves the failing payout CREATED.
    expect((await t.app.use(erpModule).gateway.sendBatch(100)).sent).toBe(1);
    expect(await statuses()).toEqual(['SENT', 'CREATED', 'SENT']);
    expect(await balances(payees[1]!)).toMatchObject({ payout: 1_000n, 'payout-reserved': 0n });

    // Once the money is back where it belongs, the next batch sends it.
    await reservation('life-11-b', 'payout-reserved', 'life-11-reserve-again');
    expect((await t.app.use(erpModule).gateway.sendBatch(100)).sent).toBe(1);
    expect(await statuses()).toEqual(['SENT', 'SENT', 'SENT']);
    for (const payee of payees) expect(await balances(payee)).toMatchObject({ payout: 0n, 'payout-reserved': 0n, 'payout-sent': 1_000n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('writes one payouts.events message per change with a growing sequence', async () => {
    const payee = client('life-6');
    await accrue(payee, 1_000n, 'earn-1');
    const { payout } = await create(payee, 1_000n, 'life-6-a');
    await move(payout.id, 'SENT');
    const rows = await t.app.orm.em
      .fork()
      .execute<{ topic: string; value: string }[]>('SELECT topic, value FROM outbox_message WHERE key = ? ORDER BY id', [payout.id]);
    const events = rows.filter((r) => r.topic === 'payouts.events').map((r) => JSON.parse(r.value));
    expect(events.map((e) => [e.sequence, e.status])).toEqual([
      [1, 'CREATED'],
      [2, 'SENT'],
    ]);
    const erp = rows.filter((r) => r.topic === 'erp.payouts').map((r) => JSON.parse(r.value));
    expect(erp).toHaveLength(1);
    expect(erp[0]).toMatchObject({ payoutId: payout.id, payee: { kind: 'CLIENT', id: 'life-6' }, amount: '1000', currency: 'RUB' });
  });
});

describe('sending racing cancels', () => {
  const SEED = seedFromEnv();
  const sender = () => t.app.use(payoutsModule).sender;
  const cancel = (id: string) => t.app.orm.em.fork().transactional((tx) => t.app.use(payoutsModule).lifecycle.cancel(tx, id, { actor: 'test' }));

  async function statusesOf(ids: string[]): Promise<Map<string, { status: string; history: string }>> {
    const rows = await t.app.orm.em.fork().execute<{ id: string; status: string; history: string }[]>(
      `SELECT id, status, (SELECT string_agg(status, '>' ORDER BY sequence) FROM payout_status_change WHERE payout_id = p.id) AS history
         FROM payout p WHERE id IN (?)`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, row]));
  }

  async function sentEvidence(ids: string[]): Promise<{ facts: string[]; erp: string[]; transfers: string[] }> {
    const em = t.app.orm.em.fork();
    const facts = await t.app.use(payoutsModule).facts.forPayouts(em, ids);
    const erp = await em.execute<{ key: string }[]>(`SELECT key FROM outbox_message WHERE topic = 'erp.payouts' AND key IN (?)`, [ids]);
    const transfers = await em.execute<{ reference: string }[]>(`SELECT reference FROM ledger_transfer WHERE kind = 'payout_sent' AND reference IN (?)`, [ids]);
    return { facts: facts.map((f) => f.payout_id).sort(), erp: erp.map((m) => m.key).sort(), transfers: transfers.map((x) => x.reference).sort() };
  }

  it('refuses a cancel that waited for a send in progress, and the send goes through whole', async () => {
    const payee = client('race-cancel-1');
    await accrue(payee, 3_000n, 'earn-1');
    const read: PayoutRow[] = [];
    for (const key of ['a', 'b', 'c']) read.push((await create(payee, 1_000n, `race-cancel-1-${key}`)).payout);
    const inFlight = await t.app.use(ledgerModule).ledger.accountIds(t.app.orm.em.fork(), [
      { owner: { kind: 'CLIENT', id: 'race-cancel-1' }, type: 'payout-sent', currency: 'RUB' },
    ]);
    // A test session holds the in-flight account: the first send stops inside its transaction, holding its payout.
    const holder = t.app.orm.em.fork();
    await holder.begin();
    let sending: Promise<boolean[]>;
    let cancelling: Promise<unknown>;
    try {
      await holder.execute('SELECT 1 FROM ledger_account WHERE id = ? FOR UPDATE', [inFlight[0]]);
      sending = sender().sendEach(t.app.orm.em.fork(), read, { actor: 'test' });
      await waitingFor(1);
      cancelling = cancel(read[0]!.id).then(
        () => 'cancelled',
        (error: unknown) => error,
      );
      await waitingFor(2); // the cancel waits for the payout the send holds
    } finally {
      await holder.rollback();
    }
    expect(await sending).toEqual([true, true, true]);
    expect(await cancelling).toBeInstanceOf(InvalidTransitionError);
    const ids = read.map((p) => p.id);
    expect([...(await statusesOf(ids)).values()].map((p) => p.history)).toEqual(ids.map(() => 'CREATED>SENT'));
    expect(await sentEvidence(ids)).toEqual({ facts: [...ids].sort(), erp: [...ids].sort(), transfers: [...ids].sort() });
    expect(await balances(payee)).toMatchObject({ payout: 0n, 'payout-reserved': 0n, 'payout-sent': 3_000n });
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it(`sends or cancels each payout, never both, when cancels race the sender's batches (SEED=${SEED})`, async () => {
    onTestFailed(() => console.error(`payout lifecycle: replay with SEED=${SEED}`));
    const rng = new Random(SEED);
    const payees = ['race-cancel-2a', 'race-cancel-2b', 'race-cancel-2c'].map(client);
    for (const payee of payees) await accrue(payee, 100_000n, 'earn-1');
    const tally = { cancelled: 0, sent: 0, sentUnderACancel: 0 };
    for (let round = 0; round < 5; round++) {
      const read: PayoutRow[] = [];
      for (let i = 0; i < 30; i++) read.push((await create(rng.pick(payees), rng.bigint(1, 1_000), `race-cancel-2-${round}-${i}`)).payout);
      const ids = read.map((p) => p.id);
      const targeted = ids.filter(() => rng.chance(0.5));
      // Two senders over the same queue, as two workers' gates read it, and cancels arriving meanwhile.
      const [first, second, cancels] = await Promise.all([
        sender().sendEach(t.app.orm.em.fork(), read, { actor: 'test' }),
        sender().sendEach(t.app.orm.em.fork(), [...read].reverse(), { actor: 'test' }).then((sent) => sent.reverse()),
        Promise.all(
          targeted.map(async (id) => {
            await new Promise((resolve) => setTimeout(resolve, rng.int(0, 15)));
            return cancel(id).then(
              (change) => change.changed,
              (error: unknown) => {
                if (!(error instanceof InvalidTransitionError)) throw error;
                return false;
              },
            );
          }),
        ),
      ]);
      const cancelled = new Set(targeted.filter((_, i) => cancels[i]));
      const sent = new Set(ids.filter((_, i) => first[i] || second[i]));
      const statuses = await statusesOf(ids);
      for (const [i, id] of ids.entries()) {
        expect(first[i] && second[i], `${id} sent twice`).toBe(false);
        expect(sent.has(id) && cancelled.has(id), `${id} sent and cancelled`).toBe(false);
        // Untargeted payouts are always sent: nothing else holds them.
        const status = cancelled.has(id) ? 'CANCELLED' : sent.has(id) ? 'SENT' : 'CREATED';
        expect(status, `${id} neither sent nor cancelled`).not.toBe('CREATED');
        expect(statuses.get(id), id).toEqual({ id, status, history: `CREATED>${status}` });
      }
      tally.cancelled += cancelled.size;
      tally.sent += sent.size;
      tally.sentUnderACancel += targeted.filter((id) => sent.has(id)).length;
      const sentIds = [...sent].sort();
      expect(await sentEvidence(ids)).toEqual({ facts: sentIds, erp: sentIds, transfers: sentIds });
    }
    // The premise: cancels won some races and lost others.
    expect(tally.cancelled, JSON.stringify(tally)).toBeGreaterThan(0);
    expect(tally.sentUnderACancel, JSON.stringify(tally)).toBeGreaterThan(0);
    for (const payee of payees) expect((await balances(payee))['payout-reserved']).toBe(0n);
    expect(await t.app.checkLedger()).toEqual([]);
  });
});

/** Waits until `count` sessions of this database, other than the test's own queries, wait for a lock. */
async function waitingFor(count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const [row] = await t.app.orm.em
      .fork()
      .execute<{ n: string }[]>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
    if (Number(row!.n) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${count} sessions never waited for a lock`);
}
