import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answers, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres';
import { freePort } from '../src/platform/free-port';
import { createLogger } from '../src/platform/logger';

const ROOT = path.resolve(__dirname, '..');
const base = path.join(ROOT, '.data', `test-embedded-${process.pid}`);
const dataDir = path.join(base, 'a');
const otherDataDir = path.join(base, 'b');
const logger = createLogger('warn');
const started: EmbeddedDatabase[] = [];

beforeAll(() => {
  // The orphan test runs the built program in a process of its own.
  spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
});

afterAll(async () => {
  for (const database of started.reverse()) await database.stop().catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});

const pidFile = (dir: string) => path.join(dir, 'pg', 'postmaster.pid');

/** The server's own process: gone once it has stopped, whatever still answers on the port. */
function postmasterAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL', () => {
  it('lets a second process use the server another one started, and leaves it running when done', async () => {
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, database: 'payouts_first', logger });
    started.push(first);
    expect(first.ownership).toBe('started');

    // What `payouts demo` does next to a running `payouts start`: no second server on the same data.
    const second = await startEmbeddedPostgres({ dataDir, port, database: 'payouts_second', logger });
    expect(second.ownership).toBe('shared');
    expect(await answers(second.url)).toBe(true);
    await second.stop();
    expect(await answers(first.url)).toBe(true);

    await first.stop();
    started.pop();
    expect(await answers(first.url)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
  });

  it('adopts the server an owner killed with SIGKILL left running, and stops it; a command next to the adopter leaves it running', async () => {
    const port = await freePort();
    // An owner in a process of its own, killed the way nothing can catch.
    const owner = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(path.join(ROOT, 'dist/src/platform/embedded-postgres.js'))})
          .startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, database: 'payouts', logger: require('pino')({ level: 'warn' }) })
          .then((db) => console.log('READY ' + db.ownership), (error) => { console.error(error); process.exit(1); });
        setInterval(() => undefined, 1000);`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const ready = await new Promise<string>((resolve) => owner.stdout.on('data', (chunk: Buffer) => resolve(chunk.toString())));
    expect(ready).toContain('READY started');
    const postmaster = Number(readFileSync(pidFile(dataDir), 'utf8').split('\n')[0]);
    owner.kill('SIGKILL');
    await new Promise((resolve) => owner.once('exit', resolve));
    // The orphan runs on, its pid file in place.
    expect(postmasterAlive(postmaster)).toBe(true);

    const adopter = await startEmbeddedPostgres({ dataDir, port, database: 'payouts', logger });
    started.push(adopter);
    expect(adopter.ownership).toBe('adopted');

    // `payouts migrate` next to the adopter: it shares the server, and leaves it running.
    const neighbour = await startEmbeddedPostgres({ dataDir, port, database: 'payouts', logger });
    expect(neighbour.ownership).toBe('shared');
    await neighbour.stop();
    expect(await answers(adopter.url)).toBe(true);

    await adopter.stop();
    started.pop();
    expect(postmasterAlive(postmaster)).toBe(false);
    expect(await answers(adopter.url)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
  });

  describe("another folder's server is never taken for this folder's", () => {
    let port: number;
    let other: EmbeddedDatabase;
    beforeAll(async () => {
      port = await freePort();
      other = await startEmbeddedPostgres({ dataDir: otherDataDir, port, database: 'payouts', logger });
      started.push(other);
    });

    it('refuses a pid file naming another folder’s live server on the port', async () => {
      // A stale pid file (copied with the folder, or left by a crash) that names the other
      // checkout's server, which answers on that port with the same credentials.
      mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
      copyFileSync(pidFile(otherDataDir), pidFile(dataDir));
      await expect(startEmbeddedPostgres({ dataDir, port, database: 'payouts', logger })).rejects.toThrow(
        new RegExp(`serves ${path.join(otherDataDir, 'pg')}, not this folder's ${path.join(dataDir, 'pg')}`),
      );
      expect(await answers(other.url)).toBe(true);
    });

    it('refuses to start on a port another folder’s server holds, naming it', async () => {
      await rm(pidFile(dataDir), { force: true });
      await expect(startEmbeddedPostgres({ dataDir, port, database: 'payouts', logger })).rejects.toThrow(
        new RegExp(`Port ${port} is taken by a PostgreSQL serving ${path.join(otherDataDir, 'pg')}.*EMBEDDED_PG_PORT`),
      );
    });
  });
});
