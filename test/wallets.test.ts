import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSettings } from '../src/platform/config';
import { Keyring, parseWalletKeys } from '../src/wallets/keyring';
import { WalletService } from '../src/wallets/wallet.service';
import { walletSettings } from '../src/wallets/settings';
import { walletsModule } from '../src/wallets/module';
import {
  CreateWalletDocument,
  DeleteWalletDocument,
  IssueCallbackLinkDocument,
  RevokeCallbackLinkDocument,
  UpdateWalletDocument,
  UpsertParkDocument,
  WalletsDocument,
} from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { statementsDuring } from './helpers/statements';

const execFileAsync = promisify(execFile);
const admin = tokenFor('admin');
const dispatcherOf = (parkId: string) => tokenFor('dispatcher', [{ kind: 'PARK', id: parkId }]);
const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

/** Secrets that must never come back out: each test grep looks for every one of them. */
const QIWI_SECRET = `qiwi-secret-${randomBytes(12).toString('hex')}`;
const PAYSTACK_SECRET = `sk_live_${randomBytes(16).toString('hex')}`;
const CITY24_PASSWORD = `c24-${randomBytes(10).toString('hex')}`;
const SECRETS = [QIWI_SECRET, PAYSTACK_SECRET, CITY24_PASSWORD];

async function upsertPark(server: TestServer, id: string) {
  const response = await graphql(
    server.url,
    UpsertParkDocument,
    { input: { id, name: `Park ${id}`, currency: 'RUB', email: null, timezone: 'Europe/Moscow', status: 'ACTIVE', reason: 'test set-up' } },
    admin,
  );
  expect(response.errors).toBeUndefined();
}

describe('wallets over GraphQL', () => {
  let server: TestServer;
  const output: string[] = [];
  const firstKey = newKey('k1');
  beforeAll(async () => {
    // Every log line of the process, at the most talkative level, to grep for secrets.
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any, ...rest: any[]) => {
      output.push(String(chunk));
      return write(chunk, ...rest);
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => {
      output.push(String(chunk));
      return true;
    });
    server = await startTestServer(
      {},
      { env: { WALLET_KEYS: firstKey, CALLBACK_BASE_URL: 'https://pay.example.com/', LOG_LEVEL: 'trace', LOG_FORMAT: 'json' } },
    );
    await upsertPark(server, 'wpark');
    await upsertPark(server, 'other');
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await server?.close();
  });

  const answers: unknown[] = [];
  async function call<T>(promise: Promise<T>): Promise<T> {
    const result = await promise;
    answers.push(result);
    return result;
  }

  it('creates, lists, updates and deletes wallets, showing only credentialsSet and a masked hint', async () => {
    const token = dispatcherOf('wpark');
    const created = await call(
      graphql(
        server.url,
        CreateWalletDocument,
        {
          input: {
            parkId: 'wpark',
            paymentSystem: 'QIWI',
            title: 'QIWI main',
            currency: 'RUB',
            credentials: { secretKey: QIWI_SECRET, expiresAt: '2027-12-01' },
            minAmount: '100',
            maxAmount: '1500000',
          },
        },
        token,
      ),
    );
    expect(created.errors).toBeUndefined();
    const wallet = created.data!.createWallet;
    expect(wallet).toMatchObject({
      parkId: 'wpark',
      paymentSystem: 'QIWI',
      enabled: true,
      credentialsSet: true,
      credentialsHint: `secretKey=••••${QIWI_SECRET.slice(-4)}, expiresAt=2027-12-01`,
      credentialsExpireAt: '2027-12-01T00:00:00.000Z',
      minAmount: { minor: '100', currency: 'RUB' },
    });

    // Another system's fields, a missing field, a non-object: refused, naming the field, never the value.
    const wrong = await call(
      graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'PAYSTACK', title: 'P', currency: 'NGN', credentials: { secretKey: PAYSTACK_SECRET, extra: PAYSTACK_SECRET } } }, token),
    );
    expect(errorCodes(wrong)).toEqual(['BAD_USER_INPUT']);
    expect(JSON.stringify(wrong)).toContain('extra');
    const missing = await call(graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'CITY24', title: 'C', currency: 'KZT', credentials: { password: CITY24_PASSWORD } } }, token));
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
    expect(missing.errors![0]!.message).toMatch(/credentials\.login is required/);
    const notObject = await call(graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'PAYSTACK', title: 'P', currency: 'NGN', credentials: PAYSTACK_SECRET as any } }, token));
    expect(errorCodes(notObject)).toEqual(['BAD_USER_INPUT']);
    // graphql-js would quote the whole input (credentials too) when a field is missing: the answer does not.
    const noTitle = await call(
      graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'PAYSTACK', currency: 'NGN', credentials: { secretKey: PAYSTACK_SECRET } } as any }, token),
    );
    expect(errorCodes(noTitle)).toEqual(['BAD_USER_INPUT']);
    expect(noTitle.errors![0]!.message).toBe('Variable "$input" got an invalid value; Field "title" of required type "String!" was not provided.');
    // One wallet per system and park.
    const twice = await call(graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'QIWI', title: 'again', currency: 'RUB' } }, token));
    expect(errorCodes(twice)).toEqual(['CONFLICT']);

    const paystack = await call(
      graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'PAYSTACK', title: 'Paystack', currency: 'NGN', credentials: { secretKey: PAYSTACK_SECRET } } }, token),
    );
    expect(paystack.data!.createWallet.credentialsHint).toBe(`secretKey=••••${PAYSTACK_SECRET.slice(-4)}`);
    const updated = await call(
      graphql(server.url, UpdateWalletDocument, { input: { id: paystack.data!.createWallet.id, title: 'Paystack NG', enabled: false, credentials: null } }, token),
    );
    expect(updated.data!.updateWallet).toMatchObject({ title: 'Paystack NG', enabled: false, credentialsSet: false, credentialsHint: null });
    const city = await call(
      graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'CITY24', title: 'City24', currency: 'KZT', credentials: { login: 'park-login', password: CITY24_PASSWORD } } }, token),
    );
    expect(city.data!.createWallet.credentialsHint).toBe('login=park-login, password=••••');

    const list = await call(graphql(server.url, WalletsDocument, { parkId: 'wpark' }, token));
    expect(list.data!.wallets.map((w) => w.paymentSystem)).toEqual(['QIWI', 'PAYSTACK', 'CITY24']);
    const deleted = await call(graphql(server.url, DeleteWalletDocument, { id: city.data!.createWallet.id }, token));
    expect(deleted.data!.deleteWallet).toMatchObject({ credentialsSet: false, enabled: false });
    expect(deleted.data!.deleteWallet.deletedAt).not.toBeNull();
    expect((await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, token)).data!.wallets).toHaveLength(2);

    // At rest: sealed bytes and the key id, never the secret.
    const rows = await server.app.orm.em.fork().execute<{ credentials_key_id: string; sealed: string; hint: string }[]>(
      `SELECT credentials_key_id, encode(credentials_sealed, 'escape') AS sealed, credentials_hint AS hint FROM wallet WHERE credentials_sealed IS NOT NULL`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.credentials_key_id).toBe('k1');
    expect(rows[0]!.sealed).not.toContain(QIWI_SECRET);
    // The adapters (issue 14) get the credentials back through the service.
    const { wallets } = server.app.use(walletsModule);
    const stored = await wallets.find(server.app.orm.em.fork(), wallet.id);
    expect(wallets.credentialsOf(stored!)).toEqual({ secretKey: QIWI_SECRET, expiresAt: '2027-12-01' });
  });

  it('issues a callback link shown once, resolves it until it is revoked or replaced, then never', async () => {
    const token = dispatcherOf('wpark');
    const [qiwi] = (await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, token)).data!.wallets;
    const first = await call(graphql(server.url, IssueCallbackLinkDocument, { walletId: qiwi!.id }, token));
    expect(first.errors).toBeUndefined();
    const { url, link } = first.data!.issueCallbackLink;
    const secret = url.split('/').at(-1)!;
    expect(url).toBe(`https://pay.example.com/callbacks/qiwi/${secret}`);
    expect(Buffer.from(secret, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(link.prefix).toBe(secret.slice(0, link.prefix.length));
    expect(link.prefix.length).toBeLessThan(10);

    const { links } = server.app.use(walletsModule);
    const em = () => server.app.orm.em.fork();
    const resolved = await links.resolve(em(), 'QIWI', secret);
    expect(resolved).toMatchObject({ wallet: { id: qiwi!.id, park_id: 'wpark' }, link: { id: link.id } });
    // Another system's path, a wrong secret: nothing.
    expect(await links.resolve(em(), 'PAYSTACK', secret)).toBeNull();
    // One character changed (the first: a 32-byte secret's last character is 'A' one time in sixteen).
    const wrong = `${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    expect(await links.resolve(em(), 'QIWI', wrong)).toBeNull();
    // Only the hash is stored.
    const [stored] = await em().execute<{ n: string }[]>(`SELECT count(*) AS n FROM callback_link WHERE encode(secret_hash, 'hex') LIKE ? OR prefix = ?`, [
      `%${Buffer.from(secret).toString('hex')}%`,
      secret,
    ]);
    expect(Number(stored!.n)).toBe(0);

    const listed = (await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, token)).data!.wallets[0]!.callbackLinks;
    expect(listed).toHaveLength(1);
    expect(listed[0]!.lastUsedAt).not.toBeNull();

    // A second link replaces the first at once.
    const second = await call(graphql(server.url, IssueCallbackLinkDocument, { walletId: qiwi!.id }, token));
    const secondSecret = second.data!.issueCallbackLink.url.split('/').at(-1)!;
    expect(await links.resolve(em(), 'QIWI', secret)).toBeNull();
    expect(await links.resolve(em(), 'QIWI', secondSecret)).not.toBeNull();

    // Callbacks arriving together are looked up in one statement, each answered as if alone.
    const { result: together, statements } = await statementsDuring(server.app.orm, () =>
      Promise.all([
        links.resolve(em(), 'QIWI', secondSecret),
        links.resolve(em(), 'QIWI', secret),
        links.resolve(em(), 'PAYSTACK', secondSecret),
        links.resolve(em(), 'QIWI', wrong),
        links.resolve(em(), 'QIWI', secondSecret),
      ]),
    );
    expect(statements.filter((sql) => sql.includes('callback_link'))).toHaveLength(1);
    expect(together.map((r) => r?.wallet.id ?? null)).toEqual([qiwi!.id, null, null, null, qiwi!.id]);
    expect(together[0]!.link.id).toBe(second.data!.issueCallbackLink.link.id);

    const revoked = await call(graphql(server.url, RevokeCallbackLinkDocument, { id: second.data!.issueCallbackLink.link.id }, token));
    expect(revoked.data!.revokeCallbackLink.revokedAt).not.toBeNull();
    expect(await links.resolve(em(), 'QIWI', secondSecret)).toBeNull();
    const history = (await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, token)).data!.wallets[0]!.callbackLinks;
    expect(history.map((l) => l.revokedAt !== null)).toEqual([true, true]);
  });

  it('refuses every wallet and link operation to a dispatcher of another park and to drivers', async () => {
    const owner = dispatcherOf('wpark');
    const [qiwi] = (await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, owner)).data!.wallets;
    const link = (await graphql(server.url, IssueCallbackLinkDocument, { walletId: qiwi!.id }, owner)).data!.issueCallbackLink.link;
    for (const stranger of [dispatcherOf('other'), tokenFor('driver', [{ kind: 'DRIVER', id: 'wpark/d1' }])]) {
      const refused = await Promise.all([
        graphql(server.url, WalletsDocument, { parkId: 'wpark' }, stranger),
        graphql(server.url, CreateWalletDocument, { input: { parkId: 'wpark', paymentSystem: 'TBC', title: 'x', currency: 'GEL' } }, stranger),
        graphql(server.url, UpdateWalletDocument, { input: { id: qiwi!.id, enabled: false } }, stranger),
        graphql(server.url, DeleteWalletDocument, { id: qiwi!.id }, stranger),
        graphql(server.url, IssueCallbackLinkDocument, { walletId: qiwi!.id }, stranger),
        graphql(server.url, RevokeCallbackLinkDocument, { id: link.id }, stranger),
      ]);
      expect(refused.map(errorCodes)).toEqual(Array(6).fill(['FORBIDDEN']));
    }
    // Nothing changed.
    const after = (await graphql(server.url, WalletsDocument, { parkId: 'wpark' }, owner)).data!.wallets[0]!;
    expect(after.enabled).toBe(true);
    expect(after.callbackLinks[0]!.revokedAt).toBeNull();
  });

  it('re-encrypts every wallet, and every key a wallet replaced and keeps, under a new first key with `payouts wallets rotate-keys`, and can run again', async () => {
    const rotated = `${newKey('k2')},${firstKey}`;
    // A key the wallet replaced while bills opened with it were open, kept beside it (sealed the same way).
    await server.app.orm.em.fork().execute(
      `INSERT INTO wallet_retired_key (wallet_id, credentials_key_id, credentials_sealed, retired_at)
       SELECT id, credentials_key_id, credentials_sealed, now() FROM wallet WHERE credentials_sealed IS NOT NULL`,
    );
    const run = () =>
      execFileAsync(process.execPath, ['bin/payouts.js', 'wallets', 'rotate-keys', '--batch', '1'], {
        env: { ...process.env, ...server.env, WALLET_KEYS: rotated, LOG_LEVEL: 'warn' },
      });
    const first = await run();
    expect(first.stdout).toMatch(/2 sealed credential\(s\) to re-encrypt under key "k2"[\s\S]*re-encrypted 1, 1 left[\s\S]*re-encrypted 2, 0 left[\s\S]*done: 2 re-encrypted/);
    const again = await run();
    expect(again.stdout).toMatch(/0 sealed credential\(s\) to re-encrypt[\s\S]*done: 0 re-encrypted/);
    output.push(first.stdout, first.stderr, again.stdout, again.stderr);
    const [row] = await server.app.orm.em.fork().execute<{ credentials_key_id: string }[]>(`SELECT credentials_key_id FROM wallet WHERE credentials_sealed IS NOT NULL`);
    expect(row!.credentials_key_id).toBe('k2');
    // This process (k1 only) can no longer open it; a process with the new list can.
    const { wallets } = server.app.use(walletsModule);
    const [wallet] = await wallets.list(server.app.orm.em.fork(), 'wpark');
    expect(() => wallets.credentialsOf(wallet!)).toThrow(/key "k2", which WALLET_KEYS does not list/);
    const reopened = new WalletService(null as never, Keyring.of(parseWalletKeys(rotated).keys));
    expect(reopened.credentialsOf(wallet!)).toEqual({ secretKey: QIWI_SECRET, expiresAt: '2027-12-01' });
    expect(await reopened.retiredCredentialsOf(server.app.orm.em.fork(), wallet!)).toEqual([{ secretKey: QIWI_SECRET, expiresAt: '2027-12-01' }]);
    await server.app.orm.em.fork().execute('DELETE FROM wallet_retired_key');
  });

  it('never shows a credential in an answer, a log line, an audit entry or a metric', async () => {
    const metrics = await (await fetch(new URL('/metrics', server.url))).text();
    expect(metrics).toContain('payouts_wallets{payment_system="QIWI"} 1');
    // The audit log (src/audit) records every wallet mutation, refused ones too, with the credentials redacted.
    const audit = await server.app.orm.em.fork().execute<{ operation: string; arguments: unknown }[]>(
      `SELECT operation, arguments FROM audit_entry WHERE operation IN ('createWallet', 'updateWallet')`,
    );
    expect(audit.length).toBeGreaterThanOrEqual(4);
    const everything = [JSON.stringify(answers), output.join(''), metrics, JSON.stringify(audit)];
    expect(output.join('').length).toBeGreaterThan(1000); // the logs were captured
    for (const text of everything) for (const secret of SECRETS) expect(text).not.toContain(secret);
  });
});

describe('WALLET_KEYS', () => {
  const slice = (env: Record<string, string>) => loadSettings({ ...env }, [{ name: 'wallets', schema: walletSettings }]);

  it('is required in production and must be real keys; no message quotes one', () => {
    expect(() => slice({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) })).toThrow(/WALLET_KEYS: required when NODE_ENV=production/);
    const weak = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
    const short = `k2:${randomBytes(16).toString('base64')}`;
    for (const bad of [weak, short, 'no-colon', `k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`]) {
      let message = '';
      try {
        slice({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), WALLET_KEYS: bad });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/WALLET_KEYS/);
      for (const part of bad.split(',')) expect(message).not.toContain(part.slice(3));
    }
    expect(() => slice({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), WALLET_KEYS: newKey('k1') })).not.toThrow();
    // Development and test start without it (a throw-away key, logged when first used).
    expect(() => slice({ NODE_ENV: 'development' })).not.toThrow();
  });

  it('parses id:base64 lists, the first key first', () => {
    const parsed = parseWalletKeys(`${newKey('new')}, ${newKey('old')}`);
    expect(parsed.problems).toEqual([]);
    expect(parsed.keys.map((k) => k.id)).toEqual(['new', 'old']);
  });
});
