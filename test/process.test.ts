import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/platform/free-port';
import { TEST_JWT_SECRET } from './helpers/app';
import { createTestDatabase } from './helpers/database';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin/payouts.js');

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

async function waitForReady(url: string, deadlineMs: number): Promise<number> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const status = await fetch(`${url}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 0;
}

/** What the demo makes, counted and summed: a second run must leave all of it as it was. */
async function demoData(): Promise<Record<string, unknown>> {
  const db = new Client({ connectionString: database.url });
  await db.connect();
  try {
    const one = async (sql: string) => (await db.query(sql)).rows;
    return {
      payouts: await one('SELECT id, status, updated_at FROM payout ORDER BY id'),
      statusChanges: await one('SELECT count(*)::int AS n FROM payout_status_change'),
      transfers: await one('SELECT count(*)::int AS n FROM ledger_transfer'),
      balances: await one('SELECT owner_kind, owner_id, type, currency, balance::text FROM ledger_account ORDER BY 1, 2, 3, 4'),
      accruals: await one('SELECT count(*)::int AS n FROM accrual'),
      shops: await one('SELECT party_id, shop_id, updated_at, next_fire_at FROM shop ORDER BY 1, 2'),
      operations: await one('SELECT count(*)::int AS n FROM shop_operation'),
      schedules: await one('SELECT id, updated_at FROM payout_schedule UNION ALL SELECT id, updated_at FROM calendar ORDER BY 1'),
      outbox: await one('SELECT count(*)::int AS n FROM outbox_message'),
    };
  } finally {
    await db.end();
  }
}

describe('the payouts process', () => {
  it('refuses a bad setting with a message naming the variable', () => {
    const run = spawnSync(process.execPath, [BIN, 'start'], {
      env: { ...process.env, DATABASE_URL: database.url, PORT: 'eighty', WORKER_CONCURRENCY: '-1' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('PORT');
    expect(run.stderr).toContain('WORKER_CONCURRENCY');
  });

  it('refuses the development JWT secret in production', () => {
    const run = spawnSync(process.execPath, [BIN, 'token', '--role', 'admin'], {
      env: { ...process.env, NODE_ENV: 'production', JWT_SECRET: '' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('JWT_SECRET');
  });

  it('prints only a token for `payouts token`', () => {
    const run = spawnSync(process.execPath, [BIN, 'token', '--role', 'driver', '--payee', 'PARK:p-1'], {
      env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(run.stdout.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ role: 'driver', payees: ['PARK:p-1'] });
  });

  it('refuses `payouts token` a lifetime of zero (a token that never expires) or above JWT_MAX_TTL', () => {
    const token = (ttl: string, env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BIN, 'token', '--role', 'admin', '--ttl', ttl], {
        env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, ...env },
        encoding: 'utf8',
      });
    for (const [ttl, env, message] of [
      ['0s', {}, /at least 1s/],
      ['8d', {}, /at most 7d/],
      ['2h', { JWT_MAX_TTL: '1h' }, /at most 1h/],
    ] as const) {
      const run = token(ttl, env);
      expect(run.status, ttl).toBe(1);
      expect(run.stdout, ttl).toBe('');
      expect(run.stderr, ttl).toMatch(message);
    }
    expect(token('7d').status).toBe(0);
  });

  it('starts, becomes ready (the callbacks too) and stops cleanly on SIGTERM', async () => {
    const port = 18_000 + Math.floor(Math.random() * 1000);
    const callbackPort = await freePort();
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), CALLBACK_PORT: String(callbackPort), LOG_LEVEL: 'info', KAFKA_BROKERS: '', JWT_SECRET: TEST_JWT_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    expect(await waitForReady(`http://127.0.0.1:${port}`, 30_000)).toBe(200);
    // `start` serves the payment systems' callbacks on CALLBACK_PORT, and nothing of GraphQL there.
    expect(await waitForReady(`http://127.0.0.1:${callbackPort}`, 5_000)).toBe(200);
    const refused = await fetch(`http://127.0.0.1:${callbackPort}/callbacks/qiwi/no-such-secret?command=check&txn_id=1&account=a&sum=1.00`);
    expect(await refused.text()).toContain('<result>7</result>');
    expect((await fetch(`http://127.0.0.1:${callbackPort}/graphql`, { method: 'POST', body: '{}' })).status).toBe(404);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('payouts stopped');
  });

  it('`payouts callbacks` serves only the callbacks and health on CALLBACK_PORT, and stops cleanly on SIGTERM', async () => {
    const callbackPort = await freePort();
    const child = spawn(process.execPath, [BIN, 'callbacks'], {
      env: { ...process.env, DATABASE_URL: database.url, CALLBACK_PORT: String(callbackPort), LOG_LEVEL: 'info', KAFKA_BROKERS: '', JWT_SECRET: TEST_JWT_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${callbackPort}`;

    expect(await waitForReady(base, 30_000)).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('payouts_callback_refusals_total');
    const secret = 'A'.repeat(43);
    const refused = await fetch(`${base}/callbacks/qiwi/${secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'command=pay&txn_id=42&txn_date=20261203120000&account=d1&sum=10.00',
    });
    expect(refused.status).toBe(200);
    expect(await refused.text()).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<response><osmp_txn_id>42</osmp_txn_id><result>7</result><comment>Payment forbidden by provider</comment></response>');
    for (const [method, path] of [['POST', '/graphql'], ['GET', '/graphql'], ['GET', '/exports/1'], ['GET', '/callbacks/paypal/x']] as const) {
      const response = await fetch(`${base}${path}`, { method, ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}) });
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).toBe('Not found');
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('payouts stopped');
    // The access log names the system, never the link's secret.
    expect(output).toContain('/callbacks/qiwi/');
    expect(output).not.toContain(secret);
  });

  it('loads the demo: payouts walk the lifecycle and the books balance; a second run changes nothing', async () => {
    const env = { ...process.env, DATABASE_URL: database.url, KAFKA_BROKERS: '', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' };
    const first = spawnSync(process.execPath, [BIN, 'demo'], { env, encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/CREATED → SENT → ACCEPTED → PAID/);
    expect(first.stdout).toMatch(/CREATED → SENT → REJECTED/);
    expect(first.stdout).toMatch(/CREATED → CANCELLED/);
    expect(first.stdout).toContain('ledger check: ok');

    const before = await demoData();
    const second = spawnSync(process.execPath, [BIN, 'demo'], { env, encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(await demoData()).toEqual(before);
    // And it says so, rather than claiming to accrue and pay again.
    expect(second.stdout).not.toMatch(/^accrued /m);
    expect(second.stdout).not.toMatch(/CREATED → /);
    expect(second.stdout).toMatch(/^already accrued: 1500 RUB to CLIENT:demo-client-1$/m);
    expect(second.stdout).toMatch(/for CLIENT:demo-client-1: already there, PAID$/m);
    expect(second.stdout).toMatch(/for PARK:demo-park-1: already there, CANCELLED$/m);
    expect(second.stdout).toMatch(/^shop demo-party\/demo-shop: already there/m);
    expect(second.stdout).toContain('nothing new: the demo data was already loaded');
    const check = spawnSync(process.execPath, [BIN, 'ledger', 'check'], { env, encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('ledger ok');
  });
});
