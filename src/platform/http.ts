import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import type { App } from '../app';
import { TokenService } from './auth';
import { DomainError } from './errors';
import { createContext, type GraphQLContext } from './graphql/context';
import { formatError } from './graphql/errors';
import { costLimit, depthLimit, knownOperationTypes, refuseNulCharacters } from './graphql/limits';
import { graphqlSchema } from './graphql/schema';

export interface HttpServerOptions {
  /** What `/readyz` checks beyond the database; returns the reasons it is not ready. */
  readiness: () => Promise<string[]>;
  /** Refresh gauges that are read from the database at scrape time. */
  beforeScrape?: () => Promise<void>;
}

/** Fastify with `/graphql`, `/healthz`, `/readyz` and `/metrics`. */
export async function createHttpServer(app: App, options: HttpServerOptions): Promise<FastifyInstance> {
  const fastify = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  const tokens = new TokenService(app.settings.JWT_SECRET);
  const apollo = new ApolloServer<GraphQLContext>({
    schema: await graphqlSchema(),
    introspection: true,
    includeStacktraceInErrorResponses: false,
    // The process owns SIGTERM/SIGINT and stops everything in order; Apollo must not re-raise them.
    stopOnTerminationSignals: false,
    validationRules: [depthLimit(app.settings.GRAPHQL_MAX_DEPTH), knownOperationTypes],
    formatError: formatError(app.logger.child({ component: 'graphql' })),
    plugins: [
      costLimit(app.settings.GRAPHQL_MAX_COST),
      refuseNulCharacters(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginCacheControlDisabled(), // no cache hints are used; it costs per field
      {
        async requestDidStart({ request }) {
          const started = performance.now();
          return {
            async willSendResponse() {
              app.metrics.graphqlRequests.observe(
                { operation: request.operationName ?? 'anonymous' },
                (performance.now() - started) / 1000,
              );
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
        try {
          return createContext(app, tokens.authenticate(request.headers.authorization));
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          throw new GraphQLError(error.message, { extensions: { code: error.code, http: { status: 401 } } });
        }
      },
    }),
  });

  fastify.get('/healthz', async () => ({ status: 'ok' }));

  fastify.get('/readyz', async (_request, reply) => {
    const problems: string[] = [];
    try {
      await app.orm.em.fork().execute('SELECT 1');
    } catch {
      problems.push('database unreachable');
    }
    if (problems.length === 0) problems.push(...(await options.readiness()));
    return reply.code(problems.length === 0 ? 200 : 503).send({ status: problems.length === 0 ? 'ready' : 'not ready', problems });
  });

  fastify.get('/metrics', async (_request, reply) => {
    await options.beforeScrape?.().catch((err) => app.logger.warn({ err }, 'metrics refresh failed'));
    return reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics());
  });

  // Fastify's close already stops accepting and waits for in-flight requests. (Apollo's drain
  // plugin would call fastify.close() from inside this hook and wait for itself forever.)
  fastify.addHook('onClose', async () => {
    await apollo.stop();
  });
  return fastify;
}
