import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accrualsModule } from '../src/accruals/module';
import type { App } from '../src/app/app';
import { parksModule } from '../src/parks/module';
import { payoutsModule } from '../src/payouts/module';
import { RequestInstantPayoutDocument, RunFleetPeriodicPayoutsDocument, UpdateFleetPayoutSettingsDocument } from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';
import { startWorkerProcess, useWorkerDatabase } from './helpers/worker-process';

const admin = tokenFor('admin');

let references = 0;
/** Parks with money, made as fleet.parks and accruals would make them, in one transaction. */
async function seedParks(app: App, ids: readonly string[], amount: bigint, fields: { status?: 'ACTIVE' | 'DISABLED'; currency?: string } = {}) {
  await app.orm.em.fork().transactional(async (em) => {
    for (const id of ids) {
      const currency = fields.currency ?? 'RUB';
      await app.use(parksModule).parks.upsert(
        em,
        { parkId: id, name: `Park ${id}`, currency, email: null, timezone: 'Europe/Moscow', status: fields.status ?? 'ACTIVE', occurredAt: new Date() },
        'test',
      );
      if (amount !== 0n) {
        await app.use(accrualsModule).accruals.apply(
          em,
          { payee: { kind: 'PARK', id }, account: 'payout', amount, currency, reference: `periodic-seed-${++references}`, occurredAt: new Date() },
          'MANUAL',
        );
      }
    }
  });
}

interface PaidPark {
  payee_id: string;
  n: string;
  total: string;
  first_at: string;
  last_at: string;
}

/** Periodic payouts per park. */
async function periodicPayouts(app: App, prefix: string): Promise<Map<string, { count: number; total: bigint }>> {
  const rows = await app.orm.em.fork().execute<PaidPark[]>(
    `SELECT payee_id, count(*) AS n, sum(amount)::text AS total FROM payout
      WHERE source = 'PERIODIC' AND payee_id LIKE ? GROUP BY payee_id`,
    [`${prefix}%`],
  );
  return new Map(rows.map((row) => [row.payee_id, { count: Number(row.n), total: BigInt(row.total) }]));
}

async function runNow(server: TestServer) {
  const response = await graphql(server.url, RunFleetPeriodicPayoutsDocument, {}, admin);
  expect(response.errors).toBeUndefined();
  return response.data!.runFleetPeriodicPayouts;
}

describe('periodic payouts to parks, run by an admin', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { env: { FLEET_PERIODIC_DAYS: '7', FLEET_PERIODIC_RATE: '0', FLEET_INSTANT_LIMIT: 'RUB:100000000' } });
  });
  afterAll(async () => server?.close());

  it('pays every active park with money and no payout for N days its whole balance, once per period', async () => {
    const { app } = server;
    await seedParks(app, ['pd-never', 'pd-recent', 'pd-old'], 100_000n);
    await seedParks(app, ['pd-disabled'], 100_000n, { status: 'DISABLED' });
    await seedParks(app, ['pd-empty'], 0n);
    // pd-recent was paid instantly 3 days ago, pd-old 8 days ago (the clock moved back by hand).
    for (const [parkId, daysAgo] of [['pd-recent', 3], ['pd-old', 8]] as const) {
      const pressed = await graphql(server.url, RequestInstantPayoutDocument, { input: { parkId, idempotencyKey: 'i', amount: '40000' } }, admin);
      expect(pressed.errors).toBeUndefined();
      await app.orm.em.fork().execute(`UPDATE payout SET created_at = now() - ?::interval WHERE payee_id = ?`, [`${daysAgo} days`, parkId]);
    }

    const first = await runNow(server);
    expect(first.payoutsCreated).toBe(2);
    expect(first.totals).toEqual([{ minor: '160000', currency: 'RUB' }]);
    expect(first.parksChecked).toBeGreaterThanOrEqual(4);
    const paid = await periodicPayouts(app, 'pd-');
    expect(Object.fromEntries([...paid].map(([id, p]) => [id, p.total]))).toEqual({ 'pd-never': 100_000n, 'pd-old': 60_000n });

    // A second run pays nobody: everyone with money was paid in the last N days.
    await seedParks(app, ['pd-never'], 5_000n);
    const second = await runNow(server);
    expect(second.payoutsCreated).toBe(0);
    expect(await app.checkLedger()).toEqual([]);
  });

  it('counts a cancelled payout as no payout, and waits for the next period after a payout of the period was rejected', async () => {
    const { app } = server;
    await seedParks(app, ['pc-1'], 70_000n);
    const pressed = await graphql(server.url, RequestInstantPayoutDocument, { input: { parkId: 'pc-1', idempotencyKey: 'i' } }, admin);
    const instantId = pressed.data!.requestInstantPayout.id;

    await app.orm.em.fork().transactional((em) => app.use(payoutsModule).lifecycle.cancel(em, instantId, { actor: 'test' }));
    expect((await runNow(server)).payoutsCreated).toBeGreaterThanOrEqual(1);
    const paid = await periodicPayouts(app, 'pc-');
    expect(paid.get('pc-1')).toEqual({ count: 1, total: 70_000n });

    // The bank rejects it: the money comes back, and this period's key is spent.
    const [periodic] = await app.orm.em.fork().execute<{ id: string }[]>(`SELECT id FROM payout WHERE payee_id = 'pc-1' AND source = 'PERIODIC'`);
    await app.orm.em.fork().transactional(async (em) => {
      await app.use(payoutsModule).lifecycle.send(em, periodic!.id);
      await app.use(payoutsModule).lifecycle.transition(em, periodic!.id, 'REJECTED', { reason: 'bad requisites' });
    });
    expect((await runNow(server)).payoutsCreated).toBe(0);
    expect((await periodicPayouts(app, 'pc-')).get('pc-1')?.count).toBe(1);
    expect(await app.checkLedger()).toEqual([]);
  });

  it('obeys an admin’s new number of days at the next run', async () => {
    const { app } = server;
    await seedParks(app, ['pn-1'], 10_000n);
    expect((await runNow(server)).payoutsCreated).toBeGreaterThanOrEqual(1);
    await app.orm.em.fork().execute(`UPDATE payout SET created_at = now() - interval '2 days' WHERE payee_id = 'pn-1'`);
    await seedParks(app, ['pn-1'], 3_000n);
    expect((await periodicPayouts(app, 'pn-')).get('pn-1')?.count).toBe(1);
    const changed = await graphql(server.url, UpdateFleetPayoutSettingsDocument, { input: { periodicDays: 1 } }, admin);
    expect(changed.errors).toBeUndefined();
    await runNow(server);
    expect((await periodicPayouts(app, 'pn-')).get('pn-1')).toEqual({ count: 2, total: 13_000n });
    await graphql(server.url, UpdateFleetPayoutSettingsDocument, { input: { periodicDays: 7 } }, admin);
  });

  it('is refused to anyone but an admin', async () => {
    const response = await graphql(server.url, RunFleetPeriodicPayoutsDocument, {}, tokenFor('dispatcher', [{ kind: 'PARK', id: 'pd-never' }]));
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });
});

describe('the periodic run’s shared rate', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { env: { FLEET_PERIODIC_RATE: '20', FLEET_PERIODIC_BATCH: '500' } });
  });
  afterAll(async () => server?.close());

  it('creates payouts no faster than the rate, and after downtime catches up without a burst', async () => {
    const { app } = server;
    const ids = Array.from({ length: 60 }, (_, i) => `pr-${String(i).padStart(3, '0')}`);
    await seedParks(app, ids, 1_000n);
    // The last booking was an hour ago: a throttle that saved up credit would pay all 60 at once.
    await app.orm.em.fork().execute(`UPDATE fleet_throttle SET next_slot_at = now() - interval '1 hour'`);
    const result = await runNow(server);
    expect(result.payoutsCreated).toBe(60);
    const rows = await app.orm.em.fork().execute<{ created_at: string }[]>(
      `SELECT created_at FROM payout WHERE source = 'PERIODIC' AND payee_id LIKE 'pr-%' ORDER BY created_at`,
    );
    const times = rows.map((row) => new Date(row.created_at).getTime());
    // 20 a second: three batches of 20, each begun a second after the one before. (Within a batch the
    // payouts are made one after another, so on a busy machine a slow first batch and a quick second
    // can bring two of its payouts 20 apart a little closer than a second: the slots bound the batches.)
    for (let i = 20; i < times.length; i += 20) expect(times[i]! - times[i - 20]!).toBeGreaterThanOrEqual(950);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1900);
  });
});

describe('periodic runs in worker processes', () => {
  const db = useWorkerDatabase();
  const PARKS = 1000;

  const addRun = () => db.app.orm.em.fork().execute(`SELECT graphile_worker.add_job('fleet__periodic_payouts', '{}'::json)`);
  const paidCount = async (prefix: string) => {
    const [row] = await db.app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM payout WHERE source = 'PERIODIC' AND payee_id LIKE ?`, [`${prefix}%`]);
    return Number(row!.n);
  };
  const expectEachPaidOnce = async (prefix: string, ids: readonly string[], amount: bigint) => {
    const paid = await periodicPayouts(db.app, prefix);
    expect(paid.size).toBe(ids.length);
    for (const id of ids) expect(paid.get(id), id).toEqual({ count: 1, total: amount });
    expect(await db.app.checkLedger()).toEqual([]);
  };

  it('pays each park once when two workers run over the same parks at the same time', { timeout: 180_000 }, async () => {
    const ids = Array.from({ length: PARKS }, (_, i) => `pw-${String(i).padStart(4, '0')}`);
    await seedParks(db.app, ids, 2_500n);
    const env = { FLEET_PERIODIC_RATE: '500', FLEET_PERIODIC_CRON: '0 0 1 1 *', PAYOUT_OEBS_GATE_INTERVAL: '1h', PAYOUT_REQ_GATE_INTERVAL: '1h' };
    const workers = [startWorkerProcess(db.url, env), startWorkerProcess(db.url, env)];
    for (const worker of workers) expect(await worker.started(), worker.output()).toBe(true);
    await addRun();
    await addRun();
    await waitFor(
      async () => workers.reduce((n, w) => n + w.logged('periodic fleet payouts run done'), 0),
      (done) => done === 2,
      120_000,
    );
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toEqual({ code: 0, signal: null });
    await expectEachPaidOnce('pw-', ids, 2_500n);
  });

  it('pays nobody twice and skips nobody when a worker is SIGKILLed mid run and another runs again', { timeout: 180_000 }, async () => {
    const ids = Array.from({ length: PARKS }, (_, i) => `pk-${String(i).padStart(4, '0')}`);
    await seedParks(db.app, ids, 4_000n);
    const env = { FLEET_PERIODIC_RATE: '200', FLEET_PERIODIC_CRON: '0 0 1 1 *', PAYOUT_OEBS_GATE_INTERVAL: '1h', PAYOUT_REQ_GATE_INTERVAL: '1h' };
    const victim = startWorkerProcess(db.url, env);
    expect(await victim.started(), victim.output()).toBe(true);
    await addRun();
    await waitFor(() => paidCount('pk-'), (n) => n >= PARKS / 5, 60_000);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = await paidCount('pk-');
    expect(atKill, 'the run finished before it could be killed').toBeLessThan(PARKS);

    const heir = startWorkerProcess(db.url, env);
    expect(await heir.started(), heir.output()).toBe(true);
    await addRun();
    await waitFor(() => Promise.resolve(heir.logged('periodic fleet payouts run done')), (n) => n === 1, 120_000);
    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });
    await expectEachPaidOnce('pk-', ids, 4_000n);
  });
});
