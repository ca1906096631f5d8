import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createApp, loadAppSettings, type App } from '../../src/app/app';
import { createLogger } from '../../src/platform/logger';
import { TEST_JWT_SECRET, testEnv } from './app';
import { waitFor } from './kafka';
import { createTestDatabase } from './database';
import { afterAll, beforeAll } from 'vitest';

/** `payouts worker` as a child process of its own, to be killed or raced against another. */
const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/payouts.js');

/** The child processes run the built program: build it once before starting any. */
export function buildProgram(): void {
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
}

/** The services on a database a worker process also uses: to seed it and look at it. */
export async function servicesOn(databaseUrl: string): Promise<App> {
  const settings = loadAppSettings(testEnv(databaseUrl));
  return createApp({ settings, logger: createLogger(settings.kernel.LOG_LEVEL), databaseUrl });
}

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  output(): string;
  /** How many log lines carry this message (`msg` of a pino line). */
  logged(message: string): number;
  /** Waits until the worker says it has started; false if it did not in time or died. */
  started(): Promise<boolean>;
}

const running = new Set<ChildProcess>();

/** Starts `payouts worker` on the database, without Kafka, logging at info to its own output, serving its probes on a free port. */
export function startWorkerProcess(databaseUrl: string, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info', KAFKA_BROKERS: '', WORKER_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const logged = (message: string) => output.split('\n').filter((line) => line.includes(`"msg":${JSON.stringify(message)}`)).length;
  return {
    child,
    exited,
    output: () => output,
    logged,
    started: async () =>
      (await waitFor(async () => (child.exitCode !== null ? -1 : logged('payouts started')), (n) => n !== 0)) === 1,
  };
}

/** Kills whatever a test left running (a failed assertion before its own cleanup). */
export function killStrayWorkers(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * A fresh database for tests that run `payouts worker` processes on it, with the services on it to
 * seed and inspect it (`app`): the program is built first; workers left running are killed after.
 */
export function useWorkerDatabase(): { readonly url: string; readonly app: App } {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  let app: App | null = null;
  beforeAll(async () => {
    buildProgram();
    database = await createTestDatabase();
    app = await servicesOn(database.url);
  });
  afterAll(async () => {
    killStrayWorkers();
    await app?.close();
    await database?.drop();
  });
  return {
    get url() {
      return database!.url;
    },
    get app() {
      return app!;
    },
  };
}
