import type { FastifyInstance } from 'fastify';
import type { Runner } from 'graphile-worker';
import { GATES, crontab, taskList } from '../workers';
import { createApp, type App } from './app';
import { loadSettings, type Settings } from './platform/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './platform/embedded-postgres';
import { createHttpServer } from './platform/http';
import { migrateJobs, startJobRunner } from './platform/jobs';
import { InboundConsumer, consumerOptions } from './platform/kafka/consumer';
import { createLogger, type Logger } from './platform/logger';
import { migrate, pendingMigrations } from './platform/orm';
import { OutboxPoller } from './platform/outbox/poller';

export interface Roles {
  api: boolean;
  worker: boolean;
  consumers: boolean;
  /** Apply migrations before starting (the all-in-one `start` does). */
  migrate: boolean;
}

export interface RunningProcess {
  app: App;
  http: FastifyInstance | null;
  url: string | null;
  stop(): Promise<void>;
}

/** The database to use: DATABASE_URL, or an embedded PostgreSQL under the data folder. */
export async function openDatabase(settings: Settings, logger: Logger): Promise<{ url: string; embedded: EmbeddedDatabase | null }> {
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
export async function startProcess(roles: Roles, env: NodeJS.ProcessEnv = process.env): Promise<RunningProcess> {
  const startedAt = performance.now();
  const settings = loadSettings(env);
  const logger = createLogger(settings.LOG_LEVEL);
  const database = await openDatabase(settings, logger);
  const app = await createApp({ settings, logger, databaseUrl: database.url, connectProducer: roles.worker });
  const stops: (() => Promise<unknown>)[] = [async () => app.close(), async () => database.embedded?.stop()];

  try {
    if (roles.migrate) {
      const applied = await migrateAll(app);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    }

    let runner: Runner | null = null;
    if (roles.worker) {
      runner = await startJobRunner({
        pgPool: app.pgPool,
        taskList: taskList(app),
        crontab: crontab(),
        concurrency: settings.WORKER_CONCURRENCY,
        localQueue: settings.WORKER_LOCAL_QUEUE,
        logger,
        metrics: app.metrics,
      });
      const activeRunner = runner;
      stops.unshift(() => activeRunner.stop());
      // Without Kafka nothing can be published: the outbox waits, and polling it is waste.
      if (app.producer) {
        const poller = new OutboxPoller(() => app.outbox.drain(), logger.child({ component: 'outbox' }), settings.OUTBOX_POLL_INTERVAL);
        poller.start();
        stops.splice(1, 0, () => poller.stop());
      }
      for (const gate of GATES) await activeRunner.addJob(gate, {}, { jobKey: gate, jobKeyMode: 'replace' });
      await activeRunner.addJob('shop__rebook_overdue', {}, { jobKey: 'shop__rebook_overdue', jobKeyMode: 'replace' });
    }

    let consumer: InboundConsumer | null = null;
    if (roles.consumers && app.kafka) {
      consumer = new InboundConsumer(app.kafka, app.inbound, app.metrics, logger.child({ component: 'consumer' }), consumerOptions(settings));
      await consumer.start();
      const activeConsumer = consumer;
      stops.unshift(() => activeConsumer.stop());
    }

    let http: FastifyInstance | null = null;
    let url: string | null = null;
    if (roles.api) {
      http = await createHttpServer(app, {
        readiness: async () => {
          const problems: string[] = [];
          const pending = await pendingMigrations(app.orm);
          if (pending.length > 0) problems.push(`migrations pending: ${pending.join(', ')}`);
          if (consumer && !consumer.isJoined()) problems.push('kafka consumers not joined');
          return problems;
        },
        beforeScrape: async () => {
          const rows = await app.orm.em.fork().execute<{ status: string; count: string }[]>(
            'SELECT status, count(*) AS count FROM payout GROUP BY status',
          );
          app.metrics.payoutsByStatus.reset();
          for (const row of rows) app.metrics.payoutsByStatus.set({ status: row.status }, Number(row.count));
          const [overdue] = await app.orm.em.fork().execute<{ count: string }[]>(
            `SELECT count(*) AS count FROM shop WHERE next_fire_at < now() - interval '1 minute'`,
          );
          app.metrics.shopsOverdue.set(Number(overdue!.count));
        },
      });
      url = await http.listen({ port: settings.PORT, host: settings.HOST });
      const server = http;
      // Stop taking requests first; in-flight ones finish before the rest shuts down.
      stops.unshift(() => server.close());
    }

    logger.info(
      { roles, url, kafka: Boolean(app.kafka), startupMs: Math.round(performance.now() - startedAt) },
      'payouts started',
    );
    let stopping: Promise<void> | null = null;
    return {
      app,
      http,
      url,
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
