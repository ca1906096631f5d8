import type { Client } from 'pg';
import type { App } from '../src/app/app';
import { BENCH_JWT_SECRET } from './lib/database';
import { childEnv, cpuTimeMs, machineBusyMs, memoryOf, postgresCpuMs, postmasterPidOf, spawnService, type ServiceProcess } from './lib/child';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';
import { benchApp } from './payout-writes';
import { countStatements, statementProfile } from './lib/statements';
import { shopRunsModule } from '../src/shop-runs/module';
import { schedulesModule } from '../src/schedules/module';

/**
 * Issue 3's mass run: many shops on one schedule, a million unpaid operations, all due at one
 * cron time; real `payouts worker` processes pay every shop. Timed from the fire time until every
 * shop has its run and its payout, with the workers' memory sampled every second.
 */

export interface MassRunOptions {
  shops: number;
  /** Unpaid operations, spread evenly over the shops (at least one each). */
  operations: number;
  /** `payouts worker` processes. */
  workers: number;
  /** Their WORKER_CONCURRENCY; null keeps the service default. */
  concurrency: number | null;
  /** The workers' PAYOUT_OEBS_GATE_INTERVAL: long keeps the ERP sender out of the measured run. */
  senderInterval: string;
  /** The fire time is the first whole minute at least this many seconds after the jobs are booked. */
  leadS: number;
  timeoutS: number;
}

const CURRENCY = 'RUB';
const CALENDAR = 'bench-utc';
const SCHEDULE = 'bench-mass';
const SAMPLE_SCHEDULE = 'bench-sample';
const SAMPLE_PARTY = 'bench-sample';
/** Shops run in this process first, to count a run's statements. */
const SAMPLE_SHOPS = 20;
const OPERATIONS_PER_STATEMENT = 100_000;

/**
 * Shops straight into the table (as ShopCreated leaves them, without the job booking, which the
 * schedule change does for all of them at once later), with their `payout` and `payout-reserved`
 * accounts open, as for shops that have been paid before.
 */
async function insertShops(db: Client, count: number, schedule: string, party: (n: string) => string): Promise<void> {
  await db.query(
    `INSERT INTO shop (party_id, shop_id, currency, payout_tool_id, payout_schedule_id, schedule_since)
     SELECT ${party('n')}, 'shop-' || n, $2, 'tool-1', $3, now() - interval '1 hour'
       FROM generate_series(0, $1 - 1) n`,
    [count, CURRENCY, schedule],
  );
  await db.query(
    `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
     SELECT 'SHOP', s.party_id || '/' || s.shop_id, t.type, s.currency, t.type = 'payout'
       FROM shop s CROSS JOIN (VALUES ('payout'), ('payout-reserved')) t(type)
      WHERE s.payout_schedule_id = $1`,
    [schedule],
  );
}

/**
 * Operations by SQL, `perShop` for each shop of the schedule: nine payments to one refund, each
 * shop's first a payment, so every shop's sum is positive. All happened within the last hour,
 * before any cut-off to come.
 */
async function insertOperations(db: Client, schedule: string, perShop: number, progress: (done: number) => void): Promise<void> {
  const shops = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM shop WHERE payout_schedule_id = $1', [schedule])).rows[0]!.n);
  const total = shops * perShop;
  for (let from = 0; from < total; from += OPERATIONS_PER_STATEMENT) {
    const to = Math.min(total, from + OPERATIONS_PER_STATEMENT) - 1;
    await db.query(
      `WITH shops AS (SELECT row_number() OVER (ORDER BY party_id, shop_id) - 1 AS i, party_id, shop_id FROM shop WHERE payout_schedule_id = $3),
            ops AS (
              SELECT n, n % $4 AS shop, n / $4 AS k, CASE WHEN (n / $4) % 10 = 9 THEN 'REFUND' ELSE 'PAYMENT' END AS kind,
                     1000 + (n * 7919) % 99000 AS base
                FROM generate_series($1::bigint, $2::bigint) n)
       INSERT INTO shop_operation (party_id, shop_id, business_id, kind, invoice_id, payment_id, amount, fee, payable, currency,
                                   occurred_at, event_id)
       SELECT s.party_id, s.shop_id,
              o.kind || '/' || s.party_id || '/' || s.shop_id || '/' || $3 || '-inv-' || o.n || '/1/' || CASE WHEN o.kind = 'REFUND' THEN '1' ELSE '' END,
              o.kind, $3 || '-inv-' || o.n, '1',
              CASE WHEN o.kind = 'REFUND' THEN o.base / 2 ELSE o.base END,
              CASE WHEN o.kind = 'REFUND' THEN 0 ELSE o.base / 40 END,
              CASE WHEN o.kind = 'REFUND' THEN -(o.base / 2) ELSE o.base - o.base / 40 END,
              '${CURRENCY}', now() - interval '1 hour' + (o.n % 3000) * interval '1 second', $3 || '-' || o.n
         FROM ops o JOIN shops s ON s.i = o.shop`,
      [from, to, schedule, shops],
    );
    progress(to + 1);
  }
}

/**
 * The ledger side of those operations: one credit per shop from `world` for the sum of its
 * operations, all through one `ledger_post_many` call, so every balance equals its transfers.
 */
async function creditShops(db: Client): Promise<void> {
  await db.query(
    `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
     VALUES ('SYSTEM', 'system', 'world', $1, true) ON CONFLICT DO NOTHING`,
    [CURRENCY],
  );
  await db.query(
    `WITH world AS (SELECT id FROM ledger_account WHERE owner_kind = 'SYSTEM' AND type = 'world' AND currency = $1),
          sums AS (SELECT party_id || '/' || shop_id AS owner, sum(payable) AS total FROM shop_operation GROUP BY party_id, shop_id),
          legs AS (
            SELECT 'bench-mass:' || s.owner AS key, a.id, s.total FROM sums s
              JOIN ledger_account a ON a.owner_kind = 'SHOP' AND a.owner_id = s.owner AND a.type = 'payout' AND a.currency = $1)
     SELECT ledger_post_many(array_agg(key), array_agg((SELECT id FROM world)), array_agg(id), array_agg(total::bigint),
                             array_agg($1::text), array_agg('operation_payment'::text), array_agg('bench-mass'::text))
       FROM legs`,
    [CURRENCY],
  );
}

/**
 * The sample shops' runs, in this process one after another: the statements of one run and its
 * time alone. Their schedule is then removed, so they take no part in the measured run.
 */
async function sampleRuns(app: App, db: Client) {
  const shops = (await db.query<{ party_id: string; shop_id: string }>('SELECT party_id, shop_id FROM shop WHERE party_id = $1', [SAMPLE_PARTY]))
    .rows;
  const began = performance.now();
  const statements = await countStatements(app, async () => {
    for (const s of shops) {
      const run = await app.use(shopRunsModule).runner.run({ partyId: s.party_id, shopId: s.shop_id });
      if (run?.result !== 'PAID') throw new Error(`the sample run of ${s.shop_id} did not pay: ${JSON.stringify(run)}`);
    }
  });
  const msPerRun = (performance.now() - began) / shops.length;
  await db.query(
    `SELECT graphile_worker.remove_job('shop__payout:' || party_id || '/' || shop_id) FROM shop WHERE party_id = $1`,
    [SAMPLE_PARTY],
  );
  await db.query('UPDATE shop SET payout_schedule_id = NULL WHERE party_id = $1', [SAMPLE_PARTY]);
  return { ...statementProfile(statements, shops.length), msPerRunAlone: round(msPerRun, 2) };
}

async function counts(db: Client): Promise<{ runs: number; payouts: number }> {
  const row = (
    await db.query<{ runs: string; payouts: string }>(
      `SELECT (SELECT count(*) FROM shop_payout_run WHERE party_id <> $1) AS runs,
              (SELECT count(*) FROM payout WHERE source = 'SCHEDULE' AND source_ref = $2) AS payouts`,
      [SAMPLE_PARTY, SCHEDULE],
    )
  ).rows[0]!;
  return { runs: Number(row.runs), payouts: Number(row.payouts) };
}

async function sampleWaits(db: Client, waits: Map<string, number>): Promise<void> {
  const rows = await db.query<{ wait: string; n: string }>(
    `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait, count(*) AS n
       FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
      GROUP BY 1`,
  );
  for (const r of rows.rows) waits.set(r.wait, (waits.get(r.wait) ?? 0) + Number(r.n));
}

/** Every shop paid once for the cut-off, every operation marked with its shop's payout, the books clean. */
async function verifyMassRun(app: App, options: MassRunOptions, perShop: number, cutoff: Date) {
  const em = app.orm.em.fork();
  const [row] = await em.execute<Record<string, string>[]>(
    `SELECT (SELECT count(*) FROM shop_payout_run WHERE party_id <> ?) AS runs,
            (SELECT count(*) FROM shop_payout_run WHERE party_id <> ? AND result = 'PAID' AND cutoff = ?) AS paid_at_cutoff,
            (SELECT count(DISTINCT (party_id, shop_id)) FROM shop_payout_run WHERE party_id <> ?) AS shops_run,
            (SELECT coalesce(sum(operation_count), 0) FROM shop_payout_run WHERE party_id <> ?) AS operations_in_runs,
            (SELECT count(*) FROM payout WHERE source = 'SCHEDULE' AND source_ref = ?) AS payouts,
            (SELECT count(DISTINCT payee_id) FROM payout WHERE source = 'SCHEDULE' AND source_ref = ?) AS shops_paid,
            (SELECT count(*) FROM shop_operation WHERE payout_id IS NULL) AS unmarked,
            (SELECT count(*) FROM payout p JOIN (SELECT payout_id, sum(payable) AS total FROM shop_operation GROUP BY payout_id) o
                 ON o.payout_id = p.id WHERE p.amount <> o.total) AS payouts_not_their_operations,
            (SELECT count(*) FROM shop_payout_run r JOIN payout p ON p.id = r.payout_id
              WHERE r.amount <> p.amount OR p.payee_id <> r.party_id || '/' || r.shop_id) AS runs_not_their_payout,
            (SELECT count(*) FROM ledger_account WHERE owner_kind = 'SHOP' AND type = 'payout' AND balance <> 0) AS unpaid_balances,
            (SELECT count(*) FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND run_at = ?::timestamptz + interval '1 day')
              AS next_runs_booked,
            (SELECT count(*) FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND last_error IS NOT NULL) AS failed_jobs`,
    [SAMPLE_PARTY, SAMPLE_PARTY, cutoff, SAMPLE_PARTY, SAMPLE_PARTY, SCHEDULE, SCHEDULE, cutoff],
  );
  const shops = String(options.shops);
  const want: Record<string, string> = {
    runs: shops,
    paid_at_cutoff: shops,
    shops_run: shops,
    operations_in_runs: String(options.shops * perShop),
    payouts: shops,
    shops_paid: shops,
    unmarked: '0',
    payouts_not_their_operations: '0',
    runs_not_their_payout: '0',
    unpaid_balances: '0',
    next_runs_booked: shops,
    failed_jobs: '0',
  };
  const wrong = Object.entries(want).filter(([k, v]) => String(row![k]) !== v);
  if (wrong.length > 0) throw new Error(`the mass run left the wrong rows: ${JSON.stringify({ got: row, want })}`);
  const began = performance.now();
  const violations = await app.checkLedger(em);
  if (violations.length > 0) throw new Error(`ledger invariants broken: ${JSON.stringify(violations.slice(0, 5))}`);
  return { ...row, ledgerCheck: 'ok', ledgerCheckMs: round(performance.now() - began, 0) };
}

/** The first whole minute at least `leadS` seconds after `now`. */
function fireTimeAfter(now: Date, leadS: number): Date {
  const minute = 60_000;
  return new Date(Math.ceil((now.getTime() + leadS * 1000) / minute) * minute);
}

export async function benchShopMassRun(databaseUrl: string, options: MassRunOptions): Promise<BenchmarkResult> {
  if (options.operations < options.shops) throw new Error('BENCH_MASS_OPERATIONS must be at least BENCH_MASS_SHOPS (one operation per shop)');
  const perShop = Math.floor(options.operations / options.shops);
  const db = new (await import('pg')).Client({ connectionString: databaseUrl });
  await db.connect();
  const app = await benchApp(databaseUrl, 4);
  const workers: ServiceProcess[] = [];
  try {
    // Set-up: the schedule fires far away until everything is in place.
    const setupBegan = performance.now();
    await app.orm.em.fork().transactional(async (em) => {
      await app.use(schedulesModule).schedules.upsertCalendar(em, { id: CALENDAR, timezone: 'UTC', holidays: [], weekendDays: [6, 7] });
      await app.use(schedulesModule).schedules.upsertSchedule(em, { id: SCHEDULE, cron: '0 0 1 1 *', calendarId: CALENDAR, delayDays: 0 });
      await app.use(schedulesModule).schedules.upsertSchedule(em, { id: SAMPLE_SCHEDULE, cron: '* * * * *', calendarId: CALENDAR, delayDays: 0 });
    });
    // Ten shops to a party, as parties with several shops are common.
    await insertShops(db, options.shops, SCHEDULE, (n) => `'bench-party-' || (${n} % ${Math.max(1, Math.ceil(options.shops / 10))})`);
    await insertShops(db, SAMPLE_SHOPS, SAMPLE_SCHEDULE, () => `'${SAMPLE_PARTY}'`);
    const shopsMs = performance.now() - setupBegan;
    const operationsBegan = performance.now();
    let lastPrint = 0;
    await insertOperations(db, SCHEDULE, perShop, (done) => {
      if (performance.now() - lastPrint > 5000 || done === options.shops * perShop) {
        lastPrint = performance.now();
        console.error(`   operations inserted ${done.toLocaleString('en-US').padStart(10)}  (${Math.round((performance.now() - operationsBegan) / 1000)} s)`);
      }
    });
    await insertOperations(db, SAMPLE_SCHEDULE, perShop, () => undefined);
    const operationsMs = performance.now() - operationsBegan;
    const creditBegan = performance.now();
    await creditShops(db);
    const creditMs = performance.now() - creditBegan;
    // As a live table would be: statistics known, visibility map set, no checkpoint owed.
    const vacuumBegan = performance.now();
    await db.query('VACUUM (ANALYZE) shop_operation, shop, ledger_account, ledger_transfer');
    await db.query('CHECKPOINT').catch(() => undefined);
    const vacuumMs = performance.now() - vacuumBegan;
    const sample = await sampleRuns(app, db);
    console.error(`   set up in ${Math.round((performance.now() - setupBegan) / 1000)} s; ${sample.perCall} statements per run, ${sample.msPerRunAlone} ms per run alone`);

    // The workers, up before the fire time: each has run its first gate job once it has booked the next.
    const workerSettings: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      JWT_SECRET: BENCH_JWT_SECRET,
      PAYOUT_OEBS_GATE_INTERVAL: options.senderInterval,
      ...(options.concurrency ? { WORKER_CONCURRENCY: String(options.concurrency) } : {}),
    };
    for (let i = 0; i < options.workers; i += 1) workers.push(spawnService('worker', childEnv(workerSettings)));
    const readyBegan = performance.now();
    for (;;) {
      const exited = await Promise.race([...workers.map((w) => w.exited.then(() => w)), sleep(200).then(() => null)]);
      if (exited) throw new Error(`a worker exited while starting:\n${exited.output().slice(-4000)}`);
      const ready = await db.query(`SELECT 1 FROM graphile_worker.jobs WHERE task_identifier = 'payout_request__process' AND run_at > now()`);
      if (ready.rows.length > 0) break;
      if (performance.now() - readyBegan > 60_000) throw new Error(`the workers were not up within 60 s:\n${workers[0]!.output().slice(-4000)}`);
    }
    await sleep(1000);

    // Every shop of the schedule gets the same next fire time, booked by the schedule change.
    const dbNow = new Date((await db.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now);
    const fireAt = fireTimeAfter(dbNow, options.leadS);
    const cron = `${fireAt.getUTCMinutes()} ${fireAt.getUTCHours()} * * *`;
    const bookBegan = performance.now();
    await app.orm.em.fork().transactional((em) =>
      app.use(schedulesModule).schedules.upsertSchedule(em, { id: SCHEDULE, cron, calendarId: CALENDAR, delayDays: 0 }),
    );
    const bookMs = performance.now() - bookBegan;
    const booked = Number(
      (
        await db.query<{ n: string }>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND run_at = $1`, [
          fireAt,
        ])
      ).rows[0]!.n,
    );
    if (booked !== options.shops) throw new Error(`${booked} shop runs booked for ${fireAt.toISOString()}, not ${options.shops}`);
    console.error(`   ${booked.toLocaleString('en-US')} runs booked in ${Math.round(bookMs)} ms for ${fireAt.toISOString()} (cron "${cron}" UTC); waiting`);

    const postmaster = postmasterPidOf((await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const postgresNow = () => (postmaster === null ? null : postgresCpuMs(postmaster));
    const rssNow = () => workers.reduce((sum, w) => sum + (memoryOf(w.pid)?.rssMb ?? 0), 0);
    const rssTimeline: { s: number; mb: number }[] = [];
    // Memory every second from now on, relative to the fire time (negative before it).
    const rssTimer = setInterval(() => rssTimeline.push({ s: round((Date.now() - fireAt.getTime()) / 1000, 1), mb: round(rssNow(), 1) }), 1000);
    let exited: ServiceProcess | null = null;
    for (const w of workers) void w.exited.then(() => (exited ??= w));
    try {
      await sleep(Math.max(0, fireAt.getTime() - Date.now()));
      const rssAtFire = rssNow();
      const [cpu0, machine0, postgres0] = [workers.map((w) => cpuTimeMs(w.pid)), machineBusyMs(), postgresNow()];
      const waits = new Map<string, number>();
      const timeline: { s: number; runs: number }[] = [];
      let polls = 0;
      let print = 0;
      let doneMs: number | null = null;
      let last = { runs: 0, payouts: 0 };
      while (Date.now() - fireAt.getTime() < options.timeoutS * 1000) {
        await sleep(250);
        if (exited) throw new Error(`a worker exited during the run:\n${(exited as ServiceProcess).output().slice(-4000)}`);
        last = await counts(db);
        await sampleWaits(db, waits);
        polls += 1;
        const elapsed = Date.now() - fireAt.getTime();
        if (last.runs >= options.shops) {
          doneMs = elapsed;
          break;
        }
        if (elapsed - print >= 2000) {
          print = elapsed;
          timeline.push({ s: round(elapsed / 1000, 1), runs: last.runs });
          console.error(`   ${(elapsed / 1000).toFixed(1).padStart(6)} s  shops run ${last.runs.toLocaleString('en-US').padStart(7)}  rss ${Math.round(rssNow())} MB`);
        }
      }
      const elapsedMs = doneMs ?? Date.now() - fireAt.getTime();
      const workerCpuMs = workers.reduce((sum, w, i) => sum + cpuTimeMs(w.pid) - cpu0[i]!, 0);
      const machineMs = machineBusyMs() - machine0;
      const postgres1 = postgresNow();
      const postgresMs = postgres0 === null || postgres1 === null ? null : postgres1 - postgres0;
      const rssAtEnd = rssNow();
      clearInterval(rssTimer);
      const during = rssTimeline.filter((r) => r.s >= 0);
      const rssPeak = Math.max(rssAtFire, rssAtEnd, ...during.map((r) => r.mb));
      // Flat means no trend once warmed up: the change over the second half of the run.
      const halfway = during.find((r) => r.s >= elapsedMs / 2000)?.mb ?? rssAtFire;
      const rssSecondHalf = rssAtEnd - halfway;
      const [first] = (
        await db.query<{ first: Date; last: Date }>(`SELECT min(ran_at) AS first, max(ran_at) AS last FROM shop_payout_run WHERE party_id <> $1`, [
          SAMPLE_PARTY,
        ])
      ).rows;

      const stops = await Promise.all(workers.map((w) => w.stop()));
      const badStop = stops.find((s) => s.code !== 0);
      if (badStop) throw new Error(`a worker did not exit cleanly: ${JSON.stringify(badStop)}\n${workers[0]!.output().slice(-4000)}`);
      const errors = workers.flatMap((w) => w.output().split('\n').filter((l) => /"level":(50|60)/.test(l)));
      const verification = doneMs === null ? null : await verifyMassRun(app, options, perShop, fireAt);
      const waitShare = Object.fromEntries([...waits].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / Math.max(1, polls), 2)]));
      const perShopMs = (ms: number | null) => (ms === null ? null : round(ms / Math.max(1, last.runs), 2));
      const shops = options.shops.toLocaleString('en-US');
      const ops = (options.shops * perShop).toLocaleString('en-US');
      const workerText = `${options.workers} \`payouts worker\`${options.workers > 1 ? 's' : ''}, WORKER_CONCURRENCY=${options.concurrency ?? 'default (4)'}`;
      return {
        name: 'shops-mass-run',
        figures: [
          {
            key: 'shops.mass.seconds',
            label: `Mass run: ${shops} shops, ${ops} operations, fire time to last payout`,
            value: doneMs === null ? null : round(doneMs / 1000, 2),
            unit: 's',
            target: { op: '<=', value: 60 },
            note:
              doneMs === null
                ? `not finished after ${options.timeoutS} s: ${last.runs.toLocaleString('en-US')} shops run`
                : `${workerText}; first run began ${round((new Date(first!.first).getTime() - fireAt.getTime()) / 1000, 2)} s after the fire time`,
          },
          {
            key: 'shops.mass.shopsPerSecond',
            label: 'Mass run: shops paid per second',
            value: round((last.runs / elapsedMs) * 1000, 0),
            unit: '/s',
            note: `${perShop} operations per shop; ${sample.perCall} statements per run; ${sample.msPerRunAlone} ms per run alone, in-process`,
          },
          {
            key: 'shops.mass.workerCpu',
            label: 'Mass run: worker CPU per shop',
            value: perShopMs(workerCpuMs),
            unit: 'ms',
          },
          {
            key: 'shops.mass.postgresCpu',
            label: 'Mass run: PostgreSQL CPU per shop',
            value: perShopMs(postgresMs),
            unit: 'ms',
            note: `the whole machine ${perShopMs(machineMs)} ms per shop, ${round(machineMs / elapsedMs, 2)} of its cores busy`,
          },
          {
            key: 'shops.mass.rssAtFire',
            label: 'Mass run: worker RSS at the fire time',
            value: round(rssAtFire, 1),
            unit: 'MB',
          },
          {
            key: 'shops.mass.rssPeak',
            label: 'Mass run: worker RSS, highest during the run',
            value: round(rssPeak, 1),
            unit: 'MB',
            note: 'sampled every second',
          },
          {
            key: 'shops.mass.rssEnd',
            label: 'Mass run: worker RSS when the last shop was paid',
            value: round(rssAtEnd, 1),
            unit: 'MB',
            note: `${rssSecondHalf >= 0 ? '+' : ''}${round(rssSecondHalf, 1)} MB over the second half of the run`,
          },
        ],
        details: {
          options,
          operationsPerShop: perShop,
          workerSettings: Object.fromEntries(Object.entries(workerSettings).filter(([k]) => k !== 'DATABASE_URL' && k !== 'JWT_SECRET')),
          setupMs: {
            shops: round(shopsMs, 0),
            operations: round(operationsMs, 0),
            ledgerCredit: round(creditMs, 0),
            vacuumAndCheckpoint: round(vacuumMs, 0),
            bookingAllRuns: round(bookMs, 0),
          },
          fireAt: fireAt.toISOString(),
          cron,
          firstRunStartedAt: first?.first ?? null,
          lastRunStartedAt: first?.last ?? null,
          doneMs,
          last,
          statementsPerRun: sample,
          workerCpuMs,
          postgresCpuMs: postgresMs,
          machineBusyMs: machineMs,
          rssMb: { atFire: round(rssAtFire, 1), peak: round(rssPeak, 1), atEnd: round(rssAtEnd, 1), secondHalfChange: round(rssSecondHalf, 1), timeline: rssTimeline },
          databaseWaitsPerPoll: waitShare,
          timeline,
          workerErrors: errors.slice(0, 5),
          verification,
          stops,
        },
        notes: [
          `Mass run: ${shops} shops on one daily schedule (UTC, no delay) with their payout and reserved accounts open, ${ops} unpaid operations (${perShop} per shop, nine payments to one refund) inserted by SQL, and the ledger side as one credit per shop from \`world\` for the sum of its operations (one ledger_post_many call), so every balance equals its transfers without two million per-operation transfers the run never reads. The schedule's cron is then set to the next whole minute, which books every shop's run through the service (one set-based statement). ${workerText}, PAYOUT_OEBS_GATE_INTERVAL=${options.senderInterval} (so the ERP sender does not compete with the runs), started before the fire time. Timed from the fire time until every shop has its run row (polled every 250 ms); worker RSS sampled every second. Afterwards: one PAID run and one SCHEDULE payout per shop at that cut-off, each payout the sum of exactly its operations, no operation left unmarked, every shop balance zero, each shop's next run booked, no failed job, checkLedger clean.`,
        ],
      };
    } finally {
      clearInterval(rssTimer);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await app.close();
    await db.end().catch(() => undefined);
  }
}
