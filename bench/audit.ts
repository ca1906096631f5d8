import { spawn } from 'node:child_process';
import path from 'node:path';
import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { apiEnv, cpuTimeMs, postgresCpuMs, postmasterPidOf, waitReady, type ServiceProcess } from './lib/child';
import { BENCH_JWT_SECRET, withClient } from './lib/database';
import { graphqlLoad, type LoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { round, sleep } from './lib/stats';
import { benchApp } from './payout-writes';
import { migrateAll } from '../src/app/processes';

/**
 * Issue 12's audit-log cost: `recordAccrual` (one admin mutation, a ledger posting: cheap and
 * typical) at N connections through an API whose mutations write their audit entry, beside the
 * same API built without the audit module (bench/audit-api.ts), in the same run. The two servers
 * take turns, several rounds each, so a slow moment of the machine weighs on both alike.
 */

export interface AuditBenchOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  /** Rounds per side, taken in turn. */
  rounds: number;
  /** Parks the accruals go round. */
  parks: number;
}

const RECORD_ACCRUAL = `mutation BenchRecordAccrual($input: AccrualInput!) {
  recordAccrual(input: $input) { transferId applied }
}`;

const AUDIT_API = path.resolve(__dirname, 'audit-api.js');

function spawnAuditApi(env: NodeJS.ProcessEnv, audit: boolean): ServiceProcess {
  const child = spawn(process.execPath, [AUDIT_API], { env: { ...env, BENCH_AUDIT: audit ? 'on' : 'off' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout!.on('data', (data: Buffer) => chunks.push(data.toString()));
  child.stderr!.on('data', (data: Buffer) => chunks.push(data.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${env.PORT}`,
    output: () => chunks.join(''),
    exited,
    async stop() {
      const started = performance.now();
      child.kill('SIGTERM');
      const result = await exited;
      return { ...result, stopMs: performance.now() - started, killed: false };
    },
  };
}

interface Side {
  name: string;
  api: ServiceProcess;
  loads: LoadResult[];
  cpuMs: number;
  /** PostgreSQL's CPU time over this side's rounds (null when the server is not on this machine). */
  postgresMs: number | null;
}

export async function benchAudit(databaseUrl: string, options: AuditBenchOptions): Promise<BenchmarkResult> {
  const app = await benchApp(databaseUrl, 2);
  try {
    await migrateAll(app);
  } finally {
    await app.close();
  }
  const postmaster = await withClient(databaseUrl, async (db) =>
    postmasterPidOf((await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid),
  );
  const postgresNow = () => (postmaster === null ? null : postgresCpuMs(postmaster));
  const token = new TokenService(BENCH_JWT_SECRET, claimsPolicy).sign({ subject: 'bench', role: 'admin', ttl: '1h' });
  const sides: Side[] = [];
  try {
    for (const audit of [true, false]) {
      const api = spawnAuditApi(await apiEnv(databaseUrl, BENCH_JWT_SECRET), audit);
      sides.push({ name: audit ? 'with' : 'without', api, loads: [], cpuMs: 0, postgresMs: 0 });
      await waitReady(api, performance.now());
    }
    let counter = 0;
    const variables = (phase: string) => () => {
      const n = counter++;
      return {
        input: { payee: { kind: 'PARK', id: `bench-park-${n % options.parks}` }, amount: '100', currency: 'RUB', reference: `${phase}-${n}`, reason: 'bench accrual' },
      };
    };
    const load = (side: Side, durationS: number, phase: string) =>
      graphqlLoad({ url: `${side.api.url}/graphql`, token, query: RECORD_ACCRUAL, connections: options.connections, durationS, variables: variables(phase) });
    // Warm-up: every park's accounts opened, both processes' code and statements warm.
    for (const side of sides) await load(side, options.warmupS, `warmup-${side.name}`);
    for (let round_ = 0; round_ < options.rounds; round_ += 1) {
      const order = round_ % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        await sleep(300);
        const [before, postgresBefore] = [cpuTimeMs(side.api.pid), postgresNow()];
        side.loads.push(await load(side, options.durationS, `run-${side.name}`));
        side.cpuMs += cpuTimeMs(side.api.pid) - before;
        const postgresAfter = postgresNow();
        side.postgresMs = side.postgresMs === null || postgresBefore === null || postgresAfter === null ? null : side.postgresMs + postgresAfter - postgresBefore;
      }
    }
  } finally {
    for (const side of sides) await side.api.stop();
  }
  const failures = sides.flatMap((side) => side.loads).reduce((sum, l) => sum + l.failures.errors + l.failures.non2xx + l.failures.graphqlErrors, 0);
  if (failures > 0) throw new Error(`recordAccrual failed under load ${failures} times:\n${sides.map((s) => s.api.output().slice(-2000)).join('\n')}`);

  const [withAudit, without] = sides as [Side, Side];
  const requests = (side: Side) => side.loads.reduce((sum, l) => sum + l.requests, 0);
  const rps = (side: Side) => requests(side) / side.loads.reduce((sum, l) => sum + l.durationS, 0);
  const p99 = (side: Side) => Math.max(...side.loads.map((l) => l.latencyMs.p99));
  const entries = await withClient(databaseUrl, async (db) =>
    Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM audit_entry WHERE operation = 'recordAccrual' AND outcome = 'OK'")).rows[0]!.n),
  );
  if (entries < requests(withAudit)) throw new Error(`${requests(withAudit)} audited answers but only ${entries} audit entries`);
  const slower = 1 - rps(withAudit) / rps(without);
  const cpu = (side: Side) =>
    `API CPU ${round(side.cpuMs / requests(side), 3)} ms, PostgreSQL CPU ${side.postgresMs === null ? 'n/a' : round(side.postgresMs / requests(side), 3)} ms per request`;
  const load = `${options.connections} connections, ${options.rounds} × ${options.durationS} s per side in turns, after ${options.warmupS} s warm-up`;
  return {
    name: 'audit',
    figures: [
      {
        key: 'audit.recordAccrual.rps',
        label: 'recordAccrual with its audit entry, requests per second',
        value: round(rps(withAudit), 0),
        unit: '/s',
        note: `${load}; p99 ${p99(withAudit)} ms; ${cpu(withAudit)}`,
      },
      {
        key: 'audit.baseline.rps',
        label: 'recordAccrual without the audit module, requests per second',
        value: round(rps(without), 0),
        unit: '/s',
        note: `the same API without the audit module; p99 ${p99(without)} ms; ${cpu(without)}`,
      },
      {
        key: 'audit.ratio',
        label: 'recordAccrual with its audit entry ÷ without (rates)',
        value: round(rps(withAudit) / rps(without), 2),
        unit: '×',
        target: { op: '>=', value: 0.85 },
        note: `${round(slower * 100, 1)}% slower (target ≤ 15%); per round, with / without: ${withAudit.loads
          .map((l, i) => `${round(l.requestsPerSecond, 0)}/${round(without.loads[i]!.requestsPerSecond, 0)}`)
          .join(', ')}`,
      },
    ],
    details: {
      entries,
      rounds: sides.map((side) => ({ side: side.name, loads: side.loads, cpuMs: side.cpuMs, postgresMs: side.postgresMs })),
    },
    notes: [],
  };
}
