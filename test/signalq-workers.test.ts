import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app/app';
import { signalqModule } from '../src/signalq/module';
import { TEST_JWT_SECRET } from './helpers/app';
import { createTestDatabase } from './helpers/database';
import { waitFor } from './helpers/kafka';
import { buildProgram, killStrayWorkers, servicesOn, startWorkerProcess } from './helpers/worker-process';

const DAY = 86_400_000;
const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);

/** The local date `days` from today (UTC), YYYY-MM-DD. */
const daysFromToday = (days: number) => new Date(Date.now() + days * DAY).toISOString().slice(0, 10);

/**
 * Parks whose one 7-day period ended days ago, each with two cameras online since before it and
 * never offline: 7 active days each, 7 × 1,000 a line. Loaded through `payouts ingest signalq-status`.
 */
async function seed(app: App, dir: string, databaseUrl: string, prefix: string, parks: number) {
  const periodStart = daysFromToday(-9);
  const online = new Date(Date.now() - 20 * DAY).toISOString();
  const ids = Array.from({ length: parks }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
  await app.orm.em.fork().transactional(async (em) => {
    for (const parkId of ids) {
      await app.use(signalqModule).configs.upsert(
        em,
        { parkId, currency: 'RUB', dailyRate: 1_000n, minActiveMinutes: 60, periodDays: 7, periodStart, timezone: 'UTC', enabled: true, reason: null },
        'test',
      );
    }
  });
  const lines = ids.flatMap((parkId) =>
    ['cam-1', 'cam-2'].map((deviceId) => JSON.stringify({ eventId: `${parkId}-${deviceId}`, occurredAt: online, parkId, deviceId, status: 'ONLINE' })),
  );
  const file = path.join(dir, `${prefix}.jsonl`);
  await writeFile(file, `${lines.join('\n')}\n`);
  const { stdout } = await run('node', ['bin/payouts.js', 'ingest', 'signalq-status', file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET },
  });
  expect(JSON.parse(stdout)).toMatchObject({ applied: lines.length, 'dead-lettered': 0 });
  return ids;
}

describe('camera billing runs in worker processes', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: App;
  let dir: string;
  const PARKS = 600;
  beforeAll(async () => {
    buildProgram();
    database = await createTestDatabase();
    app = await servicesOn(database.url);
    dir = await mkdtemp(path.join(tmpdir(), 'signalq-'));
  });
  afterAll(async () => {
    killStrayWorkers();
    await app?.close();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const addRun = () => app.orm.em.fork().execute(`SELECT graphile_worker.add_job('signalq__billing', '{}'::json)`);
  const paidCount = async (prefix: string) => {
    const [row] = await app.orm.em
      .fork()
      .execute<{ n: string }[]>(`SELECT count(*) AS n FROM payout WHERE source = 'SIGNALQ' AND payee_id LIKE ?`, [`${prefix}%`]);
    return Number(row!.n);
  };
  /** Every line CREATED with one payout of 7,000, the same on the ledger, and the books hold. */
  const expectEachLinePaidOnce = async (prefix: string, ids: readonly string[]) => {
    const rows = await app.orm.em.fork().execute<{ payee_id: string; n: string; total: string }[]>(
      `SELECT payee_id, count(*) AS n, sum(amount)::text AS total FROM payout WHERE source = 'SIGNALQ' AND payee_id LIKE ? GROUP BY payee_id`,
      [`${prefix}%`],
    );
    expect(rows).toHaveLength(ids.length);
    for (const row of rows) expect([row.n, row.total], row.payee_id).toEqual(['2', '14000']);
    const [lines] = await app.orm.em.fork().execute<{ created: string; other: string }[]>(
      `SELECT count(*) FILTER (WHERE payment_progress = 'CREATED' AND payout_id IS NOT NULL) AS created,
              count(*) FILTER (WHERE payment_progress <> 'CREATED') AS other
         FROM signalq_payment WHERE park_id LIKE ?`,
      [`${prefix}%`],
    );
    expect(lines).toEqual({ created: String(2 * ids.length), other: '0' });
    const [rent] = await app.orm.em.fork().execute<{ n: string; total: string }[]>(
      `SELECT count(*) AS n, sum(amount)::text AS total FROM ledger_transfer WHERE kind = 'signalq_rent' AND reference LIKE ?`,
      [`signalq:${prefix}%`],
    );
    expect(rent).toEqual({ n: String(2 * ids.length), total: String(14_000 * ids.length) });
    expect(await app.checkLedger()).toEqual([]);
  };

  const env = { SIGNALQ_BILLING_CRON: '0 0 1 1 *', SIGNALQ_PAY_BATCH: '5', PAYOUT_OEBS_GATE_INTERVAL: '1h', PAYOUT_REQ_GATE_INTERVAL: '1h' };

  it('pays each line once when two workers run at the same time', { timeout: 180_000 }, async () => {
    const ids = await seed(app, dir, database.url, 'qw-', PARKS);
    const workers = [startWorkerProcess(database.url, env), startWorkerProcess(database.url, env)];
    for (const worker of workers) expect(await worker.started(), worker.output()).toBe(true);
    await addRun();
    await addRun();
    await waitFor(
      async () => workers.reduce((n, w) => n + w.logged('signalq billing run done') + w.logged('signalq billing run skipped: another process is running it'), 0),
      (done) => done === 2,
      120_000,
    );
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toEqual({ code: 0, signal: null });
    await expectEachLinePaidOnce('qw-', ids);
  });

  it('pays nothing twice and skips nothing when a worker is SIGKILLed mid run and another runs again', { timeout: 180_000 }, async () => {
    const ids = await seed(app, dir, database.url, 'qk-', PARKS);
    const victim = startWorkerProcess(database.url, { ...env, SIGNALQ_PAY_BATCH: '1' });
    expect(await victim.started(), victim.output()).toBe(true);
    await addRun();
    await waitFor(() => paidCount('qk-'), (n) => n >= PARKS / 5, 60_000);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = await paidCount('qk-');
    expect(atKill, 'the run finished before it could be killed').toBeLessThan(2 * PARKS);

    const heir = startWorkerProcess(database.url, env);
    expect(await heir.started(), heir.output()).toBe(true);
    await addRun();
    await waitFor(() => Promise.resolve(heir.logged('signalq billing run done')), (n) => n === 1, 120_000);
    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });
    await expectEachLinePaidOnce('qk-', ids);
  });

  it('ingests a status file again without storing anything twice, and reports a bad line by its number', async () => {
    const file = path.join(dir, 'mixed.jsonl');
    const good = (n: number) => JSON.stringify({ eventId: `mx-${n}`, occurredAt: '2026-11-02T08:00:00Z', parkId: 'mx-1', deviceId: `cam-${n}`, status: 'ONLINE' });
    await writeFile(file, [good(1), '{"eventId":"mx-bad","occurredAt":"2026-11-02T08:00:00Z","parkId":"mx-1","deviceId":"cam-9","status":"BLINKING"}', good(2)].join('\n'));
    const ingest = (...extra: string[]) =>
      run('node', ['bin/payouts.js', 'ingest', 'signalq-status', file, ...extra], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: database.url, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET },
      });
    const first = await ingest();
    expect(JSON.parse(first.stdout)).toEqual({ lines: 3, applied: 2, duplicate: 0, 'dead-lettered': 1, skippedLines: [2] });
    expect(first.stderr).toContain('line 2: cannot be applied, skipped');
    const again = await ingest('--from-line', '3');
    expect(JSON.parse(again.stdout)).toEqual({ lines: 3, applied: 0, duplicate: 1, 'dead-lettered': 0 });
    const [stored] = await app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM signalq_device_status WHERE park_id = 'mx-1'`);
    expect(stored!.n).toBe('2');
  });
});
