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

/**
 * Our part of the page: a token field above GraphiQL. Every request, the schema's too, carries the
 * token (the API refuses any caller without one); a new token remounts GraphiQL, which loads the
 * schema again with it. The token lives in the tab's session storage only.
 */
function startScript(endpoint: string): string {
  const defaultQuery = [
    '# The payouts GraphQL API. Set a token above first, e.g. from',
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
  return `'use strict';
(function () {
  var endpoint = ${JSON.stringify(endpoint)};
  var storageKey = 'payouts.graphiql.token';
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var form = document.getElementById('token-form');
  var input = document.getElementById('token');
  var state = document.getElementById('token-state');
  input.value = sessionStorage.getItem(storageKey) || '';
  function render() {
    var token = input.value.trim().replace(/^bearer\\s+/i, '');
    state.textContent = token ? 'token set' : 'no token: the API refuses every operation';
    root.render(
      React.createElement(GraphiQL, {
        key: token,
        fetcher: GraphiQL.createFetcher({ url: endpoint, headers: token ? { authorization: 'Bearer ' + token } : {} }),
        defaultQuery: ${JSON.stringify(defaultQuery)},
      }),
    );
  }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    sessionStorage.setItem(storageKey, input.value.trim());
    render();
  });
  render();
})();
`;
}

function page(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>payouts · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSETS_PATH}/graphiql.min.css">
<link rel="stylesheet" href="${ASSETS_PATH}/page.css">
</head>
<body>
<form id="token-form">
<label for="token">Bearer token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="npx payouts token --role admin">
<button type="submit">Use token</button>
<span id="token-state" role="status"></span>
</form>
<div id="graphiql">Loading GraphiQL…</div>
<script src="${ASSETS_PATH}/react.production.min.js"></script>
<script src="${ASSETS_PATH}/react-dom.production.min.js"></script>
<script src="${ASSETS_PATH}/graphiql.min.js"></script>
<script src="${ASSETS_PATH}/start.js"></script>
</body>
</html>
`;
}

const PAGE_CSS = `html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
#token-form { display: flex; gap: 0.5rem; align-items: center; padding: 0.4rem 0.75rem; border-bottom: 1px solid #ddd; font-size: 0.9rem; }
#token { flex: 1; max-width: 40rem; font-family: monospace; }
#token-state { color: #666; }
#graphiql { flex: 1; min-height: 0; }
`;

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
    ['page.css', { body: PAGE_CSS, type: 'text/css' }],
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
