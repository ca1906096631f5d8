import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from './helpers/app';
import { createTestDatabase } from './helpers/database';
import { accrualEvent } from './helpers/accruals';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

const accrual = (eventId: string, clientId: string, amount: string, reference: string) =>
  JSON.stringify(accrualEvent(eventId, clientId, amount, reference));

const BAD_LINE = accrual('ing-bad', 'c-ing-1', '1.5', 'fraction');
const LINES = [
  accrual('ing-1', 'c-ing-1', '50000', 'order-1'),
  accrual('ing-2', 'c-ing-2', '30000', 'order-2'),
  BAD_LINE,
  accrual('ing-1', 'c-ing-1', '50000', 'order-1'), // the same eventId again
  '',
  accrual('ing-3', 'c-ing-1', '-20000', 'fee-1'),
];

describe('payouts ingest', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let file: string;
  let db: Client;

  beforeAll(async () => {
    await run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    dir = await mkdtemp(path.join(tmpdir(), 'payouts-ingest-'));
    file = path.join(dir, 'accruals.jsonl');
    await writeFile(file, `${LINES.join('\n')}\n`);
  });
  afterAll(async () => {
    await db?.end();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // No Kafka: the file goes through the accruals handler straight into the database.
  const ingest = () =>
    run('node', ['bin/payouts.js', 'ingest', file, '--topic', 'accruals'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: database.url, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET },
    });

  async function balances(): Promise<Record<string, string>> {
    const { rows } = await db.query<{ owner_id: string; balance: string }>(
      "SELECT owner_id, balance FROM ledger_account WHERE owner_kind = 'CLIENT' AND type = 'payout' ORDER BY owner_id",
    );
    return Object.fromEntries(rows.map((r) => [r.owner_id, r.balance]));
  }

  it('applies a JSON-lines file once per event, dead-letters the bad line and prints a summary', async () => {
    const { stdout } = await ingest();
    expect(JSON.parse(stdout)).toEqual({ lines: 6, applied: 3, duplicate: 1, 'dead-lettered': 1 });
    expect(await balances()).toEqual({ 'c-ing-1': '30000', 'c-ing-2': '30000' });

    const { rows } = await db.query('SELECT topic, "partition", "offset", value, error_code, reason, resolved_at FROM dead_letter');
    expect(rows).toEqual([
      {
        topic: 'accruals',
        partition: null,
        offset: `${file}:3`,
        value: BAD_LINE,
        error_code: 'BAD_USER_INPUT',
        reason: expect.stringMatching(/amount/),
        resolved_at: null,
      },
    ]);
  });

  it('changes no balance when the same file is ingested again', async () => {
    const { stdout } = await ingest();
    expect(JSON.parse(stdout)).toEqual({ lines: 6, applied: 0, duplicate: 4, 'dead-lettered': 1 });
    expect(await balances()).toEqual({ 'c-ing-1': '30000', 'c-ing-2': '30000' });
    // The bad line is the same dead letter as before, seen twice, not a second one.
    const { rows: letters } = await db.query<{ attempts: number }>('SELECT attempts FROM dead_letter');
    expect(letters).toEqual([{ attempts: 2 }]);
  });
});
