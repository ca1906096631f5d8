import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { TaskList } from 'graphile-worker';
import type { GraphQLSchema } from 'graphql';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { migrationsList } from '../../migrations';
import { claimsPolicy } from '../access/principals';
import { TokenService, type Principal } from '../platform/auth';
import { jwtSecret, loadSettings, type KernelSettings } from '../platform/config';
import type { ApiRoute } from '../platform/http';
import { loaderProviders, type LoaderKey, type LoaderProvider } from '../platform/graphql/loaders';
import { recordMutations } from '../platform/graphql/recorded-mutations';
import { buildGraphqlSchema } from '../platform/graphql/schema';
import { findViolations } from '../platform/invariants';
import { JobQueue, renderCrontab, type StartupJob } from '../platform/jobs';
import { DeadLetterService, showOpenDeadLetters } from '../platform/kafka/dead-letters';
import { InboundProcessor } from '../platform/kafka/inbound-processor';
import { createKafka, createProducer, ensureTopics, parseBrokers, type Kafka, type Producer } from '../platform/kafka/kafka-client';
import type { Logger } from '../platform/logger';
import { createKernelMetrics, type KernelMetrics } from '../platform/metrics';
import { buildModules, type AnyModule, type BuiltModule, type Kernel, type Module, type ResolverClass, type Violation } from '../platform/modules';
import { initORM } from '../platform/orm';
import { OutboxPublisher } from '../platform/outbox/publisher';
import { MODULES } from './modules';

/** The kernel's settings and every module's slice, validated together. */
export interface AppSettings {
  kernel: KernelSettings;
  /** Each module's parsed slice, by module name. */
  modules: ReadonlyMap<string, unknown>;
}

/** Reads and validates every setting of the kernel and the modules at once (a ConfigError names each bad one). */
export function loadAppSettings(env: NodeJS.ProcessEnv = process.env, modules: readonly AnyModule[] = MODULES): AppSettings {
  const slices = modules.flatMap((module) => (module.settings ? [{ name: module.name, schema: module.settings }] : []));
  const { kernel, slices: parsed } = loadSettings(env, slices);
  return { kernel, modules: parsed };
}

/**
 * Every topic setting of the modules (`TOPIC_*`) with its default name: what a test or benchmark
 * renames to topics of its own, so that a topic added by a module is never left on its default.
 */
export function topicSettingDefaults(modules: readonly AnyModule[] = MODULES): Record<string, string> {
  const topics: Record<string, string> = {};
  for (const module of modules) {
    const defaults = module.settings?.safeParse({});
    if (!defaults?.success) continue;
    for (const [name, value] of Object.entries(defaults.data as Record<string, unknown>)) {
      if (name.startsWith('TOPIC_') && typeof value === 'string') topics[name] = value;
    }
  }
  return topics;
}

/** Everything a process needs, built once from the modules: the composition root of the service. */
export interface App {
  settings: KernelSettings;
  logger: Logger;
  metrics: KernelMetrics;
  orm: MikroORM;
  /** A plain pg pool for graphile-worker, which brings its own queries. */
  pgPool: Pool;
  databaseUrl: string;
  jobs: JobQueue;
  inbound: InboundProcessor;
  deadLetters: DeadLetterService;
  outbox: OutboxPublisher;
  kafka: Kafka | null;
  producer: Producer | null;
  modules: readonly AnyModule[];
  /** A module's services. */
  use<S>(module: Module<S, any, any>): S;
  /** A module's settings slice. */
  settingsOf<C>(module: Module<any, C, any>): C;
  /** The GraphQL schema from every module's resolvers, built on first use. */
  graphqlSchema(): Promise<GraphQLSchema>;
  loaders: ReadonlyMap<LoaderKey<any, any>, LoaderProvider>;
  /** The modules' HTTP routes beside `/graphql`. */
  routes: readonly ApiRoute[];
  /** The worker's tasks, crontab and start-up jobs, from every module. */
  worker: { taskList: TaskList; crontab: string; startupJobs: StartupJob[] };
  /** The caller a bearer token names (UNAUTHENTICATED when it names none). */
  authenticate(authorization: string | undefined): Principal;
  /** Every invariant of every module: an empty list means the books hold. */
  checkLedger(em?: EntityManager): Promise<Violation[]>;
  /** Refreshes the gauges read from the database (before a `/metrics` scrape). */
  scrape(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  settings: AppSettings;
  logger: Logger;
  databaseUrl: string;
  /** Connect a Kafka producer for the outbox (processes that publish). */
  connectProducer?: boolean;
  /** The modules to build; all of them unless a test says otherwise. */
  modules?: readonly AnyModule[];
}

export async function createApp({ settings, logger, databaseUrl, connectProducer = false, modules = MODULES }: CreateAppOptions): Promise<App> {
  const kernelSettings = settings.kernel;
  const registry = new Registry();
  const metrics = createKernelMetrics(registry);
  const orm = await initORM({
    databaseUrl,
    poolMax: kernelSettings.DATABASE_POOL_MAX,
    entities: modules.flatMap((module) => module.entities ?? []),
    migrations: migrationsList,
    logger,
  });
  const pgPool = new Pool({ connectionString: databaseUrl, max: Math.max(4, kernelSettings.WORKER_CONCURRENCY + 2) });
  pgPool.on('error', (err) => logger.warn({ err }, 'idle pg connection error'));
  pgPool.on('connect', (client) => client.on('error', (err) => logger.warn({ err }, 'pg connection error')));

  const inbound = new InboundProcessor(orm, metrics, logger.child({ component: 'inbound' }));
  const deadLetters = new DeadLetterService(orm, inbound);
  const jobs = new JobQueue();
  const kernel: Kernel = { settings: kernelSettings, logger, orm, pgPool, jobs, deadLetters };
  const built = buildModules(modules, { kernel, registry, settingsOf: (module) => settings.modules.get(module.name) });
  const parts = [...built.values()];
  const each = <T>(hook: (part: BuiltModule<any, any, any>) => readonly T[] | undefined) => parts.flatMap((part) => hook(part) ?? []);

  for (const handler of each((part) => part.module.inbound?.(part))) inbound.register(handler);

  let kafka: Kafka | null = null;
  let producer: Producer | null = null;
  if (kernelSettings.KAFKA_BROKERS) {
    kafka = createKafka(parseBrokers(kernelSettings.KAFKA_BROKERS), kernelSettings.KAFKA_CLIENT_ID, logger);
    const topics = [...inbound.topics(), ...each((part) => part.module.outboundTopics?.(part))];
    if (kernelSettings.KAFKA_CREATE_TOPICS) await ensureTopics(kafka, topics);
    if (connectProducer) producer = await createProducer(kafka);
  }
  const outbox = new OutboxPublisher(orm, producer, metrics, logger.child({ component: 'outbox' }), kernelSettings.OUTBOX_BATCH_SIZE);

  const resolverServices = new Map<ResolverClass<unknown>, unknown>();
  for (const part of parts) for (const resolver of part.module.resolvers ?? []) resolverServices.set(resolver, part.services);
  const resolvers = new Map<ResolverClass<unknown>, object>();
  let schema: Promise<GraphQLSchema> | null = null;
  const invariants = each((part) => part.module.invariants?.(part));
  const scrapers = parts.flatMap((part) => (part.module.scrape ? [part.module.scrape(part)] : []));
  let tokens: TokenService | null = null;
  const recorders = each((part) => (part.module.recordsMutations ? [part.module.recordsMutations(part)] : []));
  if (recorders.length > 1) throw new Error('more than one module records mutations');

  const taskList: TaskList = {};
  for (const part of parts) {
    for (const [name, task] of Object.entries(part.module.tasks?.(part) ?? {})) {
      if (name in taskList) throw new Error(`two modules define the task ${name}`);
      taskList[name] = task;
    }
  }

  return {
    settings: kernelSettings,
    logger,
    metrics,
    orm,
    pgPool,
    databaseUrl,
    jobs,
    inbound,
    deadLetters,
    outbox,
    kafka,
    producer,
    modules,
    use: (module) => builtPart(built, module).services,
    settingsOf: (module) => builtPart(built, module).settings,
    graphqlSchema() {
      schema ??= buildGraphqlSchema({
        resolvers: [...resolverServices.keys()],
        // Each resolver is built once, with its module's services.
        container: {
          get(resolver: ResolverClass<unknown>) {
            let instance = resolvers.get(resolver);
            if (!instance) {
              instance = new resolver(resolverServices.get(resolver));
              resolvers.set(resolver, instance);
            }
            return instance;
          },
        },
      }).then((built) => (recorders[0] ? recordMutations(built, recorders[0], logger.child({ component: 'graphql' })) : built));
      return schema;
    },
    loaders: loaderProviders(each((part) => part.module.loaders?.(part))),
    routes: each((part) => part.module.routes?.(part)),
    worker: {
      taskList,
      crontab: renderCrontab(each((part) => part.module.cron?.(part))),
      startupJobs: each((part) => part.module.startupJobs?.(part)),
    },
    authenticate(authorization) {
      tokens ??= new TokenService(jwtSecret(kernelSettings), claimsPolicy, { maxTtl: kernelSettings.JWT_MAX_TTL });
      return tokens.authenticate(authorization);
    },
    checkLedger: (em = orm.em.fork()) => findViolations(em, invariants),
    async scrape() {
      // From the table, not this process's counter: dead letters of other processes and of a CLI ingest count too.
      await showOpenDeadLetters(metrics.deadLettersUnresolved, await deadLetters.openCounts());
      for (const refresh of scrapers) await refresh(orm.em.fork());
    },
    async close() {
      await producer?.disconnect();
      await pgPool.end();
      await orm.close();
    },
  };
}

function builtPart(built: Map<AnyModule, BuiltModule<any, any, any>>, module: AnyModule): BuiltModule<any, any, any> {
  const part = built.get(module);
  if (!part) throw new Error(`module "${module.name}" is not part of this app`);
  return part;
}

/** The crontab the modules bring, with their default settings (the checked-in view `workers/crontab`). */
export function defaultCrontab(modules: readonly AnyModule[] = MODULES): string {
  const settings = loadAppSettings({}, modules);
  return renderCrontab(modules.flatMap((module) => module.cron?.({ settings: settings.modules.get(module.name) }) ?? []));
}
