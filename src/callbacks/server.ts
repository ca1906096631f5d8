import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallbackRequest } from '../payment-systems/adapter';
import { createOperationsServer, type OperationsServerOptions } from '../platform/http';
import { plainAddress } from './allow-list';
import type { CallbackDispatcher } from './dispatcher';
import type { CallbackMetrics } from './metrics';
import type { CallbackSettings } from './settings';

/** What the access log shows of a callback path: the system, never the link's secret. */
export function redactCallbackPath(path: string): string {
  return path.replace(/^(\/callbacks\/[^/]*)\/.*$/, '$1/…');
}

/**
 * The external API: `GET|POST /callbacks/<system>/<secret>` and `/healthz`, `/readyz`, `/metrics`,
 * nothing else (no GraphQL). Bodies are read raw, whatever their type, up to CALLBACK_BODY_LIMIT
 * and within CALLBACK_RECEIVE_TIMEOUT; anything the server itself refuses (too large, too slow, no
 * route) gets a short plain answer with no detail, and nothing becomes a 500.
 */
export function createCallbackServer(
  dispatcher: CallbackDispatcher,
  settings: CallbackSettings,
  metrics: CallbackMetrics,
  operations: OperationsServerOptions,
): FastifyInstance {
  const fastify = createOperationsServer(
    { ...operations, logPath: redactCallbackPath },
    {
      bodyLimit: settings.CALLBACK_BODY_LIMIT,
      requestTimeout: settings.CALLBACK_RECEIVE_TIMEOUT,
      // Node checks those deadlines every 30 s by default: a slow sender would hold its socket that much longer.
      http: { headersTimeout: settings.CALLBACK_RECEIVE_TIMEOUT, connectionsCheckingInterval: Math.min(1000, settings.CALLBACK_RECEIVE_TIMEOUT) },
      connectionTimeout: settings.CALLBACK_RECEIVE_TIMEOUT + settings.CALLBACK_ANSWER_TIMEOUT,
      keepAliveTimeout: 5_000,
      trustProxy: settings.CALLBACK_TRUST_PROXY ? settings.CALLBACK_TRUST_PROXY.split(',').map((entry) => entry.trim()) : false,
      // A secret is 43 characters; a longer segment is no secret of ours, and is not worth reading.
      routerOptions: { maxParamLength: 256 },
    },
  );
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  fastify.route<{ Params: { system: string; secret: string } }>({
    method: ['GET', 'POST'],
    url: '/callbacks/:system/:secret',
    // A HEAD would run the callback and drop its answer: a pay nobody sees the result of.
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const adapter = dispatcher.adapterFor(request.params.system);
      if (!adapter) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      const started = performance.now();
      const answer = await dispatcher.answer(adapter, request.params.secret, callbackRequestOf(request));
      metrics.answers.observe({ payment_system: adapter.system, status: String(answer.status) }, (performance.now() - started) / 1000);
      return reply.code(answer.status).header('cache-control', 'no-store').type(answer.contentType).send(answer.body);
    },
  });

  fastify.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('Not found'));
  fastify.setErrorHandler((error: { statusCode?: number }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 503;
    if (status === 503) operations.logger.error({ err: error, path: redactCallbackPath(request.url.split('?', 1)[0]!) }, 'callback server error');
    return reply.code(status).type('text/plain; charset=utf-8').send(status === 503 ? 'Temporarily unavailable' : 'Bad request');
  });
  return fastify;
}

function callbackRequestOf(request: FastifyRequest): CallbackRequest {
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, string | string[] | undefined>)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') query[name] = first;
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return {
    method: request.method === 'POST' ? 'POST' : 'GET',
    query,
    headers,
    body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
    clientAddress: plainAddress(request.ip),
  };
}
