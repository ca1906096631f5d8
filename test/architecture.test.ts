import 'reflect-metadata';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../src/app/modules';
import { KERNEL_TABLES } from '../src/platform/orm';

/**
 * The house rules that imports alone do not show (dependency-cruiser checks those in CI): every
 * module lives in the folder of its name, every table has one owner, and a module's SQL names only
 * its own tables — another module's data is reached through that module's services.
 */

const SRC = path.resolve(__dirname, '../src');
const KERNEL = 'kernel';

/** Table → the module that owns it (or the kernel). */
function tableOwners(): Map<string, string> {
  const owners = new Map<string, string>();
  const claim = (table: string, owner: string) => {
    const other = owners.get(table);
    if (other) throw new Error(`table ${table} is claimed by both ${other} and ${owner}`);
    owners.set(table, owner);
  };
  for (const table of KERNEL_TABLES) claim(table, KERNEL);
  for (const module of MODULES) for (const table of module.tables ?? []) claim(table, module.name);
  return owners;
}

/** The tables the migrations make, from the checked-in SQL view (test/sql-schema.test.ts keeps it true). */
function tablesOfTheSchema(): string[] {
  const sql = readFileSync(path.resolve(__dirname, '../schema/schema.sql'), 'utf8');
  return [...sql.matchAll(/^CREATE TABLE public\.(\w+) \(/gm)].map((match) => match[1]!);
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/**
 * Where code of `owner` names a table another owner has, in SQL (FROM, JOIN, INTO, UPDATE, TABLE)
 * or by importing its entities. Writing the outbox (INSERT INTO outbox_message) is every module's
 * right: that is how a transaction hands messages to the kernel.
 */
export function foreignTableUses(source: string, owner: string, owners: ReadonlyMap<string, string>): string[] {
  const uses: string[] = [];
  for (const match of source.matchAll(/\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+(\w+)/g)) {
    const [, keyword, table] = match;
    const tableOwner = owners.get(table!);
    if (!tableOwner || tableOwner === owner) continue;
    if (table === 'outbox_message' && keyword === 'INTO') continue;
    uses.push(`${keyword} ${table} (owned by ${tableOwner})`);
  }
  for (const match of source.matchAll(/from '\.\.\/([\w-]+)\/entities'/g)) {
    if (match[1] !== owner) uses.push(`imports the entities of ${match[1]}`);
  }
  return uses;
}

describe('the modules', () => {
  it('each live in the folder of their name, which exports them from module.ts', async () => {
    for (const module of MODULES) {
      const file = path.join(SRC, module.name, 'module.ts');
      expect(existsSync(file), `${module.name}: no src/${module.name}/module.ts`).toBe(true);
      const exported = Object.values(await import(file));
      expect(exported, `src/${module.name}/module.ts does not export the ${module.name} module`).toContain(module);
    }
  });
});

describe('every table', () => {
  it('has exactly one owner: a module or the kernel', () => {
    const owners = tableOwners();
    const tables = tablesOfTheSchema();
    expect(tables.length).toBeGreaterThan(10);
    expect(tables.filter((table) => !owners.has(table)), 'tables no module declares (ModuleDefinition.tables)').toEqual([]);
    expect([...owners.keys()].filter((table) => !tables.includes(table)), 'declared tables the migrations do not make').toEqual([]);
  });

  it('is named in SQL only by its owner’s code (other modules go through its services)', () => {
    const owners = tableOwners();
    const trespasses: string[] = [];
    const folders = [...MODULES.map((module) => ({ folder: module.name, owner: module.name })), { folder: 'platform', owner: KERNEL }];
    for (const { folder, owner } of folders) {
      for (const file of sourceFiles(path.join(SRC, folder))) {
        for (const use of foreignTableUses(readFileSync(file, 'utf8'), owner, owners)) trespasses.push(`${path.relative(SRC, file)}: ${use}`);
      }
    }
    expect(trespasses).toEqual([]);
  });

  it('— the check above notices a trespass, in SQL or through another module’s entities', () => {
    const owners = tableOwners();
    const shopsCode = [
      "await em.execute('SELECT * FROM payout WHERE shop_id = ?', [id]);",
      "const rows = await em.execute(`UPDATE ledger_account SET balance = 0`);",
      "import { Payout } from '../payouts/entities';",
      "await em.execute('INSERT INTO outbox_message (topic, key, value) VALUES (?, ?, ?)', m);",
      "await em.execute('SELECT * FROM shop WHERE party_id = ?', [p]);",
      "await em.execute('DELETE FROM outbox_message');",
    ].join('\n');
    expect(foreignTableUses(shopsCode, 'shops', owners)).toEqual([
      'FROM payout (owned by payouts)',
      'UPDATE ledger_account (owned by ledger)',
      'FROM outbox_message (owned by kernel)',
      'imports the entities of payouts',
    ]);
  });
});
