import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { sqlError, useSqlTestDatabase } from './sql-helpers';

/** The audit log's SQL functions: the append-only guard and the monthly partitions. */

let client: Client;
useSqlTestDatabase((opened) => (client = opened.client));

async function insertEntry(at: string): Promise<void> {
  await client.query(
    `INSERT INTO audit_entry (at, subject, role, operation, arguments, outcome, request_id)
     VALUES ($1, 'sql-test', 'admin', 'test', '{}', 'OK', 'r-1')`,
    [at],
  );
}

const count = async (sql: string, params: unknown[] = []) => Number((await client.query<{ n: string }>(sql, params)).rows[0]!.n);

/** Runs `work` in a transaction that is rolled back: partitions made here do not stay. */
async function rolledBack<T>(work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    return await work();
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('audit_entry_refuse_change', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of the log, whoever asks, and lets inserts through', async () => {
    await insertEntry(new Date().toISOString());
    const before = await count('SELECT count(*) AS n FROM audit_entry');
    for (const sql of [
      `UPDATE audit_entry SET outcome = 'FORBIDDEN'`,
      'DELETE FROM audit_entry',
      'TRUNCATE audit_entry',
      'TRUNCATE audit_entry_default',
    ]) {
      const error = await sqlError(() => client.query(sql));
      expect(error.code, sql).toBe('42501');
      expect(error.message, sql).toMatch(/append-only/);
    }
    expect(await count('SELECT count(*) AS n FROM audit_entry')).toBe(before);
    expect(await count(`SELECT count(*) AS n FROM audit_entry WHERE outcome = 'OK' AND subject = 'sql-test'`)).toBe(before);
  });
});

describe('audit_entry_ensure_partitions', () => {
  const partitions = () =>
    client
      .query<{ name: string; bounds: string }>(
        `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bounds FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_entry'::regclass ORDER BY c.relname`,
      )
      .then((result) => result.rows);

  it('makes the months ahead that are missing, each with UTC month bounds and its TRUNCATE guard, and nothing twice', async () => {
    await rolledBack(async () => {
      expect((await client.query('SELECT audit_entry_ensure_partitions(2)')).rows).toEqual([]);
      const made = (await client.query<{ name: string }>('SELECT audit_entry_ensure_partitions(5) AS name')).rows.map((r) => r.name);
      expect(made).toHaveLength(3);
      const now = new Date();
      const month = (ahead: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1));
      const name = (d: Date) => `audit_entry_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
      expect(made).toEqual([3, 4, 5].map((ahead) => name(month(ahead))));
      const bounds = new Map((await partitions()).map((p) => [p.name, p.bounds]));
      expect(bounds.get(name(month(5)))).toMatch(new RegExp(`FROM \\('${month(5).toISOString().slice(0, 10)} 00:00:00\\+00'\\)`));
      const error = await sqlError(() => client.query(`TRUNCATE ${name(month(4))}`));
      expect(error.message).toMatch(/append-only/);
    });
  });

  it('leaves a month whose rows already sit in the DEFAULT partition to it', async () => {
    await rolledBack(async () => {
      const now = new Date();
      const far = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 7, 15));
      await insertEntry(far.toISOString());
      expect(await count(`SELECT count(*) AS n FROM audit_entry_default WHERE at = $1`, [far.toISOString()])).toBe(1);
      const made = (await client.query<{ name: string }>('SELECT audit_entry_ensure_partitions(8) AS name')).rows.map((r) => r.name);
      const farName = `audit_entry_${far.getUTCFullYear()}_${String(far.getUTCMonth() + 1).padStart(2, '0')}`;
      expect(made).not.toContain(farName);
      expect(made).toHaveLength(5);
    });
  });
});

describe('audit_entry_append', () => {
  it('writes one entry with every field, in the caller’s transaction: rolled back with it', async () => {
    const requestId = `append-${Date.now()}`;
    const append = (outcome: string) =>
      client.query(
        `SELECT audit_entry_append('dispatcher-1', 'dispatcher', 'requestInstantPayout', $1::jsonb, $2::text[], $3, $4, '10.0.0.1', 'ua/1')`,
        [JSON.stringify({ input: { parkId: 'p1' } }), ['PARK:p1'], outcome, requestId],
      );
    await append('COOLDOWN');
    await rolledBack(() => append('OK'));
    const { rows } = await client.query(
      `SELECT subject, role, operation, arguments, targets, outcome, client_address, user_agent, at <= now() AS past FROM audit_entry WHERE request_id = $1`,
      [requestId],
    );
    expect(rows).toEqual([
      {
        subject: 'dispatcher-1',
        role: 'dispatcher',
        operation: 'requestInstantPayout',
        arguments: { input: { parkId: 'p1' } },
        targets: ['PARK:p1'],
        outcome: 'COOLDOWN',
        client_address: '10.0.0.1',
        user_agent: 'ua/1',
        past: true,
      },
    ]);
  });

  it('refuses an entry without its outcome or subject', async () => {
    for (const [subject, outcome] of [[null, 'OK'], ['s', null]]) {
      const error = await sqlError(() =>
        client.query(`SELECT audit_entry_append($1, 'admin', 'op', '{}', '{}', $2, 'r', NULL, NULL)`, [subject, outcome]),
      );
      expect(error.code).toBe('23502');
    }
  });
});
