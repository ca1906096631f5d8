import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app/app';
import type { ProcessOutcome } from '../src/platform/kafka/inbound';
import { createTestDatabase } from './helpers/database';
import { waitFor } from './helpers/kafka';
import { asMessages, dailyAt, HOUR, invoicing, MINUTE, minuteAgo, party, type Event, type ShopRef } from './helpers/shops';
import { buildProgram, killStrayWorkers, servicesOn, startWorkerProcess } from './helpers/worker-process';
import { shopsModule } from '../src/shops/module';
import { schedulesModule } from '../src/schedules/module';
import { operationsModule } from '../src/operations/module';

/**
 * A mass scheduled run under faults: a worker process killed (SIGKILL) in the middle of it and
 * another taking over, and two worker processes racing over the same due shops (each shop's run
 * booked twice). Whatever happens: exactly one run and at most one payout per shop and cut-off,
 * every operation before the cut-off paid once (or, for a shop that is skipped or owes, not at
 * all), nothing after it paid, the next runs booked, and the books hold.
 */
const SHOPS = 300;
const SCHEDULE = 'mass';

/** What a shop of the mass run should come to: it pays, owes more than it earned, or is blocked. */
interface MassShop {
  ref: ShopRef;
  result: 'PAID' | 'NOTHING_TO_PAY' | 'SKIPPED';
  /** The sum of its operations before the cut-off. */
  due: bigint;
}

async function sql<T>(app: App, text: string, params: unknown[] = []): Promise<T[]> {
  return app.orm.em.fork().execute<T[]>(text, params);
}

async function count(app: App, text: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: string }>(app, text, params);
  return Number(row!.n);
}

async function apply(app: App, topic: string, events: Event[]): Promise<void> {
  for (let i = 0; i < events.length; i += 200) {
    const outcomes: ProcessOutcome[] = await app.inbound.processBatch(asMessages(topic, events.slice(i, i + 200)), 'KAFKA');
    if (outcomes.some((o) => o !== 'applied')) throw new Error(`seeding ${topic}: ${outcomes.join(', ')}`);
  }
}

/**
 * Shops on a daily schedule whose cut-off is `cutoff`, with operations before and after it,
 * through the inbound path. Every 10th shop owes more than it earned, every 15th is blocked.
 */
async function seedShops(app: App, cutoff: Date): Promise<MassShop[]> {
  await app.orm.em.fork().transactional(async (em) => {
    await app.use(schedulesModule).schedules.upsertCalendar(em, { id: 'utc', timezone: 'UTC', holidays: [], weekendDays: [6, 7] });
    await app.use(schedulesModule).schedules.upsertSchedule(em, { id: SCHEDULE, cron: dailyAt(cutoff), calendarId: 'utc', delayDays: 0 });
  });
  const at = (ms: number) => new Date(cutoff.getTime() + ms);
  const shops: MassShop[] = [];
  const partyEvents: Event[] = [];
  const operations: Event[] = [];
  for (let i = 0; i < SHOPS; i++) {
    const ref = { partyId: `party-${i % 37}`, shopId: `shop-${i}` };
    const owes = i % 10 === 0;
    const blocked = i % 15 === 0 && !owes;
    partyEvents.push(party.created(ref, { payoutScheduleId: SCHEDULE }));
    if (blocked) partyEvents.push(party.blocked(ref, 'mass test'));
    operations.push(
      invoicing.payment(ref, { invoiceId: 'i1', amount: 1000 + i, fee: 10, occurredAt: at(-50 * MINUTE) }),
      invoicing.refund(ref, { invoiceId: 'i1', amount: owes ? 5000 : 200, occurredAt: at(-20 * MINUTE) }),
      invoicing.payment(ref, { invoiceId: 'after-cutoff', amount: 300, occurredAt: at(10 * MINUTE) }),
    );
    const due = BigInt(1000 + i - 10) - (owes ? 5000n : 200n);
    shops.push({ ref, result: owes ? 'NOTHING_TO_PAY' : blocked ? 'SKIPPED' : 'PAID', due });
  }
  await apply(app, app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, partyEvents);
  await apply(app, app.settingsOf(operationsModule).TOPIC_INVOICING, operations);
  return shops;
}

/**
 * Puts the shops where they are when their fire time comes: on the schedule since the day before,
 * the next run at `cutoff` and its job booked for it (past, so due now). `extraJobs` books a second,
 * unkeyed job per shop as well: the same run doubled.
 */
async function makeDue(app: App, cutoff: Date, extraJobs = false): Promise<void> {
  await sql(app, `UPDATE shop SET schedule_since = ?::timestamptz - interval '1 day', next_cutoff = ?, next_fire_at = ? WHERE payout_schedule_id = ?`, [
    cutoff,
    cutoff,
    cutoff,
    SCHEDULE,
  ]);
  const payload = `json_build_object('partyId', party_id, 'shopId', shop_id)`;
  await sql(
    app,
    `SELECT graphile_worker.add_job('shop__payout', ${payload}, run_at => next_fire_at,
            job_key => 'shop__payout:' || party_id || '/' || shop_id, job_key_mode => 'replace')
       FROM shop WHERE payout_schedule_id = ?`,
    [SCHEDULE],
  );
  if (extraJobs) await sql(app, `SELECT graphile_worker.add_job('shop__payout', ${payload}, run_at => next_fire_at) FROM shop WHERE payout_schedule_id = ?`, [SCHEDULE]);
}

const runsAt = (app: App, cutoff: Date) => count(app, 'SELECT count(*) AS n FROM shop_payout_run WHERE cutoff = ?', [cutoff]);
/** Shop jobs due and free to take (a dead worker's locked ones are not). */
const dueJobs = (app: App) =>
  count(app, `SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND run_at <= now() AND locked_at IS NULL`);

/** Waits until every shop has run for the cut-off and no shop job is due any more. */
async function untilSettled(app: App, cutoff: Date): Promise<void> {
  const left = await waitFor(
    async () => ({ runs: await runsAt(app, cutoff), dueJobs: await dueJobs(app) }),
    (l) => l.runs === SHOPS && l.dueJobs === 0,
    180_000,
  );
  expect(left).toEqual({ runs: SHOPS, dueJobs: 0 });
}

/** Everything that must hold after the mass run, however the workers got there. */
async function expectSettledOnce(app: App, shops: MassShop[], cutoff: Date): Promise<void> {
  const key = (r: { party_id: string; shop_id: string }) => `${r.party_id}/${r.shop_id}`;
  const expected = new Map(shops.map((s) => [`${s.ref.partyId}/${s.ref.shopId}`, s]));

  // One run per shop, for this cut-off, with the right result and sum.
  const runs = await sql<{ party_id: string; shop_id: string; cutoff: string; result: string; amount: string; operation_count: number }>(
    app,
    'SELECT party_id, shop_id, cutoff, result, amount, operation_count FROM shop_payout_run',
  );
  expect(runs).toHaveLength(SHOPS);
  expect(new Set(runs.map(key)).size).toBe(SHOPS);
  for (const run of runs) {
    const shop = expected.get(key(run))!;
    expect(new Date(run.cutoff).getTime()).toBe(cutoff.getTime());
    expect({ result: run.result, amount: run.result === 'SKIPPED' ? null : BigInt(run.amount) }).toEqual({
      result: shop.result,
      amount: shop.result === 'SKIPPED' ? null : shop.due,
    });
  }

  // Exactly one payout per paying shop and cut-off, for its whole due sum; none for the others.
  const payouts = await sql<{ party_id: string; shop_id: string; cutoff: string; n: string; total: string }>(
    app,
    `SELECT party_id, shop_id, cutoff, count(*) AS n, sum(amount)::text AS total FROM payout WHERE source = 'SCHEDULE' GROUP BY 1, 2, 3`,
  );
  const paying = shops.filter((s) => s.result === 'PAID');
  expect(new Map(payouts.map((p) => [key(p), { n: Number(p.n), total: BigInt(p.total), cutoff: new Date(p.cutoff).getTime() }]))).toEqual(
    new Map(paying.map((s) => [`${s.ref.partyId}/${s.ref.shopId}`, { n: 1, total: s.due, cutoff: cutoff.getTime() }])),
  );

  // Every payout holds exactly the operations it paid; each paid operation is its own shop's and
  // before the cut-off; every operation of a paying shop before the cut-off is paid.
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM payout p
        WHERE p.source = 'SCHEDULE' AND p.amount <> (SELECT coalesce(sum(payable), 0) FROM shop_operation o WHERE o.payout_id = p.id)`,
    ),
  ).toBe(0);
  expect(
    await count(
      app,
      `SELECT count(*) AS n FROM shop_operation o JOIN payout p ON p.id = o.payout_id
        WHERE p.party_id <> o.party_id OR p.shop_id <> o.shop_id OR o.occurred_at >= p.cutoff`,
    ),
  ).toBe(0);
  const paidOps = await sql<{ party_id: string; shop_id: string; paid: string; unpaid_before: string; paid_after: string }>(
    app,
    `SELECT party_id, shop_id, count(payout_id) AS paid,
            count(*) FILTER (WHERE payout_id IS NULL AND occurred_at < ?) AS unpaid_before,
            count(payout_id) FILTER (WHERE occurred_at >= ?) AS paid_after
       FROM shop_operation GROUP BY 1, 2`,
    [cutoff, cutoff],
  );
  for (const row of paidOps) {
    const pays = expected.get(key(row))!.result === 'PAID';
    expect({ shop: key(row), paid: Number(row.paid), unpaidBefore: Number(row.unpaid_before), paidAfter: Number(row.paid_after) }).toEqual({
      shop: key(row),
      paid: pays ? 2 : 0,
      unpaidBefore: pays ? 0 : 2,
      paidAfter: 0,
    });
  }

  // Each shop has settled the cut-off and has one pending job, for tomorrow's.
  const tomorrow = new Date(cutoff.getTime() + 24 * HOUR);
  const bookings = await sql<{ last_cutoff: string; next_fire_at: string; jobs: string; run_at: string | null }>(
    app,
    `SELECT s.last_cutoff, s.next_fire_at, count(j.*) AS jobs, min(j.run_at) AS run_at
       FROM shop s LEFT JOIN graphile_worker.jobs j
         ON j.key = 'shop__payout:' || s.party_id || '/' || s.shop_id AND j.locked_at IS NULL
      GROUP BY s.party_id, s.shop_id`,
  );
  const wrong = bookings.filter(
    (b) =>
      new Date(b.last_cutoff).getTime() !== cutoff.getTime() ||
      new Date(b.next_fire_at).getTime() !== tomorrow.getTime() ||
      Number(b.jobs) !== 1 ||
      new Date(b.run_at!).getTime() !== tomorrow.getTime(),
  );
  expect(wrong).toEqual([]);

  expect(await app.checkLedger()).toEqual([]);
}

beforeAll(() => buildProgram());
afterAll(() => killStrayWorkers());

describe('a worker process killed in the middle of a mass run', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: App;
  beforeAll(async () => {
    database = await createTestDatabase();
    app = await servicesOn(database.url);
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  /** Transactions of other sessions (the worker's) that have written and not yet committed. */
  const openWrites = () =>
    count(
      app,
      'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL',
    );

  it('pays each shop once for the cut-off after another worker takes over', { timeout: 300_000 }, async () => {
    const cutoff = minuteAgo(HOUR);
    const shops = await seedShops(app, cutoff);
    // The run's jobs are held by nobody else: the heir books them again once they are this stale.
    const env = { SHOP_RUN_REBOOK_AFTER: '1s', PAYOUT_OEBS_GATE_INTERVAL: '1h', PAYOUT_REQ_GATE_INTERVAL: '1h' };

    const victim = startWorkerProcess(database.url, env);
    expect(await victim.started(), victim.output()).toBe(true);
    await makeDue(app, cutoff);
    // Kill it once it has settled a fair part of the shops and holds a transaction that has written
    // and not committed.
    const killBy = Date.now() + 60_000;
    while (Date.now() < killBy && victim.child.exitCode === null) {
      if ((await runsAt(app, cutoff)) >= SHOPS / 5 && (await openWrites()) > 0) break;
    }
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const settledAtKill = await runsAt(app, cutoff);
    expect(settledAtKill, victim.output()).toBeGreaterThanOrEqual(SHOPS / 5);
    expect(settledAtKill, 'the worker finished before it could be killed: nothing was interrupted').toBeLessThan(SHOPS);
    // The dead worker's jobs stay locked (graphile-worker gives up on a lock after four hours); a
    // job still under its shop's key is a run that was rolled back: only a new booking pays that shop.
    const held = await count(
      app,
      `SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND locked_at IS NOT NULL AND key IS NOT NULL`,
    );
    expect(held).toBeGreaterThan(0);
    await waitFor(
      () => count(app, `SELECT count(*) AS n FROM graphile_worker.jobs WHERE locked_at > now() - interval '1 second'`),
      (n) => n === 0,
    );

    const heir = startWorkerProcess(database.url, env);
    expect(await heir.started(), heir.output()).toBe(true);
    await untilSettled(app, cutoff);
    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });
    await expectSettledOnce(app, shops, cutoff);
  });
});

describe('two worker processes racing over the same due shops', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: App;
  beforeAll(async () => {
    database = await createTestDatabase();
    app = await servicesOn(database.url);
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('pays each shop once for the cut-off, whichever worker runs which job', { timeout: 300_000 }, async () => {
    const cutoff = minuteAgo(HOUR);
    const shops = await seedShops(app, cutoff);
    const env = { PAYOUT_OEBS_GATE_INTERVAL: '1h', PAYOUT_REQ_GATE_INTERVAL: '1h' };
    const workers = [startWorkerProcess(database.url, env), startWorkerProcess(database.url, env)];
    for (const worker of workers) expect(await worker.started(), worker.output()).toBe(true);

    // Every shop's run is booked twice: both workers may take the same shop at the same time.
    await makeDue(app, cutoff, true);
    await untilSettled(app, cutoff);
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toEqual({ code: 0, signal: null });

    await expectSettledOnce(app, shops, cutoff);
    // Both really ran shops, and between them made each payout once.
    const made = workers.map((w) => w.logged('scheduled payout created'));
    expect(made[0]).toBeGreaterThan(0);
    expect(made[1]).toBeGreaterThan(0);
    expect(made[0]! + made[1]!).toBe(shops.filter((s) => s.result === 'PAID').length);
  });
});
