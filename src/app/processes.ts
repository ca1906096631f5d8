import type { FastifyInstance } from 'fastify';
import { startWorker } from '../../workers';
import { jwtSecret, type KernelSettings } from '../platform/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../platform/embedded-postgres';
import { createHttpServer, createOperationsServer } from '../platform/http';
import { migrateJobs } from '../platform/jobs';
import { InboundConsumer, consumerOptions } from '../platform/kafka/consumer';
import { createLogger, type Logger } from '../platform/logger';
import { boundedRefresh } from '../platform/metrics-refresh';
import { migrate, pendingMigrations } from '../platform/orm';
import type { AnyModule } from '../platform/modules';
import { callbacksModule } from '../callbacks/module';
import { createCallbackServer } from '../callbacks/server';
import { walletsModule } from '../wallets/module';
import { createApp, loadAppSettings, type App } from './app';
import { MODULES } from './modules';

export interface Roles {
  api: boolean;
  worker: boolean;
  consumers: boolean;
  /** The payment systems' callbacks (the external API) on CALLBACK_PORT. */
  callbacks?: boolean;
  /** Apply migrations before starting (the all-in-one `start` does). */
  migrate: boolean;
}

export interface RunningProcess {
  app: App;
  /** `/healthz`, `/readyz`, `/metrics`, and `/graphql` in a process with the api role (the callback server in a callbacks-only process). */
  http: FastifyInstance;
  url: string;
  /** The callback server's URL in a process with the callbacks role, else null. */
  callbackUrl: string | null;
  stop(): Promise<void>;
}

/** The database to use: DATABASE_URL, or an embedded PostgreSQL under the data folder. */
export async function openDatabase(settings: KernelSettings, logger: Logger): Promise<{ url: string; embedded: EmbeddedDatabase | null }> {
  if (settings.DATABASE_URL) return { url: settings.DATABASE_URL, embedded: null };
  const embedded = await startEmbeddedPostgres({
    dataDir: settings.PAYOUTS_DATA_DIR,
    port: settings.EMBEDDED_PG_PORT,
    database: 'payouts',
    logger,
  });
  return { url: embedded.url, embedded };
}

export async function migrateAll(app: App): Promise<string[]> {
  const applied = await migrate(app.orm);
  await migrateJobs(app.pgPool, app.logger);
  return applied;
}

/** Starts the chosen roles in this process and stops them gracefully, in reverse, on `stop()`. */
export async function startProcess(roles: Roles, env: NodeJS.ProcessEnv = process.env, modules: readonly AnyModule[] = MODULES): Promise<RunningProcess> {
  const startedAt = performance.now();
  const settings = loadAppSettings(env, modules);
  const logger = createLogger(settings.kernel.LOG_LEVEL, { format: settings.kernel.LOG_FORMAT });
  const database = await openDatabase(settings.kernel, logger);
  const app = await createApp({ settings, logger, databaseUrl: database.url, connectProducer: roles.worker, modules });
  const stops: (() => Promise<unknown>)[] = [async () => app.close(), async () => database.embedded?.stop()];

  try {
    if (roles.migrate) {
      const applied = await migrateAll(app);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    }

    if (roles.worker) {
      const worker = await startWorker(app);
      stops.unshift(() => worker.stop());
    }

    let consumer: InboundConsumer | null = null;
    if (roles.consumers && app.kafka) {
      consumer = new InboundConsumer(app.kafka, app.inbound, app.metrics, logger.child({ component: 'consumer' }), consumerOptions(app.settings));
      await consumer.start();
      const activeConsumer = consumer;
      stops.unshift(() => activeConsumer.stop());
    }

    // Every process answers probes and scrapes; only the api role serves GraphQL, on PORT.
    const operations = {
      logger,
      metrics: app.metrics,
      orm: app.orm,
      readiness: async () => {
        const problems: string[] = [];
        const pending = await pendingMigrations(app.orm);
        if (pending.length > 0) problems.push(`migrations pending: ${pending.join(', ')}`);
        if (consumer && !consumer.isJoined()) problems.push('kafka consumers not joined');
        return problems;
      },
      // One bound for the process: in `start` the API's port and the callback port share it.
      beforeScrape: boundedRefresh(() => app.scrape(), { minIntervalMs: app.settings.METRICS_REFRESH_MIN_INTERVAL, logger }),
    };
    let callbackUrl: string | null = null;
    let callbackServer: FastifyInstance | null = null;
    if (roles.callbacks) {
      // Its own server on its own port: nothing of the internal API is reachable there.
      const { dispatcher, settings, metrics } = app.use(callbacksModule);
      // Links resolved lately are kept while PostgreSQL can tell this process that one changed.
      const { resolved } = app.use(walletsModule).links;
      await resolved.watch(app.databaseUrl, logger.child({ component: 'link-cache' }));
      stops.unshift(() => resolved.stop());
      callbackServer = createCallbackServer(dispatcher, settings, metrics, operations);
      callbackUrl = await callbackServer.listen({ port: settings.CALLBACK_PORT, host: app.settings.HOST });
      const server = callbackServer;
      stops.unshift(() => server.close());
    }

    let http: FastifyInstance;
    if (callbackServer && !roles.api && !roles.worker && !roles.consumers) {
      http = callbackServer;
    } else if (roles.api) {
      // Without a secret no token can be checked: refuse to serve rather than refuse every request.
      jwtSecret(app.settings);
      http = await createHttpServer({
        ...operations,
        settings: app.settings,
        schema: await app.graphqlSchema(),
        loaders: app.loaders,
        routes: app.routes,
        authenticate: (authorization) => app.authenticate(authorization),
        introspection: app.settings.GRAPHQL_INTROSPECTION,
        explorer: app.settings.GRAPHQL_EXPLORER,
      });
      if (app.settings.GRAPHQL_EXPLORER && !app.settings.GRAPHQL_INTROSPECTION) {
        logger.warn('GRAPHQL_EXPLORER is on and GRAPHQL_INTROSPECTION off: GraphiQL runs queries but shows no schema');
      }
    } else {
      http = createOperationsServer(operations);
    }
    let url = callbackUrl ?? '';
    if (http !== callbackServer) {
      url = await http.listen({ port: roles.api ? app.settings.PORT : app.settings.WORKER_PORT, host: app.settings.HOST });
      const server = http;
      // Stop taking requests first; in-flight ones finish before the rest shuts down.
      stops.unshift(() => server.close());
    }

    logger.info(
      { roles, url, callbackUrl, kafka: Boolean(app.kafka), modules: app.modules.map((m) => m.name), startupMs: Math.round(performance.now() - startedAt) },
      'payouts started',
    );
    let stopping: Promise<void> | null = null;
    return {
      app,
      http,
      url,
      callbackUrl,
      stop() {
        stopping ??= (async () => {
          for (const stop of stops) {
            await stop().catch((err) => logger.warn({ err }, 'error while stopping'));
          }
          logger.info('payouts stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const stop of stops) await stop().catch(() => undefined);
    throw error;
  }
}
