import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/platform/free-port';
import { sleep } from './stats';

export { freePort };

/** Production refuses to start without a wallet key: one made for this run. */
export const BENCH_WALLET_KEYS = `bench:${randomBytes(32).toString('base64')}`;

const CLI = path.resolve(__dirname, '../../../bin/payouts.js');

/** A `payouts <command>` child process, so the load generator never shares its event loop. */
export interface ServiceProcess {
  pid: number;
  url: string;
  /** Everything it wrote to stdout and stderr (pino JSON lines), for diagnosis. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stopMs: number; killed: boolean }>;
}


/**
 * The environment for a child: only what it needs, never this shell's DATABASE_URL or
 * KAFKA_BROKERS by accident, so each benchmark chooses its database and runs without Kafka.
 */
export function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    NODE_ENV: 'production',
    WALLET_KEYS: BENCH_WALLET_KEYS,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // A worker's probes and metrics on a free port: several run side by side.
    WORKER_PORT: '0',
    // `start` serves the payment systems' callbacks too: a free port, not 8081.
    CALLBACK_PORT: '0',
    ...settings,
  };
}

/** The environment of a `payouts api` under load: a free port, the bench secret, BENCH_API_POOL_MAX. */
export async function apiEnv(databaseUrl: string, jwtSecret: string): Promise<NodeJS.ProcessEnv> {
  const poolMax = process.env.BENCH_API_POOL_MAX || undefined;
  return childEnv({
    DATABASE_URL: databaseUrl,
    PORT: String(await freePort()),
    JWT_SECRET: jwtSecret,
    ...(poolMax ? { DATABASE_POOL_MAX: poolMax } : {}),
  });
}

export function spawnService(command: string, env: NodeJS.ProcessEnv): ServiceProcess {
  return spawnScript(CLI, [command], env);
}

/** Any script of this repository's build as a child process, serving on `env.PORT` (e.g. a benchmark's own baseline server). */
export function spawnScript(script: string, args: string[], env: NodeJS.ProcessEnv): ServiceProcess {
  // BENCH_CHILD_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to see where a child's CPU goes
  const nodeArgs = process.env.BENCH_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout!.on('data', (data: Buffer) => chunks.push(data.toString()));
  child.stderr!.on('data', (data: Buffer) => chunks.push(data.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${env.PORT}`,
    output: () => chunks.join(''),
    exited,
    async stop(graceMs = 20_000) {
      const started = performance.now();
      if (!ended) child.kill('SIGTERM');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, stopMs: performance.now() - started, killed };
    },
  };
}

/** Polls `/readyz` until it answers 200; returns the time from `since` in milliseconds. */
export async function waitReady(service: ServiceProcess, since: number, timeoutMs = 60_000): Promise<number> {
  let exited = false;
  void service.exited.then(() => (exited = true));
  while (performance.now() - since < timeoutMs) {
    if (exited) throw new Error(`the service exited before it was ready:\n${service.output().slice(-4000)}`);
    try {
      const response = await fetch(`${service.url}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return performance.now() - since;
      await response.body?.cancel();
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  throw new Error(`the service was not ready within ${timeoutMs} ms:\n${service.output().slice(-4000)}`);
}

/** Resident and peak resident memory of a process, in MB, from /proc (Linux). */
export function memoryOf(pid: number): { rssMb: number; peakRssMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux; 100 ticks a second). */
export function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") "; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest seen. */
export function sampleRss(pid: number, everyMs = 200): { stop(): number } {
  let max = memoryOf(pid)?.rssMb ?? 0;
  const timer = setInterval(() => {
    const rss = memoryOf(pid)?.rssMb;
    if (rss !== undefined && rss > max) max = rss;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, memoryOf(pid)?.rssMb ?? 0);
    },
  };
}

/**
 * CPU time the whole machine spent busy so far, all cores together (user, nice, system, irq,
 * softirq; not idle, iowait or steal), in ms, from /proc/stat (Linux). Next to a process's own
 * CPU time it shows where the rest went (mostly PostgreSQL).
 */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  // cpu user nice system idle iowait irq softirq steal …, in ticks of 10 ms.
  const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq!) * 10;
}

function processTimes(pid: number): { name: string; ppid: number; ownMs: number; childrenMs: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // ppid is the 2nd field after the name; utime, stime, cutime, cstime the 12th to 15th.
    return {
      name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      ppid: Number(fields[1]),
      ownMs: (Number(fields[11]) + Number(fields[12])) * 10,
      childrenMs: (Number(fields[13]) + Number(fields[14])) * 10,
    };
  } catch {
    return null;
  }
}

/**
 * CPU time a local PostgreSQL server has used so far (postmaster, every live backend, and the
 * backends that have exited), in ms, from /proc; null when the server is not on this machine.
 * `postmasterPid` comes from `postmasterPidOf`.
 */
export function postgresCpuMs(postmasterPid: number): number | null {
  const postmaster = processTimes(postmasterPid);
  if (!postmaster) return null;
  let total = postmaster.ownMs + postmaster.childrenMs;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = processTimes(Number(entry));
    if (child?.ppid === postmasterPid) total += child.ownMs;
  }
  return total;
}

/**
 * The postmaster of the server a session is connected to (`SELECT pg_backend_pid()`), if that
 * server runs on this machine in our view of /proc.
 */
export function postmasterPidOf(backendPid: number): number | null {
  const backend = processTimes(backendPid);
  const postmaster = backend ? processTimes(backend.ppid) : null;
  return backend?.name.startsWith('postgres') && postmaster?.name.startsWith('postgres') ? backend.ppid : null;
}
