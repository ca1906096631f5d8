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
 * typical; the target) and `requestPayout` (the cheapest mutation there is: one statement, so the
 * audit's transaction around it shows most) at N connections through an API whose mutations write
 * their audit entry, beside the same API built without the audit module (bench/audit-api.ts), in
 * the same run. The two servers take turns, several rounds each, so a slow moment of the machine
 * weighs on both alike.
 */

export interface AuditBenchOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  /** Rounds per side, taken in turn. */
  rounds: number;
  /** Clients the accruals and payout requests go round. */
  payees: number;
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

/** One mutation measured on both servers: its documents and how each request's variables are made. */
interface Mutation {
  name: string;
  query: string;
  variables: (n: number, phase: string) => Record<string, unknown>;
  /** The bench's target (recordAccrual's); the other is shown for what it says. */
  target: boolean;
}

interface Side {
  name: 'with' | 'without';
  api: ServiceProcess;
}

interface Rounds {
  loads: LoadResult[];
  cpuMs: number;
  /** PostgreSQL's CPU time over these rounds (null when the server is not on this machine). */
  postgresMs: number | null;
}

/** The middle of the per-round ratios: a round that a burst of other work hit weighs no more than one. */
function medianRatio(withAudit: Rounds, without: Rounds): number {
  const ratios = withAudit.loads.map((l, i) => l.requestsPerSecond / without.loads[i]!.requestsPerSecond).sort((a, b) => a - b);
  const middle = Math.floor(ratios.length / 2);
  return ratios.length % 2 === 1 ? ratios[middle]! : (ratios[middle - 1]! + ratios[middle]!) / 2;
}

const REQUEST_PAYOUT = `mutation BenchRequestPayout($input: RequestPayoutInput!) {
  requestPayout(input: $input) { id status }
}`;

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
  // Accruals credit clients, so requestPayout finds every client known to the ledger.
  const client = (n: number) => `bench-client-${n % options.payees}`;
  const mutations: Mutation[] = [
    {
      name: 'recordAccrual',
      query: RECORD_ACCRUAL,
      variables: (n, phase) => ({
        input: { payee: { kind: 'CLIENT', id: client(n) }, amount: '100', currency: 'RUB', reference: `${phase}-${n}`, reason: 'bench accrual' },
      }),
      target: true,
    },
    {
      name: 'requestPayout',
      query: REQUEST_PAYOUT,
      variables: (n, phase) => ({ input: { clientId: client(n), idempotencyKey: `${phase}-${n}` } }),
      target: false,
    },
  ];
  const sides: Side[] = [];
  const measured = new Map<string, Rounds>();
  try {
    for (const audit of [true, false]) {
      const api = spawnAuditApi(await apiEnv(databaseUrl, BENCH_JWT_SECRET), audit);
      sides.push({ name: audit ? 'with' : 'without', api });
      await waitReady(api, performance.now());
    }
    let counter = 0;
    const load = (mutation: Mutation, side: Side, durationS: number, phase: string) =>
      graphqlLoad({
        url: `${side.api.url}/graphql`,
        token,
        query: mutation.query,
        connections: options.connections,
        durationS,
        variables: () => mutation.variables(counter++, phase),
      });
    for (const mutation of mutations) {
      // Warm-up: every client's accounts opened, both processes' code and statements warm.
      for (const side of sides) await load(mutation, side, options.warmupS, `warmup-${side.name}`);
      for (let round_ = 0; round_ < options.rounds; round_ += 1) {
        for (const side of round_ % 2 === 0 ? sides : [...sides].reverse()) {
          await sleep(300);
          const key = `${mutation.name}:${side.name}`;
          const rounds = measured.get(key) ?? { loads: [], cpuMs: 0, postgresMs: 0 };
          measured.set(key, rounds);
          const [before, postgresBefore] = [cpuTimeMs(side.api.pid), postgresNow()];
          rounds.loads.push(await load(mutation, side, options.durationS, `run-${side.name}`));
          rounds.cpuMs += cpuTimeMs(side.api.pid) - before;
          const postgresAfter = postgresNow();
          rounds.postgresMs =
            rounds.postgresMs === null || postgresBefore === null || postgresAfter === null ? null : rounds.postgresMs + postgresAfter - postgresBefore;
        }
      }
    }
  } finally {
    for (const side of sides) await side.api.stop();
  }
  const all = [...measured.values()].flatMap((rounds) => rounds.loads);
  const failures = all.reduce((sum, l) => sum + l.failures.errors + l.failures.non2xx + l.failures.graphqlErrors, 0);
  if (failures > 0) throw new Error(`mutations failed under load ${failures} times:\n${sides.map((s) => s.api.output().slice(-2000)).join('\n')}`);

  const requests = (rounds: Rounds) => rounds.loads.reduce((sum, l) => sum + l.requests, 0);
  const rps = (rounds: Rounds) => requests(rounds) / rounds.loads.reduce((sum, l) => sum + l.durationS, 0);
  const p99 = (rounds: Rounds) => Math.max(...rounds.loads.map((l) => l.latencyMs.p99));
  const cpu = (rounds: Rounds) =>
    `API CPU ${round(rounds.cpuMs / requests(rounds), 3)} ms, PostgreSQL CPU ${rounds.postgresMs === null ? 'n/a' : round(rounds.postgresMs / requests(rounds), 3)} ms per request`;
  const load = `${options.connections} connections, ${options.rounds} × ${options.durationS} s per side in turns, after ${options.warmupS} s warm-up`;
  const figures: BenchmarkResult['figures'] = [];
  const entries: Record<string, number> = {};
  for (const mutation of mutations) {
    const withAudit = measured.get(`${mutation.name}:with`)!;
    const without = measured.get(`${mutation.name}:without`)!;
    entries[mutation.name] = await withClient(databaseUrl, async (db) =>
      Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM audit_entry WHERE operation = $1 AND outcome = 'OK'", [mutation.name])).rows[0]!.n),
    );
    if (entries[mutation.name]! < requests(withAudit)) {
      throw new Error(`${requests(withAudit)} audited ${mutation.name} answers but only ${entries[mutation.name]} audit entries`);
    }
    const key = `audit.${mutation.name}`;
    figures.push(
      {
        key: `${key}.rps`,
        label: `${mutation.name} with its audit entry, requests per second`,
        value: round(rps(withAudit), 0),
        unit: '/s',
        note: `${load}; p99 ${p99(withAudit)} ms; ${cpu(withAudit)}`,
      },
      {
        key: `${key}.baseline.rps`,
        label: `${mutation.name} without the audit module, requests per second`,
        value: round(rps(without), 0),
        unit: '/s',
        note: `the same API built without the audit module; p99 ${p99(without)} ms; ${cpu(without)}`,
      },
      {
        key: `${key}.ratio`,
        label: `${mutation.name} with its audit entry ÷ without (rates)`,
        value: round(rps(withAudit) / rps(without), 2),
        unit: '×',
        ...(mutation.target ? { target: { op: '>=' as const, value: 0.85 } } : {}),
        note: `${round((1 - rps(withAudit) / rps(without)) * 100, 1)}% slower${mutation.target ? ' (target ≤ 15%)' : ''}; median of the rounds' ratios ${round(medianRatio(withAudit, without), 2)}×; per round, with / without: ${withAudit.loads
          .map((l, i) => `${round(l.requestsPerSecond, 0)}/${round(without.loads[i]!.requestsPerSecond, 0)}`)
          .join(', ')}`,
      },
    );
  }
  return {
    name: 'audit',
    figures,
    details: { entries, rounds: Object.fromEntries(measured) },
    notes: [],
  };
}
