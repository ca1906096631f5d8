import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { answers, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres';
import { freePort } from '../src/platform/free-port';
import { createLogger } from '../src/platform/logger';

const dataDir = path.resolve(__dirname, '..', '.data', `test-embedded-${process.pid}`);
const logger = createLogger('warn');
const started: EmbeddedDatabase[] = [];

afterAll(async () => {
  for (const database of started.reverse()) await database.stop().catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

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
