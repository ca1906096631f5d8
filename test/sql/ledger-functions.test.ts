import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { LEDGER_KEY_REUSED } from '../../src/ledger/ledger.service';
import { SqlState } from '../../src/platform/database-errors';
import {
  LEDGER_TABLES,
  balances,
  changedKeys,
  expectNothingChanged,
  expectRefused,
  fund,
  ledgerPost,
  openAccount,
  useSqlTestDatabase,
  snapshot,
  unique,
  worldAccount,
} from './sql-helpers';

/**
 * The ledger's SQL functions on their own, called in SQL through a plain `pg` client: what each
 * writes, what a repeat does, and that every refusal leaves every account and transfer as it was.
 */

const MAX_BIGINT = 9223372036854775807n;
/** The constraints and SQLSTATEs LedgerService turns into domain errors, and the others a refusal raises. */
const NON_NEGATIVE = { code: SqlState.checkViolation, constraint: 'ledger_account_balance_non_negative' };
const KEY_REUSED = { code: LEDGER_KEY_REUSED, message: /idempotency key .* was used for a different transfer/ };
const OUT_OF_RANGE = { code: SqlState.numericOutOfRange, message: /bigint out of range/ };
const AMOUNT_NOT_POSITIVE = { code: SqlState.checkViolation, constraint: 'ledger_transfer_amount_check' };
const SAME_ACCOUNT = { code: SqlState.checkViolation, constraint: 'ledger_transfer_distinct_accounts' };
const FOREIGN_KEY = '23503';
const NOT_NULL = '23502';
const IMMUTABLE = { code: 'PL001', message: /ledger transfers are immutable/ };

let client: Client;
const db = useSqlTestDatabase((opened) => (client = opened.client));

/** A world account and a fresh payee account in `currency`, the payee holding `funds`. */
async function payee(funds = 0n, currency = 'RUB'): Promise<{ world: string; payee: string }> {
  const world = await worldAccount(client, currency);
  const account = await openAccount(client, { currency });
  if (funds > 0n) await fund(client, account, funds, currency);
  return { world, payee: account };
}

async function transferRow(id: string) {
  const { rows } = await client.query(
    `SELECT idempotency_key, debit_account_id, credit_account_id, amount, currency, kind, reference FROM ledger_transfer WHERE id = $1`,
    [id],
  );
  return rows[0];
}

const postMany = (transfers: { key: string; debit: string; credit: string; amount: bigint; currency?: string; kind?: string; reference?: string | null }[]) =>
  client
    .query<{ posted: number }>('SELECT ledger_post_many($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS posted', [
      transfers.map((t) => t.key),
      transfers.map((t) => t.debit),
      transfers.map((t) => t.credit),
      transfers.map((t) => String(t.amount)),
      transfers.map((t) => t.currency ?? 'RUB'),
      transfers.map((t) => t.kind ?? 'test'),
      transfers.map((t) => t.reference ?? null),
    ])
    .then((result) => result.rows[0]!.posted);

describe('ledger_post', () => {
  it('writes one transfer and moves its amount from the debit balance to the credit balance, and nothing else', async () => {
    const { world, payee: account } = await payee();
    const before = await snapshot(client, LEDGER_TABLES);
    const [worldBefore] = await balances(client, [world]);

    const posted = await ledgerPost(client, { key: 'post-1', debit: world, credit: account, amount: 100n, kind: 'accrual', reference: 'ref-1' });

    expect(posted.created).toBe(true);
    expect(await transferRow(posted.transfer_id)).toEqual({
      idempotency_key: 'post-1',
      debit_account_id: world,
      credit_account_id: account,
      amount: '100',
      currency: 'RUB',
      kind: 'accrual',
      reference: 'ref-1',
    });
    expect(await balances(client, [world, account])).toEqual([worldBefore! - 100n, 100n]);
    expect(changedKeys(before, await snapshot(client, LEDGER_TABLES))).toEqual({
      ledger_account: [world, account].sort(),
      ledger_transfer: [posted.transfer_id],
    });
    // Both balances changed in the transfer's own transaction.
    const { rows } = await client.query(
      'SELECT count(*)::int AS n FROM ledger_account a, ledger_transfer t WHERE t.id = $1 AND a.id IN ($2, $3) AND a.updated_at = t.created_at',
      [posted.transfer_id, world, account],
    );
    expect(rows[0].n).toBe(2);
  });

  it('moves money the same whichever of the two accounts has the lower id', async () => {
    const { world, payee: account } = await payee(100n);
    expect(BigInt(account)).toBeGreaterThan(BigInt(world));
    const [worldBefore] = await balances(client, [world]);
    await ledgerPost(client, { key: unique('higher-to-lower'), debit: account, credit: world, amount: 30n });
    expect(await balances(client, [world, account])).toEqual([worldBefore! + 30n, 70n]);
  });

  it('lets an account that allows it go negative', async () => {
    const world = await openAccount(client, { ownerKind: 'SYSTEM', type: 'world-test', allowNegative: true });
    const account = await openAccount(client);
    await ledgerPost(client, { key: unique('to-the-floor'), debit: world, credit: account, amount: MAX_BIGINT });
    expect(await balances(client, [world, account])).toEqual([-MAX_BIGINT, MAX_BIGINT]);
  });

  it('posts a key once: the same transfer again returns the first and changes no row', async () => {
    const { world, payee: account } = await payee();
    const first = await ledgerPost(client, { key: 'post-again', debit: world, credit: account, amount: 40n });
    const again = await expectNothingChanged(client, LEDGER_TABLES, () =>
      ledgerPost(client, { key: 'post-again', debit: world, credit: account, amount: 40n }),
    );
    expect(again).toEqual({ transfer_id: first.transfer_id, created: false });
    expect(await balances(client, [account])).toEqual([40n]);
  });

  it('refuses a key used for a different transfer (another amount, debit or credit) with PL002', async () => {
    const { world, payee: account } = await payee();
    const other = await openAccount(client);
    await ledgerPost(client, { key: 'post-conflict', debit: world, credit: account, amount: 40n });
    for (const changed of [
      { debit: world, credit: account, amount: 41n },
      { debit: world, credit: other, amount: 40n },
      { debit: other, credit: account, amount: 40n },
    ]) {
      const error = await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: 'post-conflict', ...changed }), KEY_REUSED);
      expect(error.message).toContain('post-conflict');
    }
    expect(await balances(client, [account, other])).toEqual([40n, 0n]);
  });

  it('refuses to take a balance that may not go negative below zero, and leaves the key unused', async () => {
    const { world, payee: account } = await payee(100n);
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: 'overdraft', debit: account, credit: world, amount: 101n }), NON_NEGATIVE);
    await fund(client, account, 1n);
    expect((await ledgerPost(client, { key: 'overdraft', debit: account, credit: world, amount: 101n })).created).toBe(true);
    expect(await balances(client, [account])).toEqual([0n]);
  });

  it('refuses a transfer between accounts of different currencies, or in a currency not theirs', async () => {
    const { world: rubWorld, payee: rub } = await payee(100n, 'RUB');
    const usd = await openAccount(client, { currency: 'USD' });
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('fx'), debit: rub, credit: usd, amount: 1n, currency: 'RUB' }), {
      code: FOREIGN_KEY,
      constraint: 'ledger_transfer_credit_fk',
    });
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('fx'), debit: usd, credit: rub, amount: 1n, currency: 'RUB' }), {
      code: FOREIGN_KEY,
      constraint: 'ledger_transfer_debit_fk',
    });
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('fx'), debit: rubWorld, credit: rub, amount: 1n, currency: 'EUR' }), {
      code: FOREIGN_KEY,
      constraint: 'ledger_transfer_debit_fk',
    });
  });

  it('refuses an account that does not exist', async () => {
    const { payee: account } = await payee(100n);
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('nowhere'), debit: account, credit: '999999999', amount: 1n }), {
      code: FOREIGN_KEY,
      constraint: 'ledger_transfer_credit_fk',
    });
  });

  it('refuses an amount that is zero or negative', async () => {
    const { world, payee: account } = await payee(100n);
    for (const amount of [0n, -1n, -100n]) {
      await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('not-positive'), debit: world, credit: account, amount }), AMOUNT_NOT_POSITIVE);
      await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('not-positive'), debit: account, credit: world, amount }), AMOUNT_NOT_POSITIVE);
    }
  });

  it('refuses a transfer that would take a balance out of the bigint range, on either side', async () => {
    const floor = await openAccount(client, { ownerKind: 'SYSTEM', type: 'world-floor', allowNegative: true });
    const full = await openAccount(client);
    await ledgerPost(client, { key: unique('fill'), debit: floor, credit: full, amount: MAX_BIGINT });
    const other = await openAccount(client);
    const world = await worldAccount(client);
    // The credit side would pass the top...
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('overflow'), debit: world, credit: full, amount: 1n }), OUT_OF_RANGE);
    // ...the debit side the bottom (-MAX_BIGINT - 1 is the last bigint).
    await ledgerPost(client, { key: unique('to-the-last'), debit: floor, credit: other, amount: 1n });
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('underflow'), debit: floor, credit: other, amount: 1n }), OUT_OF_RANGE);
    expect(await balances(client, [floor, full, other])).toEqual([-MAX_BIGINT - 1n, MAX_BIGINT, 1n]);
  });

  it('refuses the same account on both sides', async () => {
    const { payee: account } = await payee(100n);
    await expectRefused(client, LEDGER_TABLES, () => ledgerPost(client, { key: unique('self'), debit: account, credit: account, amount: 1n }), SAME_ACCOUNT);
  });

  it('refuses a transfer without an idempotency key', async () => {
    const { world, payee: account } = await payee();
    await expectRefused(
      client,
      LEDGER_TABLES,
      () => client.query(`SELECT * FROM ledger_post(NULL, $1::bigint, $2::bigint, 1, 'RUB', 'test', NULL)`, [world, account]),
      { code: NOT_NULL, constraint: undefined, message: /idempotency_key/ },
    );
  });
});

describe('ledger_post_many', () => {
  it('writes every transfer of a batch and changes each balance by the sum of its legs', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    const b = await openAccount(client);
    await fund(client, a, 10n);
    const [worldBefore] = await balances(client, [world]);
    const before = await snapshot(client, LEDGER_TABLES);

    // a receives 100 and pays 30 of it on in the same batch: what counts is where it ends.
    const posted = await postMany([
      { key: 'many-1', debit: world, credit: a, amount: 100n, kind: 'accrual', reference: 'r1' },
      { key: 'many-2', debit: a, credit: b, amount: 30n, kind: 'move' },
      { key: 'many-3', debit: world, credit: b, amount: 5n },
    ]);

    expect(posted).toBe(3);
    expect(await balances(client, [world, a, b])).toEqual([worldBefore! - 105n, 80n, 35n]);
    const { rows } = await client.query(
      `SELECT idempotency_key, debit_account_id, credit_account_id, amount, currency, kind, reference
         FROM ledger_transfer WHERE idempotency_key LIKE 'many-_' ORDER BY idempotency_key`,
    );
    expect(rows).toEqual([
      { idempotency_key: 'many-1', debit_account_id: world, credit_account_id: a, amount: '100', currency: 'RUB', kind: 'accrual', reference: 'r1' },
      { idempotency_key: 'many-2', debit_account_id: a, credit_account_id: b, amount: '30', currency: 'RUB', kind: 'move', reference: null },
      { idempotency_key: 'many-3', debit_account_id: world, credit_account_id: b, amount: '5', currency: 'RUB', kind: 'test', reference: null },
    ]);
    const changed = changedKeys(before, await snapshot(client, LEDGER_TABLES));
    expect(changed.ledger_account).toEqual([world, a, b].sort());
    expect(changed.ledger_transfer).toHaveLength(3);
  });

  it('records transfers that net to nothing on an account without writing its row', async () => {
    const a = await openAccount(client);
    const b = await openAccount(client);
    await fund(client, a, 50n);
    const before = await snapshot(client, LEDGER_TABLES);
    expect(
      await postMany([
        { key: unique('there'), debit: a, credit: b, amount: 50n },
        { key: unique('back'), debit: b, credit: a, amount: 50n },
      ]),
    ).toBe(2);
    const changed = changedKeys(before, await snapshot(client, LEDGER_TABLES));
    expect(changed.ledger_account).toBeUndefined();
    expect(changed.ledger_transfer).toHaveLength(2);
    expect(await balances(client, [a, b])).toEqual([50n, 0n]);
  });

  it('returns 0 for an empty batch and changes nothing', async () => {
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => postMany([]))).toBe(0);
  });

  it('posts each key once: the same batch again returns 0 and changes no row; a batch with old and new keys moves only the new', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    const batch = [
      { key: 'many-again-1', debit: world, credit: a, amount: 7n },
      { key: 'many-again-2', debit: world, credit: a, amount: 8n },
    ];
    expect(await postMany(batch)).toBe(2);
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => postMany(batch))).toBe(0);
    expect(await postMany([...batch, { key: 'many-again-3', debit: world, credit: a, amount: 9n }])).toBe(1);
    expect(await balances(client, [a])).toEqual([24n]);
  });

  it('moves money once for a key given twice in one batch', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    const twice = { key: unique('twice'), debit: world, credit: a, amount: 11n };
    expect(await postMany([twice, twice])).toBe(1);
    expect(await balances(client, [a])).toEqual([11n]);
  });

  it('refuses the whole batch, new transfers too, when a key was used for a different transfer', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    await postMany([{ key: 'many-conflict', debit: world, credit: a, amount: 7n }]);
    const error = await expectRefused(
      client,
      LEDGER_TABLES,
      () =>
        postMany([
          { key: unique('innocent'), debit: world, credit: a, amount: 1n },
          { key: 'many-conflict', debit: world, credit: a, amount: 8n },
        ]),
      KEY_REUSED,
    );
    expect(error.message).toContain('many-conflict');
    // Twice in one batch with different amounts: the second is not the first.
    const key = unique('twice-different');
    await expectRefused(
      client,
      LEDGER_TABLES,
      () =>
        postMany([
          { key, debit: world, credit: a, amount: 1n },
          { key, debit: world, credit: a, amount: 2n },
        ]),
      KEY_REUSED,
    );
  });

  it('refuses a batch that leaves a balance that may not go negative below zero, whatever the order of its legs', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    await fund(client, a, 10n);
    await expectRefused(
      client,
      LEDGER_TABLES,
      () =>
        postMany([
          { key: unique('in'), debit: world, credit: a, amount: 5n },
          { key: unique('out'), debit: a, credit: world, amount: 16n },
        ]),
      NON_NEGATIVE,
    );
  });

  it('refuses a batch with a transfer across currencies, a non-positive amount, one account on both sides, or out of range', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    const usd = await openAccount(client, { currency: 'USD' });
    const good = () => ({ key: unique('good'), debit: world, credit: a, amount: 1n });
    await expectRefused(client, LEDGER_TABLES, () => postMany([good(), { key: unique('fx'), debit: world, credit: usd, amount: 1n }]), {
      code: FOREIGN_KEY,
      constraint: 'ledger_transfer_credit_fk',
    });
    await expectRefused(client, LEDGER_TABLES, () => postMany([good(), { key: unique('zero'), debit: world, credit: a, amount: 0n }]), AMOUNT_NOT_POSITIVE);
    await expectRefused(client, LEDGER_TABLES, () => postMany([good(), { key: unique('self'), debit: a, credit: a, amount: 1n }]), SAME_ACCOUNT);
    const floor = await openAccount(client, { ownerKind: 'SYSTEM', type: 'world-many', allowNegative: true });
    const full = await openAccount(client);
    await postMany([{ key: unique('fill'), debit: floor, credit: full, amount: MAX_BIGINT }]);
    await expectRefused(client, LEDGER_TABLES, () => postMany([good(), { key: unique('overflow'), debit: world, credit: full, amount: 1n }]), OUT_OF_RANGE);
  });

  it('refuses arrays of different lengths (a missing key, account or amount)', async () => {
    const world = await worldAccount(client);
    const a = await openAccount(client);
    await expectRefused(
      client,
      LEDGER_TABLES,
      () =>
        client.query(`SELECT ledger_post_many($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], '{RUB,RUB}', '{test,test}', '{NULL,NULL}')`, [
          [unique('k1'), unique('k2')],
          [world, world],
          [a, a],
          ['1'],
        ]),
      { code: NOT_NULL, constraint: undefined, message: /"amount"/ },
    );
  });
});

describe('ledger_transfer_immutable', () => {
  it('refuses to update a transfer, even to the same values', async () => {
    const { world, payee: account } = await payee();
    const { transfer_id: id } = await ledgerPost(client, { key: unique('fixed'), debit: world, credit: account, amount: 5n });
    await expectRefused(client, LEDGER_TABLES, () => client.query('UPDATE ledger_transfer SET amount = 6 WHERE id = $1', [id]), IMMUTABLE);
    await expectRefused(client, LEDGER_TABLES, () => client.query('UPDATE ledger_transfer SET amount = amount WHERE id = $1', [id]), IMMUTABLE);
  });

  it('refuses to delete a transfer', async () => {
    const { world, payee: account } = await payee();
    const { transfer_id: id } = await ledgerPost(client, { key: unique('kept'), debit: world, credit: account, amount: 5n });
    await expectRefused(client, LEDGER_TABLES, () => client.query('DELETE FROM ledger_transfer WHERE id = $1', [id]), IMMUTABLE);
  });

  it('refuses to truncate the transfers, even with CASCADE', async () => {
    const { world, payee: account } = await payee();
    await ledgerPost(client, { key: unique('kept'), debit: world, credit: account, amount: 5n });
    await expectRefused(client, LEDGER_TABLES, () => client.query('TRUNCATE ledger_transfer CASCADE'), IMMUTABLE);
  });
});

describe('ledger_owner_known', () => {
  const known = (kind: string, id: string) =>
    client.query<{ known: boolean }>('SELECT ledger_owner_known($1, $2) AS known', [kind, id]).then((result) => result.rows[0]!.known);

  it('says whether the ledger has any account of an owner, of whatever type or currency, and writes nothing', async () => {
    const owner = unique('client');
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => known('CLIENT', owner))).toBe(false);
    await openAccount(client, { ownerKind: 'CLIENT', owner, type: 'payout-reserved', currency: 'USD' });
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => known('CLIENT', owner))).toBe(true);
  });

  it('tells owners apart by kind and by exact id', async () => {
    const owner = unique('park');
    await openAccount(client, { ownerKind: 'PARK', owner });
    expect(await known('CLIENT', owner)).toBe(false);
    expect(await known('PARK', owner.toUpperCase())).toBe(false);
    expect(await known('PARK', `${owner}%`)).toBe(false);
    expect(await known('PARK', owner)).toBe(true);
  });
});

describe('ledger_balance', () => {
  const balanceOf = (kind: string, id: string, type: string, currency: string) =>
    client
      .query<{ balance: string }>('SELECT ledger_balance($1, $2, $3, $4)::text AS balance', [kind, id, type, currency])
      .then((result) => BigInt(result.rows[0]!.balance));

  it('reads one account’s balance by owner, type and currency, and writes nothing', async () => {
    const owner = unique('park');
    const account = await openAccount(client, { ownerKind: 'PARK', owner, type: 'payout', currency: 'RUB' });
    await fund(client, account, 1234n);
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => balanceOf('PARK', owner, 'payout', 'RUB'))).toBe(1234n);
  });

  it('is zero for an account never opened, and tells accounts apart by every part of their key', async () => {
    const owner = unique('park');
    const account = await openAccount(client, { ownerKind: 'PARK', owner, type: 'payout', currency: 'RUB' });
    await fund(client, account, 50n);
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => balanceOf('PARK', unique('park'), 'payout', 'RUB'))).toBe(0n);
    expect(await balanceOf('CLIENT', owner, 'payout', 'RUB')).toBe(0n);
    expect(await balanceOf('PARK', owner, 'payout-reserved', 'RUB')).toBe(0n);
    expect(await balanceOf('PARK', owner, 'payout', 'KZT')).toBe(0n);
    expect(await balanceOf('PARK', owner, 'payout', 'RUB')).toBe(50n);
  });
});

describe('ledger_account_open', () => {
  const open = (kind: string, owner: string, type: string, currency: string) =>
    client.query<{ id: string }>('SELECT ledger_account_open($1, $2, $3, $4)::text AS id', [kind, owner, type, currency]).then((r) => r.rows[0]!.id);

  it('gives the id of an account that exists, and writes nothing', async () => {
    const owner = unique('park');
    const account = await openAccount(client, { ownerKind: 'PARK', owner, type: 'payout', currency: 'RUB' });
    expect(await expectNothingChanged(client, LEDGER_TABLES, () => open('PARK', owner, 'payout', 'RUB'))).toBe(account);
  });

  it('opens one that never was, at zero and not allowed to go negative, once however often it is asked', async () => {
    const owner = unique('park');
    const id = await open('PARK', owner, 'payout-reserved', 'KZT');
    expect(await open('PARK', owner, 'payout-reserved', 'KZT')).toBe(id);
    const { rows } = await client.query('SELECT owner_kind, owner_id, type, currency, balance::text, allow_negative FROM ledger_account WHERE id = $1', [id]);
    expect(rows).toEqual([{ owner_kind: 'PARK', owner_id: owner, type: 'payout-reserved', currency: 'KZT', balance: '0', allow_negative: false }]);
    expect(await open('PARK', owner, 'payout-reserved', 'RUB')).not.toBe(id);
  });

  it('gives both of two transactions opening the same account the one row', async () => {
    const other = await db.connect();
    const owner = unique('park');
    await client.query('BEGIN');
    await other.query('BEGIN');
    try {
      const first = await open('PARK', owner, 'payout', 'RUB');
      // The second waits on the first's uncommitted row, then finds it once the first commits.
      const second = other.query<{ id: string }>(`SELECT ledger_account_open('PARK', $1, 'payout', 'RUB')::text AS id`, [owner]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await client.query('COMMIT');
      expect((await second).rows[0]!.id).toBe(first);
      await other.query('COMMIT');
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      await other.query('ROLLBACK').catch(() => undefined);
    }
    expect(Number((await client.query(`SELECT count(*) AS n FROM ledger_account WHERE owner_id = $1`, [owner])).rows[0]!.n)).toBe(1);
  });
});
