import path from 'node:path';
import { Client } from 'pg';
import { createApp, loadAppSettings } from '../../src/app/app';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres';
import { createLogger } from '../../src/platform/logger';
import { migrateAll } from '../../src/app/processes';
import { freePort, postgresCpuMs, postmasterPidOf } from './child';

export const BENCH_JWT_SECRET = 'bench-secret-bench-secret-bench-secret-01';
export { BENCH_WALLET_KEYS } from './child';

export interface BenchDatabase {
  /** Where the server came from: DATABASE_URL, BENCH_DATABASE_URL or an embedded PostgreSQL. */
  source: 'DATABASE_URL' | 'BENCH_DATABASE_URL' | 'embedded';
  /** The fresh database this run works in. */
  url: string;
  server: ServerDescription;
  close(): Promise<void>;
}

export interface ServerDescription {
  version: string;
  settings: Record<string, string>;
}

/** Settings of the server that change write and read speed, recorded next to the figures. */
const REPORTED_SETTINGS = ['max_connections', 'shared_buffers', 'fsync', 'synchronous_commit', 'wal_level', 'work_mem'];

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * The server to measure on: DATABASE_URL if set, else BENCH_DATABASE_URL (the machine's
 * PostgreSQL), else an embedded PostgreSQL under .data/bench. A fresh database is created on it
 * for each run and migrated, so figures never depend on what an earlier run left behind.
 */
export async function openBenchDatabase(): Promise<BenchDatabase> {
  const name = process.env.BENCH_DATABASE_NAME ?? 'payouts_bench';
  const logger = createLogger('warn');
  let serverUrl: string;
  let source: BenchDatabase['source'];
  let stopServer = async () => {};
  if (process.env.DATABASE_URL) {
    [serverUrl, source] = [process.env.DATABASE_URL, 'DATABASE_URL'];
  } else if (process.env.BENCH_DATABASE_URL) {
    [serverUrl, source] = [process.env.BENCH_DATABASE_URL, 'BENCH_DATABASE_URL'];
  } else {
    const embedded = await startEmbeddedPostgres({
      dataDir: path.resolve('.data/bench'),
      port: Number(process.env.BENCH_EMBEDDED_PG_PORT || (await freePort())),
      database: 'postgres',
      logger,
    });
    [serverUrl, source, stopServer] = [embedded.url, 'embedded', () => embedded.stop()];
  }

  try {
    const adminUrl = withDatabase(serverUrl, 'postgres');
    await recreateDatabase(adminUrl, name);
    const url = withDatabase(serverUrl, name);
    await migrate(url);
    const server = await describeServer(url);
    return {
      source,
      url,
      server,
      async close() {
        if (process.env.BENCH_KEEP_DATABASE !== '1') await dropDatabase(adminUrl, name).catch(() => undefined);
        await stopServer();
      },
    };
  } catch (error) {
    await stopServer();
    throw error;
  }
}

export async function recreateDatabase(adminUrl: string, name: string): Promise<void> {
  await dropDatabase(adminUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * Another fresh, migrated database on the same server as `database`, for a benchmark whose figures
 * must not depend on what the others left behind (e.g. their CREATED payouts in a sender's queue).
 */
export async function openSiblingDatabase(database: BenchDatabase, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = withDatabase(database.url, 'postgres');
  await recreateDatabase(adminUrl, name);
  const url = withDatabase(database.url, name);
  await migrate(url);
  return {
    url,
    async drop() {
      if (process.env.BENCH_KEEP_DATABASE !== '1') await dropDatabase(adminUrl, name).catch(() => undefined);
    },
  };
}

/** Our migrations and graphile-worker's, exactly as `payouts migrate` applies them. */
async function migrate(url: string): Promise<void> {
  const settings = loadAppSettings({ DATABASE_URL: url, LOG_LEVEL: 'warn', JWT_SECRET: BENCH_JWT_SECRET });
  const app = await createApp({ settings, logger: createLogger('warn'), databaseUrl: url });
  try {
    await migrateAll(app);
  } finally {
    await app.close();
  }
}

export async function describeServer(url: string): Promise<ServerDescription> {
  return withClient(url, async (client) => {
    const version = await client.query<{ version: string }>('SELECT version()');
    const settings = await client.query<{ name: string; setting: string }>(
      'SELECT name, current_setting(name) AS setting FROM unnest($1::text[]) AS name',
      [REPORTED_SETTINGS],
    );
    return {
      version: version.rows[0]!.version.replace(/ on .*$/, '').replace(/,.*$/, ''),
      settings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
    };
  });
}

export async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A reader of the database server's CPU time so far (ms), when it runs on this machine (null otherwise). */
export async function postgresCpu(databaseUrl: string): Promise<() => number | null> {
  // Asked while the session lives: its backend process exits when the session ends.
  const postmaster = await withClient(databaseUrl, async (db) =>
    postmasterPidOf((await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid),
  );
  return () => (postmaster === null ? null : postgresCpuMs(postmaster));
}

/**
 * Gathers the statistics of every table, as autovacuum does in a running service within a minute
 * of a table's first rows. Sessions that planned their statements while a table was empty replan
 * then; until they do, those plans scan the table whole, dearer with every row a run adds
 * (`bench/README.md`, "Plans made on empty tables"). Run it after seeding, and after a warm-up that
 * made a table's first rows.
 */
export async function gatherStatistics(url: string): Promise<void> {
  await withClient(url, (db) => db.query('ANALYZE'));
}
