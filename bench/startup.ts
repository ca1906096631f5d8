import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BENCH_JWT_SECRET, dropDatabase, recreateDatabase, withDatabase } from './lib/database';
import { childEnv, freePort, memoryOf, spawnService, waitReady } from './lib/child';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';

interface StartResult {
  readyMs: number;
  /** What the process itself logged as its start-up time (after Node.js loaded the code). */
  inProcessMs: number | null;
  idleRssMb: number;
  stop: { code: number | null; signal: string | null; stopMs: number; killed: boolean };
  /** The embedded PostgreSQL was stopped with the service (its postmaster.pid is gone). */
  postgresStopped: boolean | null;
}

function loggedStartupMs(output: string): number | null {
  for (const line of output.split('\n')) {
    if (!line.includes('"payouts started"')) continue;
    try {
      return (JSON.parse(line) as { startupMs?: number }).startupMs ?? null;
    } catch {
      return null;
    }
  }
  return null;
}

/** If a start went wrong and left its embedded PostgreSQL running, stop that server (ours, by pid). */
function stopLeftoverPostgres(pgDir: string): void {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

async function startOnce(settings: Record<string, string>, pgDir: string | null): Promise<StartResult> {
  const env = childEnv({ ...settings, PORT: String(await freePort()), JWT_SECRET: BENCH_JWT_SECRET, LOG_LEVEL: 'info' });
  const began = performance.now();
  const service = spawnService('start', env);
  try {
    const readyMs = await waitReady(service, began, 120_000);
    await sleep(1500);
    const idleRssMb = memoryOf(service.pid)?.rssMb ?? Number.NaN;
    const stop = await service.stop();
    await sleep(200);
    return {
      readyMs: round(readyMs, 0),
      inProcessMs: loggedStartupMs(service.output()),
      idleRssMb: round(idleRssMb, 1),
      stop: { ...stop, stopMs: round(stop.stopMs, 0) },
      postgresStopped: pgDir ? !existsSync(path.join(pgDir, 'postmaster.pid')) : null,
    };
  } finally {
    await service.stop(5000);
    if (pgDir) stopLeftoverPostgres(pgDir);
  }
}

/**
 * `payouts start` (API, worker, consumers; migrates first) from spawn to `/readyz` = 200, twice:
 * first on a fresh data folder (embedded PostgreSQL's initdb and all migrations), then again on
 * the same folder, as after a restart. Each time it is stopped with SIGTERM and must exit 0.
 */
export async function benchStartup(): Promise<BenchmarkResult> {
  let settings: Record<string, string>;
  let pgDir: string | null = null;
  let cleanup = async () => {};
  let where: string;
  if (process.env.DATABASE_URL) {
    const admin = withDatabase(process.env.DATABASE_URL, 'postgres');
    await recreateDatabase(admin, 'payouts_bench_startup');
    settings = { DATABASE_URL: withDatabase(process.env.DATABASE_URL, 'payouts_bench_startup') };
    cleanup = () => dropDatabase(admin, 'payouts_bench_startup');
    where = 'a fresh database on DATABASE_URL’s server (first start migrates it)';
  } else {
    const dataDir = path.resolve('.data/bench/startup');
    rmSync(dataDir, { recursive: true, force: true });
    pgDir = path.join(dataDir, 'pg');
    // A port free right now unless one is given: a fixed one may be taken by any client's socket.
    const pgPort = Number(process.env.BENCH_STARTUP_PG_PORT || (await freePort()));
    settings = { PAYOUTS_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort) };
    where = `embedded PostgreSQL in a fresh .data/bench/startup; the first start runs initdb and migrations`;
  }

  try {
    const first = await startOnce(settings, pgDir);
    const second = await startOnce(settings, pgDir);
    const cleanStops = [first, second].every((s) => s.stop.code === 0 && !s.stop.killed && s.postgresStopped !== false);
    const slowestStopS = Math.max(first.stop.stopMs, second.stop.stopMs) / 1000;
    return {
      name: 'startup',
      figures: [
        {
          key: 'startup.first',
          label: '`payouts start` to ready, first start',
          value: first.readyMs / 1000,
          unit: 's',
          note: pgDir ? 'fresh data folder: initdb + migrations' : 'fresh database: migrations',
        },
        {
          key: 'startup.second',
          label: '`payouts start` to ready, second start',
          value: second.readyMs / 1000,
          unit: 's',
          target: { op: '<=', value: 5 },
          note: second.inProcessMs !== null ? `${round(second.inProcessMs / 1000, 2)} s of it inside startProcess` : undefined,
        },
        {
          key: 'startup.stop',
          label: 'SIGTERM to a clean exit (code 0)',
          value: cleanStops ? slowestStopS : null,
          unit: 's',
          target: { op: '<=', value: 10 },
          note: cleanStops ? 'slower of the two; embedded PostgreSQL stopped too' : `unclean stop: ${JSON.stringify([first.stop, second.stop])}`,
        },
        {
          key: 'memory.start.idle',
          label: 'RSS of `payouts start`, idle after ready',
          value: second.idleRssMb,
          unit: 'MB',
          target: { op: '<=', value: 300 },
          note: 'the Node.js process; the embedded PostgreSQL is separate',
        },
      ],
      details: { database: where, first, second },
      notes: [
        `Start-up: \`node bin/payouts.js start\` without Kafka, on ${where}; time from spawn until /readyz answers 200 (polled every 25 ms). The service targets the second start (≤ 5 s); the first is reported for what a newcomer waits once.`,
      ],
    };
  } finally {
    await cleanup().catch(() => undefined);
  }
}
