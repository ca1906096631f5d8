import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRefusedError, HttpUnavailableError, JsonHttpClient } from './http-client';
import { createLogger } from './logger';

/** A server that answers each path with the next of its scripted answers (`drop`: closes the connection, `hang`: never answers). */
const script = new Map<string, (number | 'drop' | 'hang')[]>();
const seen = new Map<string, number>();
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    const next = script.get(path)?.shift() ?? 200;
    if (next === 'drop') return request.socket.destroy();
    if (next === 'hang') return;
    response.writeHead(next, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: next }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = new JsonHttpClient({ timeoutMs: 1000, attempts: 3, backoffMs: 5, logger: createLogger('silent') });

describe('the JSON HTTP client to payment systems', () => {
  it('tries a transient failure again (5xx, 429, a dropped connection, a timeout) and returns the answer that came', async () => {
    script.set('/flaky', [503, 429]);
    expect(await client.request({ method: 'GET', url: `${base}/flaky` })).toEqual({ status: 200, body: { status: 200 } });
    expect(seen.get('/flaky')).toBe(3);
    script.set('/dropped', ['drop', 'hang']);
    // Time enough for an answer on a busy machine; the hanging attempt waits it out.
    const patient = new JsonHttpClient({ timeoutMs: 1500, attempts: 3, backoffMs: 5, logger: createLogger('silent') });
    expect((await patient.request({ method: 'POST', url: `${base}/dropped`, body: { a: 1 } })).status).toBe(200);
    expect(seen.get('/dropped')).toBe(3);
  });

  it('gives up after its attempts, saying what failed and nothing of the query string', async () => {
    script.set('/down?token=secret', [500, 502, 'hang']);
    const error = await client.request({ method: 'GET', url: `${base}/down?token=secret` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpUnavailableError);
    expect((error as Error).message).toBe(`GET ${base}/down failed: timed out`);
    expect(seen.get('/down?token=secret')).toBe(3);
  });

  it('never tries a refusal again', async () => {
    for (const status of [400, 401, 404, 409]) {
      script.set(`/refused-${status}`, [status]);
      const error = await client.request({ method: 'PUT', url: `${base}/refused-${status}`, headers: { authorization: 'Bearer k' } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpRefusedError);
      expect(error).toMatchObject({ status, body: { status } });
      expect(seen.get(`/refused-${status}`)).toBe(1);
    }
  });

  it('logs the method, path and status of every attempt, never the headers, the body or the query', async () => {
    let logged = '';
    const destination = new Writable({
      write(chunk, _encoding, done) {
        logged += chunk;
        done();
      },
    });
    const chatty = new JsonHttpClient({ timeoutMs: 1000, attempts: 2, backoffMs: 5, logger: createLogger('debug', { destination, format: 'json' }) });
    script.set('/logged?sig=q-secret', [503]);
    script.set('/refused-logged', [401]);
    const secrets = { headers: { authorization: 'Bearer sk_live_header_secret' }, body: { secretKey: 'body-secret' } };
    await chatty.request({ method: 'POST', url: `${base}/logged?sig=q-secret`, ...secrets });
    await chatty.request({ method: 'POST', url: `${base}/refused-logged`, ...secrets }).catch(() => undefined);
    expect(logged).toContain('/logged');
    expect(logged).toContain('"status":401');
    for (const secret of ['sk_live_header_secret', 'body-secret', 'q-secret']) expect(logged).not.toContain(secret);
  });
});
