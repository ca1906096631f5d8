import { randomBytes } from 'node:crypto';
import type { DriverStatus } from '../../src/parks/driver';
import { parksModule } from '../../src/parks/module';
import { topupsModule } from '../../src/topups/module';
import type { PaymentSystem } from '../../src/wallets/payment-systems';
import { CreateWalletDocument, DriverDocument, IssueCallbackLinkDocument, RevokeCallbackLinkDocument, UpdateWalletDocument, UpsertParkDocument } from '../generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './app';
import { graphql } from './graphql';
import { waitFor } from './kafka';

/**
 * A payment system's view of the service, for the adapters' tests: one process with the GraphQL
 * API, the worker (it credits top-ups) and the callback server, on a fresh database. Each test
 * makes its parks (a working and a fired driver each), their wallets and links, calls the callback
 * server over real HTTP as the payment system would, and reads balances through GraphQL.
 *
 * ```ts
 * const bed = await startCallbackTestbed({ env: { QIWI_ALLOWED_IPS: '79.142.16.0/20' } });
 * const park = await bed.park({ currency: 'RUB' });
 * const wallet = await park.wallet('QIWI');                // credentials as the system needs
 * const answer = await bed.call(wallet.link, { query: { command: 'pay', … }, from: '79.142.16.5' });
 * await bed.settle();                                      // the credit jobs have run
 * expect(await park.balance(park.working.id)).toBe(1045n);
 * ```
 *
 * The server believes `X-Forwarded-For` from 127.0.0.1 (`CALLBACK_TRUST_PROXY`), so `from` plays
 * a payment system's source address for `<SYSTEM>_ALLOWED_IPS`. Rate limits are raised so tests
 * are not throttled unless they set `CALLBACK_RATE_PER_*` themselves.
 */
export interface CallbackTestbed {
  server: TestServer;
  /** The callback server, e.g. `http://127.0.0.1:40123`. */
  callbackUrl: string;
  /** A fresh ACTIVE park with a WORKING and a FIRED driver. */
  park(options?: { currency?: string }): Promise<TestPark>;
  /** One request to the callback server as a payment system sends it. */
  call(url: string, request?: CallbackCall): Promise<CallbackReply>;
  /** Waits until no top-up waits for its credit job (then balances are final). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface TestPark {
  id: string;
  currency: string;
  /** A WORKING driver; `phone` names them too. */
  working: { id: string; phone: string };
  fired: { id: string };
  /** A wallet of the park for `system`, with `credentials` (validated as the API validates them), and a link issued for it. */
  wallet(system: PaymentSystem, credentials?: Record<string, string> | null, fields?: { minAmount?: string; maxAmount?: string }): Promise<TestWallet>;
  /** A driver's balance in minor units of the park's currency, read through GraphQL (`driver.balance`). */
  balance(driverId: string): Promise<bigint>;
}

export interface TestWallet {
  id: string;
  system: PaymentSystem;
  /** The issued link, pointed at the test's callback server. */
  link: string;
  linkId: string;
  /** Revokes the link (the dispatcher's mutation): its callbacks are refused from then on. */
  revoke(): Promise<void>;
  /** Issues a new link (revoking this one) and returns it. */
  reissue(): Promise<string>;
  setEnabled(enabled: boolean): Promise<void>;
}

export interface CallbackCall {
  method?: 'GET' | 'POST';
  /** Query-string parameters. */
  query?: Record<string, string>;
  /** A url-encoded form body (POST, content type set). */
  form?: Record<string, string>;
  /** A raw body (POST), sent as is. */
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** The caller's source address, as a trusted proxy reports it. */
  from?: string;
}

export interface CallbackReply {
  status: number;
  contentType: string;
  text: string;
}

const admin = tokenFor('admin');
const dispatcherOf = (parkId: string) => tokenFor('dispatcher', [{ kind: 'PARK', id: parkId }]);

function ok<T extends { errors?: unknown[]; data?: unknown }>(response: T, what: string): NonNullable<T['data']> {
  if (response.errors || !response.data) throw new Error(`${what} failed: ${JSON.stringify(response.errors)}`);
  return response.data as NonNullable<T['data']>;
}

export async function startCallbackTestbed(options: { env?: Record<string, string> } = {}): Promise<CallbackTestbed> {
  const server = await startTestServer(
    { api: true, worker: true, callbacks: true },
    {
      env: {
        WALLET_KEYS: `k1:${randomBytes(32).toString('base64')}`,
        CALLBACK_TRUST_PROXY: '127.0.0.1',
        CALLBACK_RATE_PER_ADDRESS: '10000',
        CALLBACK_RATE_PER_LINK: '10000',
        ...options.env,
      },
    },
  );
  const callbackUrl = server.callbackUrl!;
  let parks = 0;
  let versions = 0;

  const upsertDriver = async (parkId: string, driverId: string, status: DriverStatus, phone: string | null) => {
    const { drivers } = server.app.use(parksModule);
    await server.app.orm.em
      .fork()
      .transactional((em) => drivers.upsert(em, { parkId, driverId, name: `Driver ${driverId}`, phone, status, occurredAt: new Date(Date.UTC(2026, 0, 1) + ++versions * 1000) }));
  };

  const localLink = (url: string) => `${callbackUrl}${new URL(url).pathname}`;

  return {
    server,
    callbackUrl,
    async park({ currency = 'RUB' } = {}) {
      const n = ++parks;
      const id = `cb-park-${n}-${randomBytes(3).toString('hex')}`;
      ok(
        await graphql(server.url, UpsertParkDocument, { input: { id, name: `Park ${id}`, currency, email: null, timezone: 'Europe/Moscow', status: 'ACTIVE', reason: 'test set-up' } }, admin),
        'upsertPark',
      );
      const phone = `7999${String(n).padStart(7, '0')}`;
      const working = { id: `drv-${n}`, phone };
      const fired = { id: `fired-${n}` };
      await upsertDriver(id, working.id, 'WORKING', phone);
      await upsertDriver(id, fired.id, 'FIRED', null);
      const token = dispatcherOf(id);
      return {
        id,
        currency,
        working,
        fired,
        async wallet(system, credentials = null, fields = {}) {
          const created = ok(
            await graphql(server.url, CreateWalletDocument, { input: { parkId: id, paymentSystem: system, title: system, currency, credentials, ...fields } }, token),
            'createWallet',
          ).createWallet;
          const issued = ok(await graphql(server.url, IssueCallbackLinkDocument, { walletId: created.id }, token), 'issueCallbackLink').issueCallbackLink;
          const wallet: TestWallet = {
            id: created.id,
            system,
            link: localLink(issued.url),
            linkId: issued.link.id,
            async revoke() {
              ok(await graphql(server.url, RevokeCallbackLinkDocument, { id: wallet.linkId }, token), 'revokeCallbackLink');
            },
            async reissue() {
              const again = ok(await graphql(server.url, IssueCallbackLinkDocument, { walletId: created.id }, token), 'issueCallbackLink').issueCallbackLink;
              wallet.link = localLink(again.url);
              wallet.linkId = again.link.id;
              return wallet.link;
            },
            async setEnabled(enabled) {
              ok(await graphql(server.url, UpdateWalletDocument, { input: { id: created.id, enabled } }, token), 'updateWallet');
            },
          };
          return wallet;
        },
        async balance(driverId) {
          const driver = ok(await graphql(server.url, DriverDocument, { parkId: id, driverId }, admin), 'driver').driver;
          if (!driver) throw new Error(`no driver ${driverId} in ${id}`);
          if (driver.balance.currency !== currency) throw new Error(`balance in ${driver.balance.currency}, not ${currency}`);
          return BigInt(driver.balance.minor);
        },
      };
    },
    async call(url, request = {}) {
      const target = new URL(url);
      for (const [name, value] of Object.entries(request.query ?? {})) target.searchParams.append(name, value);
      const headers: Record<string, string> = { ...request.headers };
      if (request.from) headers['x-forwarded-for'] = request.from;
      let body: string | Buffer | undefined = request.body;
      if (request.form) {
        body = new URLSearchParams(request.form).toString();
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
      }
      const response = await fetch(target, { method: request.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
      return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
    },
    async settle() {
      const { topups } = server.app.use(topupsModule);
      const left = await waitFor(
        () => topups.countAccepted(server.app.orm.em.fork()),
        (n) => n === 0,
      );
      if (left !== 0) throw new Error(`${left} top-ups still wait for their credit`);
    },
    close: () => server.close(),
  };
}
