import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { Client } from 'pg';
import { createApp, loadAppSettings } from '../src/app/app';
import { migrateAll } from '../src/app/processes';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres';
import { freePort } from '../src/platform/free-port';
import { createLogger } from '../src/platform/logger';

/** Unique per run, so runs sharing one PostgreSQL server do not drop each other's template. */
const TEMPLATE_DATABASE = `payouts_test_template_${process.pid}`;
const ROOT = path.resolve(__dirname, '..');

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    templateDatabase: string;
    kafkaBrokers: string | null;
  }
}

/**
 * Once per run: a PostgreSQL (TEST_DATABASE_URL, or an embedded one), a migrated template
 * database every test file clones, and a Kafka broker (KAFKA_BROKERS, or the project's script).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = createLogger('warn');
  let embedded: EmbeddedDatabase | null = null;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: path.join(ROOT, '.data/test'), port: await embeddedTestPort(), database: 'postgres', logger });
    adminUrl = embedded.url;
  }
  await buildTemplate(adminUrl);
  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('templateDatabase', TEMPLATE_DATABASE);

  const kafka = startKafka();
  project.provide('kafkaBrokers', kafka.brokers);

  return async () => {
    await dropDatabase(adminUrl, TEMPLATE_DATABASE);
    if (kafka.startedHere) spawnSync('bash', [path.join(ROOT, 'scripts/kafka.sh'), 'stop', '--dir', kafka.dir], { stdio: 'inherit' });
    await embedded?.stop();
  };
}

/**
 * TEST_EMBEDDED_PG_PORT, or a free port: two checkouts, or a checkout and CI, on one machine never
 * collide. (A server this checkout's folder already runs keeps its port: it is used there.)
 */
export async function embeddedTestPort(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return Number(env.TEST_EMBEDDED_PG_PORT) || freePort();
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

async function buildTemplate(adminUrl: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const settings = loadAppSettings({ NODE_ENV: 'test', LOG_LEVEL: 'warn' });
  const app = await createApp({ settings, logger: createLogger('warn'), databaseUrl: withDatabase(adminUrl, TEMPLATE_DATABASE) });
  try {
    await migrateAll(app);
  } finally {
    await app.close();
  }
}

function startKafka(): { brokers: string | null; startedHere: boolean; dir: string } {
  const dir = path.join(ROOT, '.kafka');
  if (process.env.KAFKA_BROKERS) return { brokers: process.env.KAFKA_BROKERS, startedHere: false, dir };
  // A broker someone else started (another run, or `npm run kafka start`) is used and left running.
  const alreadyRunning = spawnSync('bash', [path.join(ROOT, 'scripts/kafka.sh'), 'status', '--dir', dir]).status === 0;
  // TEST_KAFKA_PORT, or the port this checkout's broker runs on, or a free one (scripts/kafka.sh).
  const port = process.env.TEST_KAFKA_PORT ? ['--port', process.env.TEST_KAFKA_PORT] : [];
  const result = spawnSync('bash', [path.join(ROOT, 'scripts/kafka.sh'), 'start', ...port, '--dir', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const match = /KAFKA_BROKERS=(\S+)/.exec(result.stdout ?? '');
  if (result.status === 0 && match) return { brokers: match[1]!, startedHere: !alreadyRunning, dir };
  const why =
    result.status === 3 ? 'Java or Maven is missing' : result.status === 4 ? 'Maven could not fetch Kafka' : `the broker did not start (exit ${result.status})`;
  if (process.env.REQUIRE_KAFKA === '1') throw new Error(`Kafka is required (REQUIRE_KAFKA=1) but ${why}`);
  const banner = '!'.repeat(78);
  console.warn(`\n${banner}\n!!! KAFKA TESTS SKIPPED: ${why}.\n!!! Install Java 17 and Maven, or set KAFKA_BROKERS.\n${banner}\n`);
  return { brokers: null, startedHere: false, dir };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
