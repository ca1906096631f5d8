import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { parksModule } from '../src/parks/module';
import { createLogger } from '../src/platform/logger';
import { topupsModule } from '../src/topups/module';
import type { TransactionRow } from '../src/topups/transaction';
import { writeTransactionsXlsx } from '../src/topups/xlsx';
import { walletsModule } from '../src/wallets/module';
import { childEnv, freePort, memoryOf, spawnService, waitReady } from './lib/child';
import { BENCH_JWT_SECRET, withClient } from './lib/database';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';

/**
 * Issue 13's figures: the Excel export of many transactions (rows per second beside exceljs
 * writing the same rows from memory in the same run, and the exporting process's peak RSS), and
 * accept calls per second through the top-up core.
 */

export interface WalletsBenchOptions {
  exportRows: number;
  /** The V8 old-space limit of the worker process that exports (MB): its heap grows lazily up to it. */
  workerHeapMb: number;
  accepts: number;
  concurrency: number;
  drivers: number;
}

async function walletsApp(databaseUrl: string): Promise<App> {
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX ?? '20',
    LOG_LEVEL: 'warn',
    JWT_SECRET: BENCH_JWT_SECRET,
    WALLET_KEYS: `bench:${randomBytes(32).toString('base64')}`,
  };
  const settings = loadAppSettings(env);
  return createApp({ settings, logger: createLogger('warn'), databaseUrl });
}

/** `rows` transactions of one park, by SQL, in batches (the export reads them; how they got there does not matter). */
async function seedTransactions(databaseUrl: string, walletId: string, rows: number): Promise<void> {
  await withClient(databaseUrl, async (db) => {
    for (let from = 0; from < rows; from += 100_000) {
      const to = Math.min(rows, from + 100_000) - 1;
      await db.query(
        `INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status, reason, created_at, processed_at)
         SELECT $1::uuid, 'bench-park', 'd' || (n % 1000), 'PAYSTACK', 'seed-' || n, 100 + (n::bigint * 7919) % 1000000, 'RUB',
                CASE WHEN n % 50 = 0 THEN 'REJECTED' ELSE 'PROCESSED' END, CASE WHEN n % 50 = 0 THEN 'DRIVER_FIRED' END,
                timestamptz '2026-01-01' + n * interval '1 second', timestamptz '2026-01-01' + n * interval '1 second' + interval '2 seconds'
           FROM generate_series($2::int, $3::int) n`,
        [walletId, from, to],
      );
    }
  });
}

/** Peak RSS of this process while `work` runs, sampled every 50 ms. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakMb: peak / 1048576 };
  } finally {
    clearInterval(timer);
  }
}

const discard = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

export async function benchWallets(databaseUrl: string, options: WalletsBenchOptions): Promise<BenchmarkResult> {
  const app = await walletsApp(databaseUrl);
  try {
    const em = () => app.orm.em.fork();
    const { parks, drivers } = app.use(parksModule);
    const { wallets } = app.use(walletsModule);
    const { topups, exports, queries } = app.use(topupsModule);
    await em().transactional(async (tx) => {
      await parks.upsert(tx, { parkId: 'bench-park', name: 'Bench', currency: 'RUB', email: null, timezone: 'Europe/Moscow', status: 'ACTIVE', occurredAt: new Date() }, null);
      for (let i = 0; i < options.drivers; i++) {
        await drivers.upsert(tx, { parkId: 'bench-park', driverId: `d${i}`, name: `Driver ${i}`, phone: null, status: 'WORKING', occurredAt: new Date() });
      }
    });
    const wallet = await em().transactional((tx) =>
      wallets.create(tx, { parkId: 'bench-park', paymentSystem: 'PAYSTACK', title: 'Bench', currency: 'RUB', enabled: true, minAmount: null, maxAmount: null, credentials: { secretKey: 'sk_bench_0123456789abcdef' } }, 'bench'),
    );

    // --- export: the service's job writing the .xlsx into the database ---
    await seedTransactions(databaseUrl, wallet.id, options.exportRows);
    await withClient(databaseUrl, (db) => db.query('VACUUM ANALYZE topup_transaction'));
    const started = await exports.start(em(), {
      criteria: { parkId: 'bench-park' },
      scope: { all: true, parks: [], drivers: [] },
      timezone: 'Europe/Moscow',
      requestedBy: 'bench',
    });
    global.gc?.();
    const startRssMb = process.memoryUsage.rss() / 1048576;
    const exportBegan = performance.now();
    const { peakMb } = await withPeakRss(() => exports.run(started.id));
    const exportMs = performance.now() - exportBegan;
    const done = await exports.find(em(), started.id);
    if (done?.status !== 'DONE' || done.rows !== options.exportRows) throw new Error(`the export ended ${done?.status} with ${done?.rows} rows`);
    const exportRate = options.exportRows / (exportMs / 1000);

    // --- the same export in a `payouts worker` process, as in production: its peak RSS (VmHWM) ---
    // `url` is built from PORT: the worker serves its /readyz on WORKER_PORT, the same free port.
    const port = String(await freePort());
    const worker = spawnService(
      'worker',
      childEnv({
        PORT: port,
        WORKER_PORT: port,
        DATABASE_URL: databaseUrl,
        JWT_SECRET: BENCH_JWT_SECRET,
        WALLET_KEYS: `bench:${randomBytes(32).toString('base64')}`,
        NODE_OPTIONS: `--max-old-space-size=${options.workerHeapMb}`,
      }),
    );
    let workerMs: number;
    let workerPeakMb: number;
    try {
      await waitReady(worker, performance.now());
      const workerStartMb = memoryOf(worker.pid)?.rssMb ?? 0;
      const inWorker = await exports.start(em(), { criteria: { parkId: 'bench-park' }, scope: { all: true, parks: [], drivers: [] }, timezone: 'Europe/Moscow', requestedBy: 'bench' });
      const began = performance.now();
      for (;;) {
        const state = await exports.find(em(), inWorker.id);
        if (state?.status === 'DONE' || state?.status === 'FAILED') {
          if (state.status === 'FAILED' || state.rows !== options.exportRows) throw new Error(`the worker's export ended ${state.status} with ${state.rows} rows`);
          break;
        }
        await sleep(200);
      }
      workerMs = performance.now() - began;
      workerPeakMb = memoryOf(worker.pid)?.peakRssMb ?? NaN;
      if (workerStartMb > workerPeakMb) workerPeakMb = workerStartMb;
    } finally {
      await worker.stop();
    }

    // --- baseline: exceljs' streaming writer given the same rows already in memory ---
    const rows: TransactionRow[] = [];
    for await (const page of queries.stream(em(), { sql: `park_id = 'bench-park'`, params: [] })) rows.push(...page);
    const baselineBegan = performance.now();
    await writeTransactionsXlsx(discard(), [rows], { filter: 'parkId=bench-park', timezone: 'Europe/Moscow', exportedAt: new Date() });
    const baselineMs = performance.now() - baselineBegan;
    const baselineRate = rows.length / (baselineMs / 1000);
    rows.length = 0;

    // --- the machine's floor: a trivial query through the same ORM and pool, as many at once ---
    const trivialCount = Math.min(options.accepts, 5000);
    let nextTrivial = 0;
    const trivialBegan = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let n = nextTrivial++; n < trivialCount; n = nextTrivial++) await em().execute('SELECT 1');
      }),
    );
    const trivialRate = trivialCount / ((performance.now() - trivialBegan) / 1000);

    // --- accept through the core, many callers at once, each a new externalId ---
    let next = 0;
    const acceptBegan = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let n = next++; n < options.accepts; n = next++) {
          const result = await topups.accept(em(), wallet, `bench-${n}`, `d${n % options.drivers}`, 1000n + BigInt(n));
          if (!result.created) throw new Error(`accept ${n} was not new`);
        }
      }),
    );
    const acceptMs = performance.now() - acceptBegan;
    // Each is durable and waits for the credit gate, which finds ACCEPTED rows by itself.
    const accepted = await topups.countAccepted(em());
    if (accepted !== options.accepts) throw new Error(`${accepted} top-ups ACCEPTED for ${options.accepts} accepts`);
    const acceptRate = options.accepts / (acceptMs / 1000);

    const count = options.exportRows.toLocaleString('en-US');
    return {
      name: 'wallets',
      figures: [
        {
          key: 'wallets.export.rate',
          label: `export of ${count} transactions, rows per second (query, .xlsx, stored in PostgreSQL)`,
          value: round(exportRate, 0),
          unit: '/s',
        },
        {
          key: 'wallets.export.baselineRate',
          label: 'exceljs streaming writer, the same rows from memory, per second',
          value: round(baselineRate, 0),
          unit: '/s',
          note: 'the same sheet code writing to a discarding stream',
        },
        { key: 'wallets.export.ratio', label: 'export ÷ exceljs from memory (rows per second)', value: round(exportRate / baselineRate, 2), unit: '×', target: { op: '>=', value: 0.5 } },
        {
          key: 'wallets.export.workerPeakRss',
          label: `payouts worker exporting the same (heap limit ${options.workerHeapMb} MB), peak RSS`,
          value: round(workerPeakMb, 0),
          unit: 'MB',
          target: { op: '<=', value: 300 },
          note: `its export took ${round(workerMs / 1000, 1)} s`,
        },
        { key: 'wallets.export.peakRss', label: 'bench process (no heap limit), peak RSS during the export', value: round(peakMb, 0), unit: 'MB', note: 'V8 lets its heap grow lazily when nothing limits it' },
        { key: 'wallets.export.startRss', label: 'bench process, RSS when the export began', value: round(startRssMb, 0), unit: 'MB' },
        {
          key: 'wallets.accept.rate',
          label: `accept calls per second through the core (${options.concurrency} at once)`,
          value: round(acceptRate, 0),
          unit: '/s',
          target: { op: '>=', value: 1000 },
        },
        {
          key: 'wallets.accept.trivialRate',
          label: 'SELECT 1 per second through the same ORM and pool, as many at once',
          value: round(trivialRate, 0),
          unit: '/s',
          note: 'the floor: accepts made together share one statement, and book no job (the credit gate finds them)',
        },
      ],
      details: { exportMs, workerMs, baselineMs, acceptMs, bytes: done.bytes, options },
      notes: [
        `export of ${count} rows took ${round(exportMs / 1000, 1)} s (${round((done.bytes ?? 0) / 1048576, 1)} MB file); exceljs alone ${round(baselineMs / 1000, 1)} s`,
        `${options.accepts} accepts, each a new ACCEPTED transaction for the credit gate (no worker running), ${round(acceptMs / 1000, 1)} s`,
      ],
    };
  } finally {
    await app.close();
  }
}
