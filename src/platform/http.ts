import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Server } from 'node:http';
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { Principal } from './auth';
import type { KernelSettings } from './config';
import { DomainError } from './errors';
import { registerExplorer } from './explorer';
import { NO_TARGETS, notRecorded, type GraphQLContext } from './graphql/context';
import { formatError } from './graphql/errors';
import { knownOperationTypes, operationLabel, operationLimits, refuseUnstorableText } from './graphql/limits';
import { RequestLoaders, type LoaderKey, type LoaderProvider } from './graphql/loaders';
import type { Logger } from './logger';
import type { KernelMetrics } from './metrics';

export interface HttpServerOptions {
  settings: Pick<
    KernelSettings,
    'GRAPHQL_MAX_DEPTH' | 'GRAPHQL_MAX_COST' | 'GRAPHQL_MAX_ALIASES' | 'GRAPHQL_MAX_FIELDS' | 'GRAPHQL_MAX_TOKENS'
  >;
  logger: Logger;
  metrics: KernelMetrics;
  orm: MikroORM;
  /** Built from the modules' resolvers. */
  schema: GraphQLSchema;
  /** The modules' per-request loaders. */
  loaders: ReadonlyMap<LoaderKey<any, any>, LoaderProvider>;
  /** The caller from the `Authorization` header; throws UNAUTHENTICATED. */
  authenticate(authorization: string | undefined): Principal;
  /** What `/readyz` checks beyond the database; returns the reasons it is not ready. */
  readiness: () => Promise<string[]>;
  /** Refresh gauges that are read from the database at scrape time. */
  beforeScrape?: () => Promise<void>;
  /** Answer introspection queries (the schema is then readable by anyone who can reach the API). */
  introspection: boolean;
  /** Serve the GraphiQL explorer to a browser's `GET /graphql`. */
  explorer: boolean;
  /** The modules' own HTTP routes beside `/graphql` (a download), behind the same bearer token. */
  routes?: readonly ApiRoute[];
}

/** A module's HTTP route on the API: the caller is authenticated first, as for `/graphql`. */
export interface ApiRoute {
  method: 'GET' | 'POST';
  /** Fastify's syntax, e.g. `/exports/:id`. */
  url: string;
  handle(request: FastifyRequest, reply: FastifyReply, caller: { principal: Principal; em: EntityManager }): Promise<unknown>;
}

/** The HTTP status of a domain error a route throws. */
const HTTP_STATUS: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, BAD_USER_INPUT: 400, CONFLICT: 409 };

/** Fastify with `/graphql` (and GraphiQL when asked), `/healthz`, `/readyz` and `/metrics`. */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const { settings, logger, metrics, orm } = options;
  const fastify = createOperationsServer(options);
  const apollo = new ApolloServer<GraphQLContext>({
    schema: options.schema,
    introspection: options.introspection,
    includeStacktraceInErrorResponses: false,
    // The process owns SIGTERM/SIGINT and stops everything in order; Apollo must not re-raise them.
    stopOnTerminationSignals: false,
    // A document's size is capped while it is parsed, before validation (some of whose rules grow
    // with the square of the fields) and before the operation's own limits.
    parseOptions: { maxTokens: settings.GRAPHQL_MAX_TOKENS },
    validationRules: [knownOperationTypes],
    formatError: formatError(logger.child({ component: 'graphql' })),
    plugins: [
      operationLimits({
        maxDepth: settings.GRAPHQL_MAX_DEPTH,
        maxAliases: settings.GRAPHQL_MAX_ALIASES,
        maxFields: settings.GRAPHQL_MAX_FIELDS,
        maxCost: settings.GRAPHQL_MAX_COST,
      }),
      refuseUnstorableText(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginCacheControlDisabled(), // no cache hints are used; it costs per field
      {
        async requestDidStart() {
          const started = performance.now();
          return {
            // Labelled by what the server knows (the root field), never by the client's operationName.
            async willSendResponse({ document, operation }) {
              metrics.graphqlRequests.observe({ operation: operationLabel(document, operation) }, (performance.now() - started) / 1000);
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  fastify.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: fastifyApolloHandler(apollo, {
      context: async (request) => {
        let principal: Principal;
        try {
          principal = options.authenticate(request.headers.authorization);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          throw new GraphQLError(error.message, { extensions: { code: error.code, http: { status: 401 } } });
        }
        const em = orm.em.fork();
        return {
          em,
          principal,
          loaders: new RequestLoaders(em, options.loaders),
          request: { requestId: request.id, clientAddress: request.ip ?? null, userAgent: request.headers['user-agent'] ?? null },
          targets: NO_TARGETS,
          statementRecord: notRecorded,
        };
      },
    }),
  });

  if (options.explorer) registerExplorer(fastify, '/graphql');

  for (const route of options.routes ?? []) {
    fastify.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        try {
          const principal = options.authenticate(request.headers.authorization);
          return await route.handle(request, reply, { principal, em: orm.em.fork() });
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          return reply.code(HTTP_STATUS[error.code] ?? 400).send({ code: error.code, message: error.message });
        }
      },
    });
  }

  // Fastify's close already stops accepting and waits for in-flight requests. (Apollo's drain
  // plugin would call fastify.close() from inside this hook and wait for itself forever.)
  fastify.addHook('onClose', async () => {
    await apollo.stop();
  });
  return fastify;
}

// ---- What every process serves, with or without the API: health, readiness, metrics, access log ----

export interface OperationsServerOptions {
  logger: Logger;
  metrics: KernelMetrics;
  orm: MikroORM;
  /** What `/readyz` checks beyond the database; returns the reasons it is not ready. */
  readiness: () => Promise<string[]>;
  /**
   * Refresh gauges that are read from the database at scrape time. `/metrics` is unauthenticated:
   * bound what this costs (`boundedRefresh`), as `startProcess` does.
   */
  beforeScrape?: () => Promise<void>;
  /** What the access log shows of a path (a server whose paths carry secrets hides them). */
  logPath?: (path: string) => string;
}

/**
 * Fastify with `/healthz`, `/readyz` and `/metrics` and one access-log line per request: a worker
 * process serves it alone (so its consumers and jobs can be probed and scraped), an API process
 * adds `/graphql` to it.
 */
export function createOperationsServer(options: OperationsServerOptions, serverOptions: FastifyHttpOptions<Server> = {}): FastifyInstance {
  const fastify = Fastify({ logger: false, bodyLimit: 1024 * 1024, ...serverOptions, requestIdHeader: false, genReqId: requestIdOf });
  // Every answer names its request, so a client's report and the logs and audit entries meet.
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  logRequests(fastify, options.logger.child({ component: 'http' }), options.logPath);
  registerHealthRoutes(fastify, options);
  return fastify;
}

function registerHealthRoutes(fastify: FastifyInstance, options: OperationsServerOptions): void {
  const { logger, metrics, orm } = options;
  fastify.get('/healthz', async () => ({ status: 'ok' }));

  fastify.get('/readyz', async (_request, reply) => {
    const problems: string[] = [];
    try {
      await orm.em.fork().execute('SELECT 1');
    } catch {
      problems.push('database unreachable');
    }
    if (problems.length === 0) problems.push(...(await options.readiness()));
    return reply.code(problems.length === 0 ? 200 : 503).send({ status: problems.length === 0 ? 'ready' : 'not ready', problems });
  });

  fastify.get('/metrics', async (_request, reply) => {
    await options.beforeScrape?.().catch((err) => logger.warn({ err }, 'metrics refresh failed'));
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/** A sane `x-request-id` from the client (a proxy's, say) is kept; anything else gets a fresh one. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestIdOf(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** One line per answered request: method, path (never the query string: it may carry variables), status, duration, request id. */
function logRequests(fastify: FastifyInstance, logger: Logger, logPath: (path: string) => string = (path) => path): void {
  fastify.addHook('onResponse', async (request, reply) => {
    // Below LOG_LEVEL (a busy callbacks process runs at warn): not even the line's making.
    if (!logger.isLevelEnabled('info')) return;
    const path = logPath(request.url.split('?', 1)[0]!);
    const durationMs = Math.round(reply.elapsedTime * 10) / 10;
    logger.info(
      { method: request.method, path, status: reply.statusCode, durationMs, requestId: request.id },
      `${request.method} ${path} ${reply.statusCode} ${durationMs}ms`,
    );
  });
}
