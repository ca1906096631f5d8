import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Payee } from '../src/access/payee';
import { startTestServer, type TestServer } from './helpers/app';
import { payoutsModule } from '../src/payouts/module';
import { accrualsModule } from '../src/accruals/module';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const client = (id: string): Payee => ({ kind: 'CLIENT', id });

async function seedPayouts(): Promise<void> {
  const { app } = server;
  await app.orm.em.fork().transactional(async (em) => {
    await app.use(accrualsModule).accruals.apply(
      em,
      { payee: client('metrics-1'), account: 'payout', amount: 10_000n, currency: 'RUB', reference: 'earn-1', occurredAt: new Date() },
      'MANUAL',
    );
    for (const key of ['m-1', 'm-2', 'm-3']) {
      await app.use(payoutsModule).lifecycle.create(em, { payee: client('metrics-1'), amount: 1_000n, currency: 'RUB', source: 'MANUAL', idempotencyKey: key });
    }
  });
  const [first] = await app.orm.em.fork().execute<{ id: string }[]>("SELECT id FROM payout WHERE idempotency_key = 'm-1'");
  await app.orm.em.fork().transactional((em) => app.use(payoutsModule).lifecycle.send(em, first!.id));
}

/** Samples of one metric from Prometheus text, as `labels → value` (labels as printed, `{}` when none). */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) found.set(match[2] ?? '{}', Number(match[3]));
  }
  return found;
}

describe('HTTP endpoints', () => {
  it('answers /healthz while the process is alive', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 when the database is reachable and migrated', async () => {
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', problems: [] });
  });

  it('exposes the service metrics in Prometheus text format', async () => {
    await seedPayouts();
    // A message that can never be applied, processed as the Kafka consumer would: a dead letter.
    await server.app.inbound.processBatch(
      [{ topic: server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS, partition: 0, offset: '1', key: null, value: '{not json' }],
      'KAFKA',
    );

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();

    for (const [name, type] of [
      ['payouts_by_status', 'gauge'],
      ['payouts_dead_letters_total', 'counter'],
      ['payouts_dead_letters_unresolved', 'gauge'],
      ['payouts_job_duration_seconds', 'histogram'],
      ['payouts_kafka_consumer_lag', 'gauge'],
      ['payouts_graphql_request_duration_seconds', 'histogram'],
    ]) {
      expect(text, name).toContain(`# HELP ${name} `);
      expect(text, name).toContain(`# TYPE ${name} ${type}`);
    }
    // Read from the database at scrape time: three payouts, one of them sent.
    const byStatus = samples(text, 'payouts_by_status');
    expect(byStatus.get('{status="CREATED"}')).toBe(2);
    expect(byStatus.get('{status="SENT"}')).toBe(1);
    expect(samples(text, 'payouts_dead_letters_total').get('{topic="accruals",code="BAD_USER_INPUT"}')).toBe(1);
    expect(samples(text, 'payouts_dead_letters_unresolved').get('{topic="accruals",code="BAD_USER_INPUT"}')).toBe(1);
  });

  it('reflects payouts changing status on the next scrape', async () => {
    const [created] = await server.app.orm.em.fork().execute<{ id: string }[]>("SELECT id FROM payout WHERE idempotency_key = 'm-2'");
    await server.app.orm.em.fork().transactional((em) => server.app.use(payoutsModule).lifecycle.cancel(em, created!.id));
    const byStatus = samples(await (await fetch(`${server.url}/metrics`)).text(), 'payouts_by_status');
    expect(byStatus.get('{status="CREATED"}')).toBe(1);
    expect(byStatus.get('{status="CANCELLED"}')).toBe(1);
  });

  it('answers /readyz 503 with the reason while a migration is pending', async () => {
    const em = server.app.orm.em.fork();
    const [latest] = await em.execute<{ id: number; name: string; executed_at: Date }[]>(
      'SELECT id, name, executed_at FROM mikro_orm_migrations ORDER BY id DESC LIMIT 1',
    );
    expect(latest).toBeDefined();
    await em.execute('DELETE FROM mikro_orm_migrations WHERE id = ?', [latest!.id]);
    try {
      const response = await fetch(`${server.url}/readyz`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { status: string; problems: string[] };
      expect(body.status).toBe('not ready');
      expect(body.problems).toEqual([expect.stringContaining(`migrations pending: ${latest!.name}`)]);
    } finally {
      await em.execute('INSERT INTO mikro_orm_migrations (id, name, executed_at) VALUES (?, ?, ?)', [
        latest!.id,
        latest!.name,
        latest!.executed_at,
      ]);
    }
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('answers unknown paths with 404 and no stack', async () => {
    const response = await fetch(`${server.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toMatch(/\n\s+at /);
  });
});

describe('/metrics, unauthenticated on every port, reads the database at most once per METRICS_REFRESH_MIN_INTERVAL', () => {
  let bounded: TestServer;
  beforeAll(async () => {
    // As `start` serves it: the API's port and the internet-facing callback port in one process.
    bounded = await startTestServer({ callbacks: true }, { env: { METRICS_REFRESH_MIN_INTERVAL: '1h' } });
  });
  afterAll(async () => bounded?.close());

  it('runs one database refresh for many parallel scrapes on both ports, and none again within the interval', async () => {
    const scrape = vi.spyOn(bounded.app, 'scrape');
    const scrapeAll = () =>
      Promise.all(
        [bounded.url, bounded.callbackUrl!].flatMap((base) => Array.from({ length: 25 }, () => fetch(`${base}/metrics`).then(async (r) => [r.status, await r.text()] as const))),
      );

    const answers = await scrapeAll();
    expect(scrape).toHaveBeenCalledTimes(1);
    for (const [status, text] of answers) {
      expect(status).toBe(200);
      expect(text).toContain('# TYPE payouts_by_status gauge');
    }

    // Within the interval: the gauges as last refreshed, and the database left alone.
    expect((await scrapeAll()).every(([status]) => status === 200)).toBe(true);
    expect(scrape).toHaveBeenCalledTimes(1);
  });
});
