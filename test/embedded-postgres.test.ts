import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres';
import { createLogger } from '../src/platform/logger';

const dataDir = path.resolve(__dirname, '..', '.data', `test-embedded-${process.pid}`);
const logger = createLogger('warn');
const started: EmbeddedDatabase[] = [];

afterAll(async () => {
  for (const database of started.reverse()) await database.stop().catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one === 1;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('embedded PostgreSQL', () => {
  it('lets a second process use the server another one started, and leaves it running when done', async () => {
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, database: 'payouts_first', logger });
    started.push(first);

    // What `payouts demo` does next to a running `payouts start`: no second server on the same data.
    const second = await startEmbeddedPostgres({ dataDir, port, database: 'payouts_second', logger });
    expect(await answers(second.url)).toBe(true);
    await second.stop();
    expect(await answers(first.url)).toBe(true);

    await first.stop();
    started.pop();
    expect(await answers(first.url)).toBe(false);
  });
});
