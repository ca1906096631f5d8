import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/platform/free-port';

const ROOT = path.resolve(__dirname, '..');
/**
 * `npm start` as the README says, without its `prestart` build (done once in beforeAll): a build
 * while other test files run the program could hand them half-written files.
 */
const NPM_START = ['start', '--ignore-scripts'];
const folder = path.join(ROOT, '.data', `test-signals-${process.pid}`);
const pidFile = path.join(folder, 'pg', 'postmaster.pid');

beforeAll(() => {
  spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
});

const leftovers = new Set<number>();
afterEach(() => {
  for (const pid of leftovers) signal(pid, 'SIGKILL');
  leftovers.clear();
});
afterAll(async () => rm(folder, { recursive: true, force: true }));

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

/** Alive and not a zombie (a reaped or exited process is gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid` (Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

interface Launched {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The payouts process and its PostgreSQL, once ready. */
  service: number;
  postmaster: number;
}

/** Runs a command of the README with the embedded PostgreSQL under a folder of its own, until ready. */
async function launch(command: string, args: string[], options: { ownGroup?: boolean } = {}): Promise<Launched> {
  const port = await freePort();
  const child = spawn(command, args, {
    cwd: ROOT,
    // A process group of its own: what a terminal's Ctrl-C reaches is then the test's to say.
    detached: options.ownGroup ?? false,
    env: {
      ...process.env,
      DATABASE_URL: '',
      KAFKA_BROKERS: '',
      PAYOUTS_DATA_DIR: folder,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(port),
      CALLBACK_PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  leftovers.add(child.pid!);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));

  const deadline = Date.now() + 90_000;
  while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  leftovers.add(postmaster);
  const service = command === 'npm' ? childrenOf(child.pid!)[0]! : child.pid!;
  leftovers.add(service);
  return { child, output: () => output, exited, service, postmaster };
}

async function expectAllGone(launched: Launched): Promise<void> {
  const { code, signal: by } = await launched.exited;
  expect({ code, signal: by }, launched.output()).toEqual({ code: 0, signal: null });
  expect(launched.output()).toContain('"msg":"payouts stopped"');
  // The graceful stop finished its work before the database went away.
  expect(launched.output()).not.toContain('terminating connection due to administrator command');
  expect(alive(launched.service)).toBe(false);
  expect(alive(launched.postmaster)).toBe(false);
  expect(existsSync(pidFile)).toBe(false);
}

describe('stopping the service the way a container, a process manager or a terminal does', () => {
  it('`npm start`: SIGTERM to npm stops the service and its PostgreSQL, and npm exits 0', async () => {
    const launched = await launch('npm', NPM_START);
    expect(launched.service).not.toBe(launched.child.pid);
    signal(launched.child.pid!, 'SIGTERM');
    await expectAllGone(launched);
  });

  it('`npm start`: SIGINT to npm does too', async () => {
    const launched = await launch('npm', NPM_START);
    signal(launched.child.pid!, 'SIGINT');
    await expectAllGone(launched);
  });

  it('`npm start`: a Ctrl-C to its process group (npm and the service) stops it gracefully, though the service hears it twice', async () => {
    const launched = await launch('npm', NPM_START, { ownGroup: true });
    // From the terminal and passed on by npm: the echo within a second is not taken for "stop now".
    signal(-launched.child.pid!, 'SIGINT');
    await expectAllGone(launched);
  });

  it('`node bin/payouts.js start`: SIGTERM stops it and its PostgreSQL', async () => {
    const launched = await launch(process.execPath, ['bin/payouts.js', 'start']);
    signal(launched.child.pid!, 'SIGTERM');
    await expectAllGone(launched);
  });

  it('`node bin/payouts.js start`: a Ctrl-C to its process group reaches the service, which stops PostgreSQL last', async () => {
    const launched = await launch(process.execPath, ['bin/payouts.js', 'start'], { ownGroup: true });
    signal(-launched.child.pid!, 'SIGINT');
    await expectAllGone(launched);
  });
});
