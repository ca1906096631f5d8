import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { KernelSettings } from './config';
import type { LoaderProvider } from './graphql/loaders';
import type { MutationRecorder } from './graphql/recorded-mutations';
import type { ApiRoute } from './http';
import type { CronItem, JobQueue, StartupJob } from './jobs';
import type { DeadLetterService } from './kafka/dead-letters';
import type { InboundHandler } from './kafka/inbound';
import type { Logger } from './logger';

/** What every module may use of the kernel: its settings, the database, the job queue, the logger. */
export interface Kernel {
  settings: KernelSettings;
  logger: Logger;
  orm: MikroORM;
  /** A plain pg pool (graphile-worker's, and session-level advisory locks). */
  pgPool: Pool;
  jobs: JobQueue;
  /** Inbound messages that could not be applied. */
  deadLetters: DeadLetterService;
}

/** A resolver class gets its module's services in its constructor (the schema's container builds it). */
export type ResolverClass<S> = new (services: S) => object;

/** One rule of `payouts ledger check`: it names the rows that break it, none when the books hold. */
export interface Invariant {
  rule: string;
  violations(em: EntityManager): Promise<Record<string, unknown>[]>;
}

export interface Violation {
  rule: string;
  detail: string;
}

/** Services of a module listed in `requires` (created before the one asking). */
export type Use = <T>(module: Module<T, any, any>) => T;

/** What a module's `create` gets: its settings and metrics, the kernel, and the services of modules it requires. */
export interface ModuleKit<C, M> {
  settings: C;
  metrics: M;
  kernel: Kernel;
  logger: Logger;
  use: Use;
}

/**
 * A module descriptor: everything one domain folder brings to the process. The composition root
 * lists the modules; the kernel builds the process from what they give: the ORM from `entities`,
 * the GraphQL schema from `resolvers`, the consumers from `inbound`, the worker from `tasks` and
 * `cron`, the settings from each module's `settings` slice. Only `name` and `create` are required.
 */
export interface ModuleDefinition<S, C, M> {
  /** Unique; names the module in errors and in the ledger check. */
  name: string;
  /** Modules whose services this one uses; they are created first. No loops. */
  requires?: readonly Module<any, any, any>[];
  /** Its slice of the environment: validated with every other slice at start-up. */
  settings?: z.ZodType<C>;
  /**
   * The tables it owns: only its own code reads or writes them; other modules go through its
   * services (or its SQL functions, from their own SQL). test/architecture.test.ts holds the code to it.
   */
  tables?: readonly string[];
  /** Its MikroORM entity classes (most tables are reached with SQL and need none). */
  entities?: readonly (new (...args: any[]) => object)[];
  /** Prometheus metrics, registered once per process. */
  metrics?: (registry: Registry) => M;
  /** Builds the module's services, once per process. */
  create(kit: ModuleKit<C, M>): S;
  /** Resolver classes; each is constructed with the services. */
  resolvers?: readonly ResolverClass<S>[];
  /**
   * Keeps a record of every GraphQL mutation of every module, in the mutation's transaction (the
   * audit log). At most one module brings it.
   */
  recordsMutations?: (parts: ModuleParts<S, C, M>) => MutationRecorder;
  /** Per-request DataLoaders other resolvers can ask for by key. */
  loaders?: (parts: ModuleParts<S, C, M>) => readonly LoaderProvider[];
  /** Its HTTP routes on the API beside `/graphql` (e.g. a download), behind the bearer token. */
  routes?: (parts: ModuleParts<S, C, M>) => readonly ApiRoute[];
  /** Handlers of the topics it consumes. */
  inbound?: (parts: ModuleParts<S, C, M>) => readonly InboundHandler<any>[];
  /** Topics it publishes to (through the outbox), so they exist before the first message. */
  outboundTopics?: (parts: { settings: C }) => readonly string[];
  /** graphile-worker tasks by name, `entity__action`. */
  tasks?: (parts: ModuleParts<S, C, M>) => Record<string, Task<any>>;
  /** Crontab lines for its tasks. */
  cron?: (parts: { settings: C }) => readonly CronItem[];
  /** Jobs booked when a worker starts (a gate's first run, a recovery sweep). */
  startupJobs?: (parts: { settings: C }) => readonly StartupJob[];
  /** Refreshes gauges read from the database, at each `/metrics` scrape. */
  scrape?: (parts: ModuleParts<S, C, M>) => (em: EntityManager) => Promise<void>;
  /** Its part of `payouts ledger check` (checked through the required modules' services, never their tables). */
  invariants?: (parts: ModuleParts<S, C, M>) => readonly Invariant[];
}

/** A built module's parts, handed to its descriptor's hooks. */
export interface ModuleParts<S, C, M> {
  services: S;
  settings: C;
  metrics: M;
  use: Use;
  kernel: Kernel;
  /** The module's own logger (`module` names it in every line). */
  logger: Logger;
}

/** A descriptor with its services, settings and metrics types attached. */
export type Module<S = unknown, C = unknown, M = unknown> = ModuleDefinition<S, C, M> & { readonly kind: 'module' };

export type AnyModule = Module<any, any, any>;

/** Declares a module; the types of its services, settings and metrics are inferred. */
export function defineModule<S, C = Record<string, never>, M = Record<string, never>>(
  definition: ModuleDefinition<S, C, M>,
): Module<S, C, M> {
  return { ...definition, kind: 'module' };
}

/**
 * The modules in an order where each comes after those it requires. A required module missing
 * from the list, a duplicate name or a loop is a programming error, reported at start-up.
 */
export function inDependencyOrder(modules: readonly AnyModule[]): AnyModule[] {
  const names = new Set<string>();
  for (const module of modules) {
    if (names.has(module.name)) throw new Error(`module "${module.name}" is listed twice`);
    names.add(module.name);
  }
  const ordered: AnyModule[] = [];
  const state = new Map<AnyModule, 'visiting' | 'done'>();
  const visit = (module: AnyModule, path: string[]) => {
    if (state.get(module) === 'done') return;
    if (state.get(module) === 'visiting') throw new Error(`modules require each other in a loop: ${[...path, module.name].join(' → ')}`);
    if (!modules.includes(module)) throw new Error(`module "${path.at(-1)}" requires "${module.name}", which is not in the module list`);
    state.set(module, 'visiting');
    for (const required of module.requires ?? []) visit(required, [...path, module.name]);
    state.set(module, 'done');
    ordered.push(module);
  };
  for (const module of modules) visit(module, []);
  return ordered;
}

/** A module's built parts in this process. */
export interface BuiltModule<S = unknown, C = unknown, M = unknown> extends ModuleParts<S, C, M> {
  module: Module<S, C, M>;
}

/**
 * Builds every module's services in dependency order. `use` hands a module the services of the
 * modules it declared in `requires`, and nothing else, so the declared graph is the real one.
 */
export function buildModules(
  modules: readonly AnyModule[],
  context: { kernel: Kernel; registry: Registry; settingsOf: (module: AnyModule) => unknown },
): Map<AnyModule, BuiltModule<any, any, any>> {
  const built = new Map<AnyModule, BuiltModule<any, any, any>>();
  for (const module of inDependencyOrder(modules)) {
    const settings = context.settingsOf(module);
    const metrics = module.metrics?.(context.registry) ?? {};
    const use: Use = (required) => {
      if (!(module.requires ?? []).includes(required)) {
        throw new Error(`module "${module.name}" uses "${required.name}" without listing it in requires`);
      }
      return built.get(required)!.services;
    };
    const logger = context.kernel.logger.child({ module: module.name });
    const services = module.create({ settings, metrics, kernel: context.kernel, logger, use });
    built.set(module, { module, settings, metrics, services, use, kernel: context.kernel, logger });
  }
  return built;
}
