import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedTestPort } from './global-setup';

const ROOT = path.resolve(__dirname, '..');
const KAFKA_SCRIPT = path.join(ROOT, 'scripts/kafka.sh');
/** The ports the tests used to take whatever else ran on the machine. */
const OLD_POSTGRES_PORT = 54339;
const OLD_KAFKA_PORT = 19092;

const held: Server[] = [];
afterAll(() => {
  for (const server of held) server.close();
});

/** Takes the port as another checkout would; resolves either way (taken already is as good). */
function occupy(port: number): Promise<void> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve());
    server.listen(port, '127.0.0.1', () => {
      held.push(server);
      resolve();
    });
  });
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe("the tests' servers take ports no other checkout holds", () => {
  it('the embedded test PostgreSQL: TEST_EMBEDDED_PG_PORT, else a free port', async () => {
    expect(await embeddedTestPort({ TEST_EMBEDDED_PG_PORT: '45678' })).toBe(45678);
    await occupy(OLD_POSTGRES_PORT);
    const port = await embeddedTestPort({});
    expect(port).not.toBe(OLD_POSTGRES_PORT);
    expect(await listenable(port)).toBe(true);
  });

  const kafkaDir = path.join(ROOT, '.data', `kafka-test-${process.pid}`);
  const kafka = (...args: string[]) => spawnSync('bash', [KAFKA_SCRIPT, ...args, '--dir', kafkaDir], { encoding: 'utf8', env: { ...process.env, KAFKA_PORT: '' } });
  afterAll(async () => {
    kafka('stop');
    await rm(kafkaDir, { recursive: true, force: true });
  });

  it.runIf(spawnSync('java', ['-version']).status === 0)(
    "scripts/kafka.sh: a free port unless one is given, and the same one while this folder's broker runs",
    async () => {
      await occupy(OLD_KAFKA_PORT);
      const first = kafka('start');
      expect(first.status, first.stderr).toBe(0);
      const port = Number(/^KAFKA_BROKERS=127\.0\.0\.1:(\d+)$/m.exec(first.stdout)?.[1]);
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(OLD_KAFKA_PORT);

      const again = kafka('start');
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout.trim()).toBe(`KAFKA_BROKERS=127.0.0.1:${port}`);
      expect(kafka('status').stdout).toContain(`127.0.0.1:${port}`);
      expect(kafka('stop').status).toBe(0);
    },
    180_000,
  );
});
