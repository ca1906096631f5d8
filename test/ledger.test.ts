import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { parseOperation } from '../src/operations/operation';
import { InsufficientFundsError, SYSTEM_OWNER, worldAccount, type AccountKey } from '../src/ledger/ledger.service';
import { sqlState, violatedConstraint } from '../src/platform/database-errors';
import { ConflictError } from '../src/platform/errors';
import type { Payee } from '../src/access/payee';
import { createTestApp, type TestApp } from './helpers/app';
import { Random, seedFromEnv } from './helpers/random';
import { shopsModule } from '../src/shops/module';
import { payoutsModule } from '../src/payouts/module';
import { operationsModule } from '../src/operations/module';
import { ledgerModule } from '../src/ledger/module';
import { accrualsModule } from '../src/accruals/module';

const ROOT = path.resolve(__dirname, '..');

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

const fork = () => t.app.orm.em.fork() as EntityManager;
const inTransaction = <T>(work: (tx: EntityManager) => Promise<T>) => fork().transactional(work);

/** Runs `work` in a transaction that is always rolled back: breaks the books without keeping the damage. */
async function inRolledBackTransaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
  const em = fork();
  await em.begin();
  try {
    return await work(em);
  } finally {
    await em.rollback();
  }
}

const account = (ownerId: string, type = 'payout', currency = 'RUB'): AccountKey => ({
  owner: { kind: 'CLIENT', id: ownerId },
  type,
  currency,
});

function open(key: AccountKey): Promise<string> {
  return inTransaction((tx) => t.app.use(ledgerModule).ledger.accountId(tx, key));
}

async function balanceOf(accountId: string): Promise<bigint> {
  const rows = await fork().execute<{ balance: string }[]>('SELECT balance::text AS balance FROM ledger_account WHERE id = ?', [accountId]);
  return BigInt(rows[0]!.balance);
}

function transfer(debit: string, credit: string, amount: bigint, idempotencyKey: string, currency = 'RUB') {
  return inTransaction((tx) =>
    t.app.use(ledgerModule).ledger.post(tx, { idempotencyKey, debitAccountId: debit, creditAccountId: credit, amount, currency, kind: 'test' }),
  );
}

/** Gives a payee money from the world, as an accrual would. */
async function fund(ownerId: string, amount: bigint, key: string, currency = 'RUB'): Promise<{ world: string; payee: string }> {
  const [world, payee] = [await open(worldAccount(currency)), await open(account(ownerId, 'payout', currency))];
  await transfer(world, payee, amount, key, currency);
  return { world, payee };
}

/** Credits a payee's `payout` account through the accrual service, as a Kafka accrual would. */
function accrue(payee: Payee, amount: bigint, reference: string, app = t.app) {
  return app.orm.em
    .fork()
    .transactional((tx) =>
      app.use(accrualsModule).accruals.apply(tx, { payee, account: 'payout', amount, currency: 'RUB', reference, occurredAt: new Date() }, 'MANUAL'),
    );
}

function createPayout(payee: Payee, amount: bigint, idempotencyKey: string) {
  return inTransaction((tx) => t.app.use(payoutsModule).lifecycle.create(tx, { payee, amount, currency: 'RUB', source: 'MANUAL', idempotencyKey }));
}

/** The SQLSTATE and constraint of a database error, read through MikroORM's wrapper. */
async function databaseError(promise: Promise<unknown>): Promise<{ state?: string; constraint?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { state: sqlState(error), constraint: violatedConstraint(error), message: String((error as Error).message) };
  }
  throw new Error('expected the database to refuse');
}

const rules = (violations: { rule: string }[]) => [...new Set(violations.map((v) => v.rule))].sort();

describe('ledger_post idempotency', () => {
  it('posts a key once: the same transfer again moves nothing and returns the first', async () => {
    const { world, payee } = await fund('idem-1', 100n, 'idem-1:fund');
    const first = await transfer(payee, world, 30n, 'idem-1:a');
    expect(first.created).toBe(true);
    const again = await transfer(payee, world, 30n, 'idem-1:a');
    expect(again).toEqual({ transferId: first.transferId, created: false });
    expect(await balanceOf(payee)).toBe(70n);
    const rows = await fork().execute('SELECT id FROM ledger_transfer WHERE idempotency_key = ?', ['idem-1:a']);
    expect(rows).toHaveLength(1);
  });

  it('refuses the same key for a different amount or different accounts, and moves nothing', async () => {
    const { world, payee } = await fund('idem-2', 100n, 'idem-2:fund');
    const other = await open(account('idem-2', 'bonus'));
    await transfer(payee, world, 30n, 'idem-2:a');

    const differentAmount = transfer(payee, world, 31n, 'idem-2:a');
    await expect(differentAmount).rejects.toBeInstanceOf(ConflictError);
    await expect(differentAmount).rejects.not.toBeInstanceOf(InsufficientFundsError);
    await expect(transfer(payee, other, 30n, 'idem-2:a')).rejects.toBeInstanceOf(ConflictError);
    await expect(transfer(world, payee, 30n, 'idem-2:a')).rejects.toBeInstanceOf(ConflictError);
    expect([await balanceOf(payee), await balanceOf(other)]).toEqual([70n, 0n]);
  });

  it('does not burn a key when the transfer is refused: it can be posted once the money is there', async () => {
    const { world, payee } = await fund('idem-3', 10n, 'idem-3:fund');
    await expect(transfer(payee, world, 15n, 'idem-3:a')).rejects.toBeInstanceOf(InsufficientFundsError);
    await transfer(world, payee, 5n, 'idem-3:top-up');
    expect((await transfer(payee, world, 15n, 'idem-3:a')).created).toBe(true);
    expect(await balanceOf(payee)).toBe(0n);
  });
});

describe('ledger_post_many (bulk posting)', () => {
  const many = (transfers: { debit: string; credit: string; amount: bigint; key: string }[]) =>
    inTransaction((tx) =>
      t.app.use(ledgerModule).ledger.postMany(
        tx,
        transfers.map((x) => ({ idempotencyKey: x.key, debitAccountId: x.debit, creditAccountId: x.credit, amount: x.amount, currency: 'RUB', kind: 'test' })),
      ),
    );

  it('posts each transfer as its own row and moves each balance by the sum of its legs', async () => {
    const world = await open(worldAccount('RUB'));
    const [a, b] = [await open(account('many-1')), await open(account('many-2'))];
    const posted = await many([
      { debit: world, credit: a, amount: 100n, key: 'many-1:in' },
      { debit: world, credit: b, amount: 50n, key: 'many-2:in' },
      { debit: a, credit: b, amount: 30n, key: 'many-1:to-2' },
    ]);
    expect(posted).toBe(3);
    expect([await balanceOf(a), await balanceOf(b)]).toEqual([70n, 80n]);
    const rows = await fork().execute(`SELECT id FROM ledger_transfer WHERE idempotency_key LIKE 'many-%'`);
    expect(rows).toHaveLength(3);
  });

  it('posts a key once: a repeated batch, or a key twice in one batch, moves nothing more', async () => {
    const world = await open(worldAccount('RUB'));
    const a = await open(account('many-3'));
    const batch = [{ debit: world, credit: a, amount: 40n, key: 'many-3:in' }];
    expect(await many(batch)).toBe(1);
    expect(await many([...batch, { debit: world, credit: a, amount: 5n, key: 'many-3:more' }, { debit: world, credit: a, amount: 5n, key: 'many-3:more' }])).toBe(1);
    expect(await balanceOf(a)).toBe(45n);
  });

  it('refuses a key reused for a different transfer, and moves nothing of the batch', async () => {
    const world = await open(worldAccount('RUB'));
    const a = await open(account('many-4'));
    await many([{ debit: world, credit: a, amount: 10n, key: 'many-4:in' }]);
    const reused = many([
      { debit: world, credit: a, amount: 7n, key: 'many-4:fresh' },
      { debit: world, credit: a, amount: 11n, key: 'many-4:in' },
    ]);
    await expect(reused).rejects.toBeInstanceOf(ConflictError);
    expect(await balanceOf(a)).toBe(10n);
  });

  it('refuses a batch that would overdraw an account that may not go negative', async () => {
    const world = await open(worldAccount('RUB'));
    const a = await open(account('many-5'));
    await many([{ debit: world, credit: a, amount: 10n, key: 'many-5:in' }]);
    await expect(many([{ debit: a, credit: world, amount: 11n, key: 'many-5:out' }])).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await balanceOf(a)).toBe(10n);
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });
});

describe('moveMany (accounts by key, then one bulk posting)', () => {
  it('opens the accounts it names and posts each move once, between the right pair, in its from account\'s currency', async () => {
    const moves = [
      { from: worldAccount('RUB'), to: account('move-many-1'), transfer: { idempotencyKey: 'move-many-1:in', amount: 70n, kind: 'test' } },
      { from: worldAccount('USD'), to: account('move-many-2', 'payout', 'USD'), transfer: { idempotencyKey: 'move-many-2:in', amount: 5n, kind: 'test' } },
      { from: account('move-many-1'), to: account('move-many-2'), transfer: { idempotencyKey: 'move-many-1:to-2', amount: 20n, kind: 'test' } },
    ];
    expect(await inTransaction((tx) => t.app.use(ledgerModule).ledger.moveMany(tx, moves))).toBe(3);
    // The same moves again (a retried job) move nothing.
    expect(await inTransaction((tx) => t.app.use(ledgerModule).ledger.moveMany(tx, moves))).toBe(0);
    expect(await balanceOf(await open(account('move-many-1')))).toBe(50n);
    expect(await balanceOf(await open(account('move-many-2')))).toBe(20n);
    expect(await balanceOf(await open(account('move-many-2', 'payout', 'USD')))).toBe(5n);
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });
});

describe('accounts', () => {
  it('forgets an account opened by a transaction that rolled back', async () => {
    const payee: Payee = { kind: 'CLIENT', id: 'phantom-1' };
    // The first payout opens the payee's accounts, then fails for want of money and rolls back.
    await expect(createPayout(payee, 100n, 'phantom-1:a')).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await t.app.use(ledgerModule).ledger.accountsOf(fork(), { kind: 'CLIENT', id: 'phantom-1' })).toEqual([]);

    await accrue(payee, 100n, 'phantom-1:earn');
    const { payout } = await createPayout(payee, 100n, 'phantom-1:a');
    expect(payout.status).toBe('CREATED');
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });

  it('opens one account per owner, type and currency however many open it at once', async () => {
    const key = account('open-1', 'payout', 'USD');
    const ids = await Promise.all(Array.from({ length: 10 }, () => open(key)));
    expect(new Set(ids).size).toBe(1);
  });

  it('opens many accounts in one call, each once, when overlapping calls race in opposite orders', async () => {
    const keys = Array.from({ length: 200 }, (_, n) => account(`bulk-${n}`, 'payout-reserved'));
    const reversed = [...keys].reverse();
    // Overlapping sets opened in opposite orders, each in its own transaction: no deadlock, one row per key.
    const [a, b, c] = await Promise.all([
      inTransaction((tx) => t.app.use(ledgerModule).ledger.accountIds(tx, keys)),
      inTransaction((tx) => t.app.use(ledgerModule).ledger.accountIds(tx, reversed)),
      t.app.use(ledgerModule).ledger.accountIds(fork(), [...keys.slice(100), ...keys.slice(0, 100)]),
    ]);
    expect(b).toEqual([...a].reverse());
    expect(c).toEqual([...a.slice(100), ...a.slice(0, 100)]);
    const rows = await fork().execute<{ n: string }[]>(
      `SELECT count(*) AS n FROM ledger_account WHERE owner_id LIKE 'bulk-%' AND type = 'payout-reserved'`,
    );
    expect(Number(rows[0]!.n)).toBe(200);
  });

  it('returns the ids in the order asked, a key asked twice with the same id', async () => {
    const [x, y, xAgain] = await t.app.use(ledgerModule).ledger.accountIds(fork(), [account('order-1'), account('order-2'), account('order-1')]);
    expect(xAgain).toBe(x);
    expect(y).not.toBe(x);
    expect(await t.app.use(ledgerModule).ledger.accountId(fork(), account('order-2'))).toBe(y);
  });
});

describe('database rules', () => {
  it('refuses to update or delete a transfer', async () => {
    const { payee } = await fund('immutable-1', 100n, 'immutable-1:fund');
    const update = await databaseError(fork().execute(`UPDATE ledger_transfer SET amount = 1 WHERE idempotency_key = 'immutable-1:fund'`));
    expect(update).toMatchObject({ state: 'PL001', message: expect.stringContaining('immutable') });
    const remove = await databaseError(fork().execute(`DELETE FROM ledger_transfer WHERE idempotency_key = 'immutable-1:fund'`));
    expect(remove.state).toBe('PL001');
    const rows = await fork().execute<{ amount: string }[]>(
      `SELECT amount::text AS amount FROM ledger_transfer WHERE idempotency_key = 'immutable-1:fund'`,
    );
    expect(rows).toEqual([{ amount: '100' }]);
    expect(await balanceOf(payee)).toBe(100n);
  });

  it('refuses a transfer between accounts of different currencies', async () => {
    const { payee: rub } = await fund('fx-1', 100n, 'fx-1:fund');
    const usd = await open(account('fx-1', 'payout', 'USD'));
    // Whichever currency the transfer claims, one side's foreign key (id, currency) does not match.
    expect(await databaseError(transfer(rub, usd, 10n, 'fx-1:a', 'RUB'))).toMatchObject({
      state: '23503',
      constraint: 'ledger_transfer_credit_fk',
    });
    expect(await databaseError(transfer(rub, usd, 10n, 'fx-1:b', 'USD'))).toMatchObject({
      state: '23503',
      constraint: 'ledger_transfer_debit_fk',
    });
    // Moving by account keys takes the currency from the debit side: still refused.
    const byKey = inTransaction((tx) =>
      t.app.use(ledgerModule).ledger.move(tx, account('fx-1', 'payout', 'RUB'), account('fx-1', 'payout', 'USD'), {
        idempotencyKey: 'fx-1:c',
        amount: 10n,
        kind: 'test',
      }),
    );
    expect((await databaseError(byKey)).state).toBe('23503');
    expect([await balanceOf(rub), await balanceOf(usd)]).toEqual([100n, 0n]);
  });

  it('keeps a non-negative account at zero or above, even against raw SQL', async () => {
    const { world, payee } = await fund('neg-1', 100n, 'neg-1:fund');
    const raw = await databaseError(fork().execute('UPDATE ledger_account SET balance = -1 WHERE id = ?', [payee]));
    expect(raw).toMatchObject({ state: '23514', constraint: 'ledger_account_balance_non_negative' });

    await expect(transfer(payee, world, 101n, 'neg-1:a')).rejects.toBeInstanceOf(InsufficientFundsError);
    await expect(transfer(payee, world, 101n, 'neg-1:a')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await balanceOf(payee)).toBe(100n);
    expect((await transfer(payee, world, 100n, 'neg-1:b')).created).toBe(true);
    expect(await balanceOf(payee)).toBe(0n);
  });

  it('lets the system world account go negative: that is where money enters', async () => {
    const world = await open(worldAccount('KZT'));
    const payee = await open(account('world-1', 'payout', 'KZT'));
    await transfer(world, payee, 500n, 'world-1:fund', 'KZT');
    expect(await balanceOf(world)).toBe(-500n);
    const system = await fork().execute<{ owner_kind: string; allow_negative: boolean }[]>(
      'SELECT owner_kind, allow_negative FROM ledger_account WHERE id IN (?, ?) ORDER BY id',
      [world, payee],
    );
    expect(system).toEqual([
      { owner_kind: SYSTEM_OWNER.kind, allow_negative: true },
      { owner_kind: 'CLIENT', allow_negative: false },
    ]);
  });
});

describe('concurrency', () => {
  it('never overdraws an account: of 20 parallel payouts exactly the affordable ones succeed', async () => {
    const payee: Payee = { kind: 'CLIENT', id: 'race-1' };
    await accrue(payee, 12_500n, 'race-1:earn');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => createPayout(payee, 1_000n, `race-1:${n}`)));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(12);
    expect(refused).toHaveLength(8);
    for (const reason of refused) expect(reason).toBeInstanceOf(InsufficientFundsError);

    const accounts = await t.app.use(ledgerModule).ledger.accountsOf(fork(), { kind: 'CLIENT', id: 'race-1' });
    expect(Object.fromEntries(accounts.map((a) => [a.type, a.balance]))).toEqual({ payout: 500n, 'payout-reserved': 12_000n });
    const payouts = await fork().execute<{ n: string }[]>(`SELECT count(*)::text AS n FROM payout WHERE payee_id = 'race-1'`);
    expect(payouts[0]!.n).toBe('12');
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });

  it('keeps the books when transfers cross between the same accounts in both directions at once', async () => {
    const { payee: a } = await fund('cross-1', 1_000n, 'cross-1:fund');
    const b = await open(account('cross-1', 'bonus'));
    await transfer(a, b, 500n, 'cross-1:seed');
    // Opposite directions lock the same two rows: ledger_post locks in id order, so no deadlock.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? transfer(a, b, 30n, `cross-1:ab:${n}`) : transfer(b, a, 20n, `cross-1:ba:${n}`))),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect([await balanceOf(a), await balanceOf(b)]).toEqual([500n - 20n * 30n + 20n * 20n, 500n + 20n * 30n - 20n * 20n]);
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });
});

describe('payout batches racing transfer batches', () => {
  const SEED = seedFromEnv();

  it(`keeps the books when createMany races ledger_post_many batches and single transfers over the same accounts (SEED=${SEED})`, async () => {
    onTestFailed(() => console.error(`ledger: replay with SEED=${SEED}`));
    const rng = new Random(SEED);
    const ids = Array.from({ length: 6 }, (_, i) => `mix-${i}`);
    const world = await open(worldAccount('RUB'));
    const available = new Map<string, string>();
    const reserved = new Map<string, string>();
    for (const id of ids) {
      available.set(id, (await fund(id, 20_000n, `mix:fund:${id}`)).payee);
      reserved.set(id, await open(account(id, 'payout-reserved')));
    }
    /** The books as they must be: balance by account id. */
    const expected = new Map<string, bigint>([...available.values()].map((a) => [a, 20_000n]));
    const move = (from: string, to: string, amount: bigint) => {
      expected.set(from, (expected.get(from) ?? 0n) - amount);
      expected.set(to, (expected.get(to) ?? 0n) + amount);
    };
    const live: { id: string; payee: string; amount: bigint }[] = [];
    let n = 0;

    for (let round = 0; round < 10; round++) {
      // Each batch names its accounts in an order of its own: the database must lock them in one.
      const payoutBatches = Array.from({ length: 3 }, () =>
        Array.from({ length: 4 }, () => ({ payee: rng.pick(ids), amount: rng.bigint(100, 4_000), key: `mix:payout:${++n}` })),
      );
      const transferBatches = Array.from({ length: 3 }, () =>
        Array.from({ length: 4 }, () => {
          const payee = available.get(rng.pick(ids))!;
          const credit = rng.chance(0.5);
          return { debit: credit ? world : payee, credit: credit ? payee : world, amount: rng.bigint(100, 4_000), key: `mix:transfer:${++n}` };
        }),
      );
      const cancels = live.splice(0, Math.min(live.length, 3));

      const work: { effect: () => void; promise: Promise<unknown> }[] = [
        ...payoutBatches.map((batch) => ({
          promise: inTransaction((tx) =>
            t.app.use(payoutsModule).lifecycle.createMany(
              tx,
              batch.map((p) => ({ payee: { kind: 'CLIENT', id: p.payee }, amount: p.amount, currency: 'RUB', source: 'MANUAL' as const, idempotencyKey: p.key })),
            ),
          ).then((changes) => changes.forEach((c, i) => live.push({ id: c.payout.id, payee: batch[i]!.payee, amount: batch[i]!.amount }))),
          effect: () => batch.forEach((p) => move(available.get(p.payee)!, reserved.get(p.payee)!, p.amount)),
        })),
        ...transferBatches.map((batch) => ({
          promise: inTransaction((tx) =>
            t.app.use(ledgerModule).ledger.postMany(
              tx,
              batch.map((x) => ({ idempotencyKey: x.key, debitAccountId: x.debit, creditAccountId: x.credit, amount: x.amount, currency: 'RUB', kind: 'test' })),
            ),
          ),
          effect: () => batch.forEach((x) => move(x.debit, x.credit, x.amount)),
        })),
        ...cancels.map((p) => ({
          promise: inTransaction((tx) => t.app.use(payoutsModule).lifecycle.cancel(tx, p.id, { actor: 'test' })),
          effect: () => move(reserved.get(p.payee)!, available.get(p.payee)!, p.amount),
        })),
      ];
      const results = await Promise.allSettled(work.map((w) => w.promise));
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') work[i]!.effect();
        // Only the money may be short; a deadlock or anything else is a failure of the locking.
        else expect(result.reason, `round ${round}`).toBeInstanceOf(InsufficientFundsError);
      }
      const payees = [...available.values(), ...reserved.values()];
      const rows = await fork().execute<{ id: string; balance: string }[]>('SELECT id, balance::text AS balance FROM ledger_account WHERE id IN (?)', [
        payees,
      ]);
      expect(Object.fromEntries(rows.map((r) => [r.id, BigInt(r.balance)])), `round ${round}`).toEqual(
        Object.fromEntries(payees.map((id) => [id, expected.get(id) ?? 0n])),
      );
    }
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });
});

describe('checkLedger', () => {
  /** A payee with an accrual and one payout in each of two statuses: something for every rule to look at. */
  let pending: string;
  let cancelled: string;
  beforeAll(async () => {
    const payee: Payee = { kind: 'CLIENT', id: 'check-1' };
    await accrue(payee, 10_000n, 'check-1:earn');
    pending = (await createPayout(payee, 1_000n, 'check-1:a')).payout.id;
    cancelled = (await createPayout(payee, 1_000n, 'check-1:b')).payout.id;
    await inTransaction((tx) => t.app.use(payoutsModule).lifecycle.cancel(tx, cancelled));
  });

  it('finds nothing wrong with healthy books', async () => {
    expect(await t.app.checkLedger(fork())).toEqual([]);
  });

  it('reports a balance changed behind the ledger’s back', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      await tx.execute(`UPDATE ledger_account SET balance = balance + 7 WHERE owner_id = 'check-1' AND type = 'payout'`);
      return t.app.checkLedger(tx);
    });
    expect(rules(violations)).toEqual(['each balance equals its credits minus its debits', 'each currency sums to zero over all accounts']);
  });

  it('reports an edited transfer once the immutability trigger is off', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      await tx.execute('ALTER TABLE ledger_transfer DISABLE TRIGGER ledger_transfer_immutable');
      await tx.execute(`UPDATE ledger_transfer SET amount = amount + 1 WHERE idempotency_key = 'accrual:CLIENT:check-1:check-1:earn'`);
      return t.app.checkLedger(tx);
    });
    expect(rules(violations)).toEqual(['each balance equals its credits minus its debits']);
    expect(violations).toHaveLength(2); // both sides of the transfer
  });

  it('reports a negative balance once the CHECK constraint is gone', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      await tx.execute('ALTER TABLE ledger_account DROP CONSTRAINT ledger_account_balance_non_negative');
      const from = await t.app.use(ledgerModule).ledger.accountId(tx, account('check-1'));
      const to = await t.app.use(ledgerModule).ledger.accountId(tx, worldAccount('RUB'));
      const overdraw = { idempotencyKey: 'check-1:overdraw', amount: 50_000n, currency: 'RUB', kind: 'test' };
      await t.app.use(ledgerModule).ledger.post(tx, { ...overdraw, debitAccountId: from, creditAccountId: to });
      return t.app.checkLedger(tx);
    });
    expect(rules(violations)).toEqual(['no balance below zero where the account forbids it']);
  });

  it('reports a payout whose amount no longer matches its reservation', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      await tx.execute('UPDATE payout SET amount = amount + 1 WHERE id = ?', [pending]);
      return t.app.checkLedger(tx);
    });
    expect(rules(violations)).toEqual(['reserved and in-flight accounts hold exactly their live payouts']);
  });

  it('reports scheduled payouts that do not pay exactly their marked operations', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      const shop = { partyId: 'books', shopId: 'shop' };
      await t.app.use(shopsModule).shops.apply(tx, { type: 'ShopCreated', eventId: 'books-1', occurredAt: new Date(), ...shop, currency: 'RUB', payoutToolId: null, payoutScheduleId: null });
      const operation = (invoiceId: string) =>
        parseOperation(`books-${invoiceId}`, { type: 'PaymentCaptured', occurredAt: '2026-11-01T00:00:00Z', ...shop, invoiceId, paymentId: '1', amount: '1000', currency: 'RUB' });
      await t.app.use(operationsModule).operations.record(tx, [operation('i1'), operation('i2')]);
      const { payout } = await t.app.use(payoutsModule).lifecycle.create(tx, { payee: { kind: 'SHOP', ...shop }, amount: 1500n, currency: 'RUB', source: 'SCHEDULE', idempotencyKey: 'books-run' });
      await tx.execute(`UPDATE shop_operation SET payout_id = ? WHERE party_id = 'books' AND invoice_id = 'i1'`, [payout.id]);
      await tx.execute(`UPDATE shop_operation SET payout_id = ? WHERE party_id = 'books' AND invoice_id = 'i2'`, [randomUUID()]);
      return t.app.checkLedger(tx);
    });
    expect(rules(violations).sort()).toEqual([
      'a live scheduled payout pays exactly the sum of its operations',
      'a marked operation belongs to a live scheduled payout of its shop',
    ]);
  });

  it('reports a payout status that was never moved in money', async () => {
    const violations = await inRolledBackTransaction(async (tx) => {
      // CANCELLED → REJECTED holds nothing either way, but a REJECTED payout must have been sent.
      await tx.execute(`UPDATE payout SET status = 'REJECTED' WHERE id = ?`, [cancelled]);
      return t.app.checkLedger(tx);
    });
    expect(rules(violations)).toEqual(['every payout status has its one ledger movement']);
    expect(violations[0]!.detail).toContain(cancelled);
  });
});

describe('payouts ledger check (CLI)', () => {
  let broken: TestApp;
  beforeAll(async () => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
    broken = await createTestApp();
  });
  afterAll(async () => broken?.close());

  function ledgerCheck(databaseUrl: string): Promise<{ code: number; stdout: string }> {
    // Only what the command needs: no KAFKA_BROKERS from the test run's environment.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl };
    return new Promise((resolve) => {
      execFile('node', ['bin/payouts.js', 'ledger', 'check'], { cwd: ROOT, env }, (error, stdout) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout });
      });
    });
  }

  it('exits 0 on healthy books and 1 with the violation on broken ones', async () => {
    await accrue({ kind: 'CLIENT', id: 'cli-1' }, 500n, 'cli-1:earn', broken.app);
    expect(await ledgerCheck(broken.env.DATABASE_URL!)).toEqual({ code: 0, stdout: 'ledger ok\n' });

    await broken.app.orm.em.fork().execute(`UPDATE ledger_account SET balance = balance + 1 WHERE owner_id = 'cli-1'`);
    const result = await ledgerCheck(broken.env.DATABASE_URL!);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('VIOLATION each currency sums to zero over all accounts');
    expect(result.stdout).toContain('VIOLATION each balance equals its credits minus its debits');
  });
});
