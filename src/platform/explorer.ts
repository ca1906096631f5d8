import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * GraphiQL for a browser's `GET /graphql`, served from the installed `graphiql` package and React's
 * browser builds: no CDN, so it works on machines and networks that reach none.
 */
const ASSETS_PATH = '/graphiql';

interface Asset {
  file: () => string;
  type: string;
}

const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

const ASSETS: Record<string, Asset> = {
  'react.production.min.js': { file: () => path.join(packageDir('react'), 'umd/react.production.min.js'), type: 'text/javascript' },
  'react-dom.production.min.js': { file: () => path.join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), type: 'text/javascript' },
  'graphiql.min.js': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript' },
  'graphiql.min.css': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css' },
};

/** Our part of the page: GraphiQL posting to the API, with a token set in its Headers editor. */
function startScript(endpoint: string): string {
  const defaultQuery = [
    '# The payouts GraphQL API. Put a token in Headers below, e.g. from',
    '#   npx payouts token --role admin',
    '# then run the query (Ctrl-Enter).',
    '{',
    '  payouts(first: 10) {',
    '    totalCount',
    '    nodes { id status amount { amount currency } payee { kind id } }',
    '  }',
    '}',
    '',
  ].join('\n');
  const defaultHeaders = JSON.stringify({ authorization: 'Bearer <token>' }, null, 2);
  return `'use strict';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: ${JSON.stringify(endpoint)} }),
    defaultQuery: ${JSON.stringify(defaultQuery)},
    defaultHeaders: ${JSON.stringify(defaultHeaders)},
    defaultEditorToolsVisibility: 'headers',
  }),
);
`;
}

function page(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>payouts · GraphiQL</title>
<link rel="stylesheet" href="${ASSETS_PATH}/graphiql.min.css">
<link rel="stylesheet" href="${ASSETS_PATH}/page.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="${ASSETS_PATH}/react.production.min.js"></script>
<script src="${ASSETS_PATH}/react-dom.production.min.js"></script>
<script src="${ASSETS_PATH}/graphiql.min.js"></script>
<script src="${ASSETS_PATH}/start.js"></script>
</body>
</html>
`;
}

/** Everything comes from this server; GraphiQL sets styles inline, nothing else runs inline. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/** A browser's navigation asks for HTML; a GraphQL GET from a client carries `query`. */
function wantsPage(request: FastifyRequest, endpoint: string): boolean {
  if (request.method !== 'GET') return false;
  const [pathname, search = ''] = request.url.split('?', 2);
  if (pathname !== endpoint || new URLSearchParams(search).has('query')) return false;
  return (request.headers.accept ?? '').includes('text/html');
}

export function registerExplorer(fastify: FastifyInstance, endpoint: string): void {
  const html = page();
  const files = new Map<string, { body: string | Buffer; type: string }>([
    ['start.js', { body: startScript(endpoint), type: 'text/javascript' }],
    ['page.css', { body: 'html, body, #graphiql { height: 100%; margin: 0; }\n', type: 'text/css' }],
  ]);
  // Read on first request: a process that never shows the page never loads 1.5 MB of it.
  const asset = (name: string) => {
    let found = files.get(name);
    if (!found && Object.hasOwn(ASSETS, name)) {
      found = { body: readFileSync(ASSETS[name]!.file()), type: ASSETS[name]!.type };
      files.set(name, found);
    }
    return found;
  };

  // Before routing: `/graphql` itself belongs to the API, which answers a browser with an error.
  fastify.addHook('onRequest', async (request, reply) => {
    if (!wantsPage(request, endpoint)) return;
    return reply.type('text/html; charset=utf-8').header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-store').send(html);
  });

  fastify.get<{ Params: { file: string } }>(`${ASSETS_PATH}/:file`, async (request, reply) => {
    const found = asset(request.params.file);
    if (!found) return reply.code(404).send({ error: 'not found' });
    return reply.type(`${found.type}; charset=utf-8`).header('cache-control', 'public, max-age=3600').send(found.body);
  });
}
