import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';
import { buildProgram, killStrayWorkers, startWorkerProcess } from './helpers/worker-process';
import { createTestDatabase } from './helpers/database';

const INTROSPECTION = '{ __schema { queryType { name } } }';
const BROWSER = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

/** Production refuses to start without a key for wallet credentials. */
const PRODUCTION_WALLET_KEYS = `test:${randomBytes(32).toString('base64')}`;

describe('what the API shows of itself', () => {
  const servers: TestServer[] = [];
  const serve = async (env: Record<string, string> = {}) => {
    const server = await startTestServer({}, { env });
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  it('answers introspection in development and test, and not in production unless turned on', async () => {
    const test = await serve();
    const answered = await graphql<{ __schema: { queryType: { name: string } } }, never>(test.url, INTROSPECTION, undefined, tokenFor('admin'));
    expect(answered.data?.__schema.queryType.name).toBe('Query');

    const production = await serve({ NODE_ENV: 'production', WALLET_KEYS: PRODUCTION_WALLET_KEYS });
    const refused = await graphql(production.url, INTROSPECTION, undefined, tokenFor('admin'));
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.message).toMatch(/introspection/i);
    expect(refused.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // Queries still run there.
    const query = await graphql<{ payouts: { totalCount: number } }, never>(production.url, '{ payouts(first: 1) { totalCount } }', undefined, tokenFor('admin'));
    expect(query.data?.payouts.totalCount).toBe(0);

    const turnedOn = await serve({ NODE_ENV: 'production', WALLET_KEYS: PRODUCTION_WALLET_KEYS, GRAPHQL_INTROSPECTION: 'true' });
    expect((await graphql(turnedOn.url, INTROSPECTION, undefined, tokenFor('admin'))).errors).toBeUndefined();
  });

  it('gives a browser GraphiQL on GET /graphql in development and test, from this server only', async () => {
    const test = await serve();
    const response = await fetch(`${test.url}/graphql`, { headers: BROWSER });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    // Every asset from this server (the empty icon is inline: no request at all).
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!).filter((asset) => asset !== 'data:,');
    expect(assets.length).toBeGreaterThanOrEqual(5);
    for (const asset of assets) {
      expect(asset, 'no CDN: every asset from this server').toMatch(/^\/graphiql\//);
      const loaded = await fetch(`${test.url}${asset}`);
      expect(loaded.status, asset).toBe(200);
      expect((await loaded.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    expect((await fetch(`${test.url}/graphiql/nothing.js`)).status).toBe(404);
    expect((await fetch(`${test.url}/graphiql/constructor`)).status).toBe(404);

    // A client's GET query and POST are still the API's.
    const get = await fetch(`${test.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { ...BROWSER, 'apollo-require-preflight': 'true', authorization: `Bearer ${tokenFor('admin')}` },
    });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves no GraphiQL in production unless turned on', async () => {
    const production = await serve({ NODE_ENV: 'production', WALLET_KEYS: PRODUCTION_WALLET_KEYS });
    const refused = await fetch(`${production.url}/graphql`, { headers: BROWSER });
    expect(refused.headers.get('content-type')).not.toMatch(/^text\/html/);
    expect((await fetch(`${production.url}/graphiql/graphiql.min.js`)).status).toBe(404);

    const turnedOn = await serve({ NODE_ENV: 'production', WALLET_KEYS: PRODUCTION_WALLET_KEYS, GRAPHQL_EXPLORER: 'true' });
    const page = await fetch(`${turnedOn.url}/graphql`, { headers: BROWSER });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('a worker process', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    buildProgram();
    database = await createTestDatabase();
  });
  afterEach(() => killStrayWorkers());
  afterAll(async () => database?.drop());

  it('serves /healthz, /readyz and /metrics on WORKER_PORT and no GraphQL, and logs one line per request', async () => {
    const worker = startWorkerProcess(database.url);
    expect(await worker.started()).toBe(true);
    const started = worker
      .output()
      .split('\n')
      .map((line) => (line.startsWith('{') ? JSON.parse(line) : {}))
      .find((line) => line.msg === 'payouts started');
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const url: string = started.url;

    // The worker's own metrics: its jobs ran (the gates' start-up jobs); the gauges read from the database.
    const jobDone = /^payouts_job_duration_seconds_count\{task="[a-z_]+",result="success"\} [1-9]/m;
    const metrics = await waitFor(async () => (await fetch(`${url}/metrics`)).text(), (text) => jobDone.test(text), 10_000);
    expect(metrics).toMatch(jobDone);
    expect(metrics).toContain('# TYPE payouts_by_status gauge');
    expect(metrics).toContain('# TYPE payouts_kafka_consumer_lag gauge');

    const accessLines = () =>
      worker
        .output()
        .split('\n')
        .filter((line) => line.includes('"component":"http"'))
        .map((line) => JSON.parse(line) as { method: string; path: string; status: number; durationMs: number; requestId: string });
    const healthz = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'probe-healthz-1' } });
    expect(healthz.headers.get('x-request-id')).toBe('probe-healthz-1');
    expect(await healthz.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', problems: [] });
    expect((await fetch(`${url}/metrics?name=x`)).status).toBe(200);
    expect((await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' })).status).toBe(404);

    // From the first /healthz on: the lines of the scrapes above may still be arriving before it.
    const fromHealthz = () => accessLines().filter((_line, i, lines) => i >= lines.findIndex((line) => line.path === '/healthz'));
    const logged = await waitFor(async () => fromHealthz(), (lines) => lines.length >= 4 && lines[0]!.path === '/healthz', 5000);
    expect(logged.map(({ method, path, status }) => ({ method, path, status }))).toEqual([
      { method: 'GET', path: '/healthz', status: 200 },
      { method: 'GET', path: '/readyz', status: 200 },
      { method: 'GET', path: '/metrics', status: 200 },
      { method: 'POST', path: '/graphql', status: 404 },
    ]);
    for (const line of logged) expect(line.durationMs).toBeGreaterThanOrEqual(0);
    // Each line names its request: the client's id when it sent one, else the one it was answered with.
    expect(logged.map((line) => line.requestId)).toEqual(['probe-healthz-1', expect.stringMatching(/^[0-9a-f-]{36}$/), expect.any(String), expect.any(String)]);

    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  });
});

describe.skipIf(!kafkaBrokers())('a worker process with Kafka', () => {
  let worker: TestServer;
  afterAll(async () => worker?.close());

  it('says on /readyz when its consumers have joined, and serves their metrics', async () => {
    worker = await startTestServer({ api: false, worker: true, consumers: true }, { kafka: true });
    const ready = await waitFor(
      async () => {
        const response = await fetch(`${worker.url}/readyz`);
        return { status: response.status, body: (await response.json()) as { problems: string[] } };
      },
      (answer) => answer.status === 200,
      30_000,
    );
    expect(ready).toEqual({ status: 200, body: { status: 'ready', problems: [] } });
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    for (const name of ['payouts_kafka_consumer_lag', 'payouts_inbound_messages_total', 'payouts_dead_letters_total', 'payouts_outbox_published_total', 'payouts_job_duration_seconds']) {
      expect(metrics, name).toContain(`# TYPE ${name} `);
    }
    expect((await fetch(`${worker.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' })).status).toBe(404);
  });
});
