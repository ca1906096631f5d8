import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { payeeRef, type Payee } from '../../src/access/payee';
import { claimsPolicy, type Role } from '../../src/access/principals';
import { createApp, loadAppSettings, topicSettingDefaults, type App } from '../../src/app/app';
import { startProcess, type Roles, type RunningProcess } from '../../src/app/processes';
import { TokenService } from '../../src/platform/auth';
import { createLogger } from '../../src/platform/logger';
import type { AnyModule } from '../../src/platform/modules';
import { createTestDatabase } from './database';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface TestEnvOptions {
  /** Connect to the test Kafka broker, with topics and a consumer group unique to this test. */
  kafka?: boolean;
  env?: Record<string, string>;
  /** Build only these modules (and the test's own), instead of the service's. */
  modules?: readonly AnyModule[];
}

export function kafkaBrokers(): string | null {
  return inject('kafkaBrokers');
}

/** Settings for a test: its own database, and with Kafka its own topic names and group. */
export function testEnv(databaseUrl: string, options: TestEnvOptions = {}): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    WORKER_PORT: '0',
    CALLBACK_PORT: '0',
    JWT_SECRET: TEST_JWT_SECRET,
    // Tests scrape right after changing the database; a test of the bound sets its own.
    METRICS_REFRESH_MIN_INTERVAL: '0ms',
  };
  if (options.kafka) {
    const brokers = kafkaBrokers();
    if (!brokers) throw new Error('Kafka is not available for this run');
    const suffix = randomBytes(4).toString('hex');
    Object.assign(env, {
      KAFKA_BROKERS: brokers,
      KAFKA_GROUP_ID: `payouts-test-${suffix}`,
      KAFKA_CLIENT_ID: `payouts-test-${suffix}`,
      ...Object.fromEntries(Object.entries(topicSettingDefaults()).map(([name, topic]) => [name, `${topic}-${suffix}`])),
    });
  }
  return { ...env, ...options.env };
}

export interface TestApp {
  app: App;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The services on a fresh database, without HTTP or workers: for testing services directly. */
export async function createTestApp(options: TestEnvOptions = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const env = testEnv(database.url, options);
  const settings = loadAppSettings(env, options.modules);
  const app = await createApp({
    settings,
    logger: createLogger(settings.kernel.LOG_LEVEL),
    databaseUrl: database.url,
    connectProducer: Boolean(options.kafka),
    modules: options.modules,
  });
  return {
    app,
    env,
    async close() {
      await app.close();
      await database.drop();
    },
  };
}

export interface TestServer {
  running: RunningProcess;
  app: App;
  url: string;
  /** The callback server's URL when the process has the callbacks role, else null. */
  callbackUrl: string | null;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A real process (API, and optionally workers and consumers) on a fresh database and a free port. */
export async function startTestServer(
  roles: Partial<Roles> = {},
  options: TestEnvOptions = {},
): Promise<TestServer> {
  const database = await createTestDatabase();
  const env = testEnv(database.url, options);
  const running = await startProcess({ api: true, worker: false, consumers: false, migrate: false, ...roles }, env, options.modules);
  return {
    running,
    app: running.app,
    url: running.url!,
    callbackUrl: running.callbackUrl,
    env,
    async close() {
      await running.stop();
      await database.drop();
    },
  };
}

export function tokenFor(role: Role, payees: Payee[] = [], ttl = '1h'): string {
  return new TokenService(TEST_JWT_SECRET, claimsPolicy).sign({ subject: `test-${role}`, role, scopes: payees.map(payeeRef), ttl });
}
