import { randomUUID } from 'node:crypto';
import { Client, type DatabaseError } from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { createTestDatabase } from '../helpers/database';

/**
 * Shared by the tests of the SQL functions (test/sql): a fresh database reached through plain
 * `pg` clients, accounts and money set up in SQL, and table snapshots to prove that a refused
 * operation left every row as it was.
 */

/**
 * The SQL functions and procedures of the `public` schema, and the test file whose
 * `describe('<name>' ...)` tests each one. functions-covered.test.ts fails when the database has
 * one that is not here.
 */
export const TESTED_SQL_FUNCTIONS: Record<string, string> = {
  ledger_post: 'ledger-functions.test.ts',
  ledger_post_many: 'ledger-functions.test.ts',
  ledger_transfer_immutable: 'ledger-functions.test.ts',
  ledger_owner_known: 'ledger-functions.test.ts',
  ledger_balance: 'ledger-functions.test.ts',
  ledger_account_open: 'ledger-functions.test.ts',
  park_payable: 'park-functions.test.ts',
  signalq_status_partition: 'signalq-functions.test.ts',
  audit_entry_refuse_change: 'audit-functions.test.ts',
  audit_entry_ensure_partitions: 'audit-functions.test.ts',
  audit_entry_append: 'audit-functions.test.ts',
  payout_step: 'payout-functions.test.ts',
  payout_step_each: 'payout-functions.test.ts',
  payout_by_idempotency_key: 'payout-functions.test.ts',
  payout_created_message: 'payout-functions.test.ts',
  payout_create: 'payout-functions.test.ts',
  fleet_instant_press: 'fleet-functions.test.ts',
  callback_links_changed: 'wallet-functions.test.ts',
};

export interface SqlTestDatabase {
  /** The connection the tests work on. */
  client: Client;
  /** Another connection to the same database (closed with the database). */
  connect(): Promise<Client>;
  close(): Promise<void>;
}

export async function openSqlTestDatabase(): Promise<SqlTestDatabase> {
  const database = await createTestDatabase();
  const clients: Client[] = [];
  const connect = async () => {
    const client = new Client({ connectionString: database.url });
    await client.connect();
    clients.push(client);
    return client;
  };
  const client = await connect();
  return {
    client,
    connect,
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await database.drop();
    },
  };
}

/**
 * The test file's database: opened before its tests (`ready` is handed it), dropped after them.
 * Call it at the top of the file.
 */
export function useSqlTestDatabase(ready: (db: SqlTestDatabase) => void = () => {}): SqlTestDatabase {
  let db: SqlTestDatabase | null = null;
  beforeAll(async () => {
    db = await openSqlTestDatabase();
    ready(db);
  });
  afterAll(async () => db?.close());
  const opened = (): SqlTestDatabase => {
    if (!db) throw new Error('the SQL test database opens before the tests run');
    return db;
  };
  return {
    get client() {
      return opened().client;
    },
    connect: () => opened().connect(),
    close: () => opened().close(),
  };
}

/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Opens a ledger account (a payee's may not go negative unless told) and returns its id. */
export async function openAccount(
  client: Client,
  options: { owner?: string; ownerKind?: string; type?: string; currency?: string; allowNegative?: boolean } = {},
): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [options.ownerKind ?? 'CLIENT', options.owner ?? unique('owner'), options.type ?? 'payout', options.currency ?? 'RUB', options.allowNegative ?? false],
  );
  return rows[0]!.id;
}

/** The system's `world` account of a currency, where money enters and leaves: it may go negative. */
export async function worldAccount(client: Client, currency = 'RUB'): Promise<string> {
  // DO NOTHING and a look-up, not DO UPDATE: the row is not written again once it exists.
  await client.query(
    `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
     VALUES ('SYSTEM', 'system', 'world', $1, true) ON CONFLICT (owner_kind, owner_id, type, currency) DO NOTHING`,
    [currency],
  );
  const { rows } = await client.query<{ id: string }>(
    `SELECT id FROM ledger_account WHERE (owner_kind, owner_id, type, currency) = ('SYSTEM', 'system', 'world', $1)`,
    [currency],
  );
  return rows[0]!.id;
}

export interface Transfer {
  key: string;
  debit: string;
  credit: string;
  amount: bigint | string;
  currency?: string;
  kind?: string;
  reference?: string | null;
}

/** `SELECT * FROM ledger_post(...)`, as LedgerService.post calls it. */
export async function ledgerPost(client: Client, t: Transfer): Promise<{ transfer_id: string; created: boolean }> {
  const { rows } = await client.query<{ transfer_id: string; created: boolean }>(
    'SELECT transfer_id, created FROM ledger_post($1, $2::bigint, $3::bigint, $4::bigint, $5, $6, $7)',
    [t.key, t.debit, t.credit, String(t.amount), t.currency ?? 'RUB', t.kind ?? 'test', t.reference ?? null],
  );
  return rows[0]!;
}

/** Gives an account money from the world, as an accrual would. */
export async function fund(client: Client, account: string, amount: bigint, currency = 'RUB'): Promise<void> {
  await ledgerPost(client, { key: unique('fund'), debit: await worldAccount(client, currency), credit: account, amount, currency, kind: 'fund' });
}

export async function balances(client: Client, ids: readonly string[]): Promise<bigint[]> {
  const { rows } = await client.query<{ id: string; balance: string }>('SELECT id, balance FROM ledger_account WHERE id = ANY ($1::bigint[])', [ids]);
  const byId = new Map(rows.map((row) => [row.id, BigInt(row.balance)]));
  return ids.map((id) => {
    const balance = byId.get(id);
    if (balance === undefined) throw new Error(`no account ${id}`);
    return balance;
  });
}

/** Tables a snapshot reads, each with the key that names a row. */
export const LEDGER_TABLES = { ledger_account: 'id', ledger_transfer: 'id' } as const;
export const PAYOUT_TABLES = {
  ...LEDGER_TABLES,
  payout: 'id',
  payout_status_change: `payout_id || '/' || sequence`,
  cash_payment_fact: 'id',
  outbox_message: 'id',
} as const;
export type Tables = Readonly<Record<string, string>>;

/**
 * Every row of the tables as the server prints it: `key xmin json`. Two snapshots are equal only
 * when no row was added, removed or changed, and none was written again with the same values
 * (that gives it a new xmin).
 */
export type Snapshot = Record<string, string[]>;

export async function snapshot(client: Client, tables: Tables): Promise<Snapshot> {
  const result: Snapshot = {};
  for (const [table, key] of Object.entries(tables)) {
    const { rows } = await client.query<{ line: string }>(
      `SELECT (${key})::text || ' ' || t.xmin::text || ' ' || to_jsonb(t)::text AS line FROM ${table} t ORDER BY (${key})::text COLLATE "C"`,
    );
    result[table] = rows.map((row) => row.line);
  }
  return result;
}

/** The keys of the rows added, removed or changed between two snapshots, per table that has any. */
export function changedKeys(before: Snapshot, after: Snapshot): Record<string, string[]> {
  const changed: Record<string, string[]> = {};
  for (const table of Object.keys(after)) {
    const old = new Set(before[table] ?? []);
    const now = new Set(after[table]);
    const keys = new Set([...after[table]!.filter((line) => !old.has(line)), ...(before[table] ?? []).filter((line) => !now.has(line))].map(keyOf));
    if (keys.size > 0) changed[table] = [...keys].sort();
  }
  return changed;
}

const keyOf = (line: string) => line.slice(0, line.indexOf(' '));

/** A snapshot without the rows whose text mentions any of `marks` (ids, payee names). */
export function without(shot: Snapshot, marks: readonly string[]): Snapshot {
  return Object.fromEntries(Object.entries(shot).map(([table, lines]) => [table, lines.filter((line) => !marks.some((mark) => line.includes(mark)))]));
}

/** The error `work` fails with; fails the test when it succeeds. */
export async function sqlError(work: () => Promise<unknown>): Promise<DatabaseError> {
  try {
    await work();
  } catch (error) {
    return error as DatabaseError;
  }
  throw new Error('expected the database to refuse');
}

/**
 * Runs `work`, which the database must refuse with `code` (and `constraint`, when given), and
 * requires every row of `tables` to be as it was: a refused operation moves no money.
 */
export async function expectRefused(
  client: Client,
  tables: Tables,
  work: () => Promise<unknown>,
  expected: { code: string; constraint?: string; message?: RegExp },
): Promise<DatabaseError> {
  const before = await snapshot(client, tables);
  const error = await sqlError(work);
  expect({ code: error.code, constraint: error.constraint }).toEqual({ code: expected.code, constraint: expected.constraint });
  if (expected.message) expect(error.message).toMatch(expected.message);
  expect(await snapshot(client, tables)).toEqual(before);
  return error;
}

/** Runs `work` and requires every row of `tables` to be as it was; returns what `work` returned. */
export async function expectNothingChanged<T>(client: Client, tables: Tables, work: () => Promise<T>): Promise<T> {
  const before = await snapshot(client, tables);
  const result = await work();
  expect(await snapshot(client, tables)).toEqual(before);
  return result;
}
