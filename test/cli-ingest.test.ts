import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, type RunningProcess } from '../src/app/processes';
import { TEST_JWT_SECRET, testEnv } from './helpers/app';
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

  /** Runs `payouts …` and tells how it ended, whatever the exit code. */
  async function payouts(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run('node', ['bin/payouts.js', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: database.url, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  async function openLetters(): Promise<{ id: string; value: string }[]> {
    const { rows } = await db.query<{ id: string; value: string }>(
      'SELECT id::text, value FROM dead_letter WHERE resolved_at IS NULL AND discarded_at IS NULL ORDER BY id',
    );
    return rows;
  }

  async function balances(): Promise<Record<string, string>> {
    const { rows } = await db.query<{ owner_id: string; balance: string }>(
      "SELECT owner_id, balance FROM ledger_account WHERE owner_kind = 'CLIENT' AND type = 'payout' ORDER BY owner_id",
    );
    return Object.fromEntries(rows.map((r) => [r.owner_id, r.balance]));
  }

  it('applies a JSON-lines file once per event, dead-letters the bad line and prints a summary', async () => {
    const { stdout } = await ingest();
    expect(JSON.parse(stdout)).toEqual({ lines: 6, applied: 3, duplicate: 1, 'dead-lettered': 1, skippedLines: [3] });
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
    expect(JSON.parse(stdout)).toEqual({ lines: 6, applied: 0, duplicate: 4, 'dead-lettered': 1, skippedLines: [3] });
    expect(await balances()).toEqual({ 'c-ing-1': '30000', 'c-ing-2': '30000' });
    // The bad line is the same dead letter as before, seen twice, not a second one.
    const { rows: letters } = await db.query<{ attempts: number }>('SELECT attempts FROM dead_letter');
    expect(letters).toEqual([{ attempts: 2 }]);
  });

  it('refuses a topic this service does not read, before reading a line, naming the ones it reads', async () => {
    const result = await payouts('ingest', file, '--topic', 'acruals');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/"acruals" is not a topic this service reads; one of: .*accruals/);
    expect(result.stdout).toBe('');
    expect(await openLetters()).toHaveLength(1);
  });

  it('exits 1 with its summary when no line of the file could be applied', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    await writeFile(bad, ['{"eventId": "cut-', accrual('ing-bad-2', 'c-ing-1', 'lots', 'bad-2'), ''].join('\n'));
    const result = await payouts('ingest', bad, '--topic', 'accruals');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({ lines: 2, applied: 0, duplicate: 0, 'dead-lettered': 2, skippedLines: [1, 2] });
    expect(result.stderr).toMatch(/line 1: cannot be applied, skipped/);
    expect(result.stderr).toMatch(/line 2: cannot be applied, skipped/);
    expect(result.stderr).toMatch(/no line could be applied/);
    expect(result.stderr).toMatch(/dead-letters list --topic accruals/);
    expect(await openLetters()).toHaveLength(3);
  });

  describe('a running service', () => {
    let service: RunningProcess;
    beforeAll(async () => {
      service = await startProcess({ api: true, worker: false, consumers: false, migrate: false }, testEnv(database.url));
    });
    afterAll(async () => service?.stop());

    const metric = async (name: string) =>
      (await (await fetch(`${service.url}/metrics`)).text()).split('\n').filter((line) => line.startsWith(`${name}{`));

    it('shows the dead letters of a CLI ingest in /metrics, read from the database, until they are discarded', async () => {
      // Another process made them: this one's counter has none, the gauge has them all.
      expect(await metric('payouts_dead_letters_total')).toEqual([]);
      expect(await metric('payouts_dead_letters_unresolved')).toEqual(['payouts_dead_letters_unresolved{topic="accruals",code="BAD_USER_INPUT"} 3']);

      const [first, second, third] = await openLetters();
      const discarded = await payouts('dead-letters', 'discard', first!.id, second!.id, '--reason', 'test data from a bad export');
      expect(discarded.code).toBe(0);
      expect(discarded.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
        { id: first!.id, outcome: 'discarded' },
        { id: second!.id, outcome: 'discarded' },
      ]);
      expect(await metric('payouts_dead_letters_unresolved')).toEqual(['payouts_dead_letters_unresolved{topic="accruals",code="BAD_USER_INPUT"} 1']);

      expect((await payouts('dead-letters', 'discard', third!.id, '--reason', 'duplicate of order-1', '--by', 'ivan')).code).toBe(0);
      // None left: the series reads 0 rather than vanishing.
      expect(await metric('payouts_dead_letters_unresolved')).toEqual(['payouts_dead_letters_unresolved{topic="accruals",code="BAD_USER_INPUT"} 0']);
    });
  });

  it('keeps who discarded a dead letter, when and why, and lists it only with --all', async () => {
    const { rows } = await db.query<{ discarded_by: string; discard_reason: string; discarded_at: Date | null; resolved_at: Date | null }>(
      'SELECT discarded_by, discard_reason, discarded_at, resolved_at FROM dead_letter ORDER BY id',
    );
    expect(rows).toEqual([
      { discarded_by: `cli:${userInfo().username}`, discard_reason: 'test data from a bad export', discarded_at: expect.any(Date), resolved_at: null },
      { discarded_by: `cli:${userInfo().username}`, discard_reason: 'test data from a bad export', discarded_at: expect.any(Date), resolved_at: null },
      { discarded_by: 'cli:ivan', discard_reason: 'duplicate of order-1', discarded_at: expect.any(Date), resolved_at: null },
    ]);
    expect((await payouts('dead-letters', 'list')).stdout).toBe('');
    const all = (await payouts('dead-letters', 'list', '--all')).stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(all.map((d) => [d.discardedBy, d.discardReason])).toEqual([
      [`cli:${userInfo().username}`, 'test data from a bad export'],
      [`cli:${userInfo().username}`, 'test data from a bad export'],
      ['cli:ivan', 'duplicate of order-1'],
    ]);
    // A retry of everything open leaves them alone.
    expect((await payouts('dead-letters', 'retry')).stdout).toBe('');
  });

  it('refuses to discard without a reason, or an id that is no dead letter', async () => {
    const [letter] = (await db.query<{ id: string }>('SELECT id::text FROM dead_letter ORDER BY id')).rows;
    const noReason = await payouts('dead-letters', 'discard', letter!.id);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toMatch(/--reason/);
    const blank = await payouts('dead-letters', 'discard', letter!.id, '--reason', ' ');
    expect(blank.code).toBe(1);
    expect(blank.stderr).toMatch(/--reason must say why/);

    const unknown = await payouts('dead-letters', 'discard', '999999', 'abc', letter!.id, '--reason', 'gone');
    expect(unknown.code).toBe(1);
    expect(unknown.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
      { id: '999999', outcome: 'refused', reason: 'Dead letter 999999 not found' },
      { id: 'abc', outcome: 'refused', reason: 'id is not a dead letter id' },
      { id: letter!.id, outcome: 'already-discarded' },
    ]);
    const { rows } = await db.query('SELECT discard_reason FROM dead_letter WHERE id = $1', [letter!.id]);
    expect(rows).toEqual([{ discard_reason: 'test data from a bad export' }]);
  });
});
