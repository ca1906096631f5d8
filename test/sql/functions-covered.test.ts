import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { TESTED_SQL_FUNCTIONS, useSqlTestDatabase } from './sql-helpers';

/**
 * A SQL function or procedure a migration adds is part of the money path: it gets tests of its
 * own in test/sql before CI passes. This lists what the migrated database has and what
 * TESTED_SQL_FUNCTIONS (sql-helpers.ts) says is tested, and fails on any difference, by name.
 */

let client: Client;
useSqlTestDatabase((opened) => (client = opened.client));

/** The schema's functions and procedures, by name: not an extension's, nor one PostgreSQL made for a type. */
async function sqlFunctions(): Promise<{ name: string; signatures: string[] }[]> {
  const { rows } = await client.query<{ name: string; signatures: string[] }>(`
    SELECT p.proname AS name, array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text COLLATE "C") AS signatures
      FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
     GROUP BY p.proname
     ORDER BY p.proname`);
  return rows;
}

describe('the SQL functions and procedures', () => {
  it('each have tests in test/sql', async () => {
    const names = (await sqlFunctions()).map((f) => f.name);
    const untested = names.filter((name) => !(name in TESTED_SQL_FUNCTIONS));
    expect(untested, `SQL functions without tests: add a describe('<name>') to a test/sql file and list it in TESTED_SQL_FUNCTIONS`).toEqual([]);
    const gone = Object.keys(TESTED_SQL_FUNCTIONS).filter((name) => !names.includes(name));
    expect(gone, 'listed in TESTED_SQL_FUNCTIONS but no longer in the database: remove them and their tests').toEqual([]);
  });

  it('each have one signature (an overload needs tests of its own)', async () => {
    const overloaded = (await sqlFunctions()).filter((f) => f.signatures.length > 1);
    expect(overloaded).toEqual([]);
  });

  it('are each tested where TESTED_SQL_FUNCTIONS says: that file has a describe block named for it', async () => {
    for (const [name, file] of Object.entries(TESTED_SQL_FUNCTIONS)) {
      const source = await readFile(path.join(__dirname, file), 'utf8');
      expect(source, `${file} has no describe('${name}', ...)`).toContain(`describe('${name}',`);
    }
  });

  it('notices a function no test covers', async () => {
    await client.query('BEGIN');
    try {
      await client.query(`CREATE FUNCTION ledger_forget(p_transfer bigint) RETURNS void LANGUAGE sql AS 'SELECT 1'`);
      const names = (await sqlFunctions()).map((f) => f.name);
      expect(names.filter((name) => !(name in TESTED_SQL_FUNCTIONS))).toEqual(['ledger_forget']);
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
