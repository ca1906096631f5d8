import path from 'node:path';
import { createApp, loadAppSettings, type App } from '../src/app/app';
import { parksModule } from '../src/parks/module';
import { topupsModule } from '../src/topups/module';
import { createLogger } from '../src/platform/logger';
import { walletsModule } from '../src/wallets/module';
import { BENCH_WALLET_KEYS, childEnv, cpuTimeMs, freePort, memoryOf, spawnScript, spawnService, waitReady } from './lib/child';
import { BENCH_JWT_SECRET, gatherStatistics, postgresCpu, withClient } from './lib/database';
import { httpLoad, type HttpLoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { percentile, round } from './lib/stats';

/**
 * Issue 14's figure: QIWI pay callbacks per second and their p99 at a fixed number of connections
 * against a running `payouts callbacks` process, beside the same process's `/healthz` in
 * alternating rounds of the same run (its floor: HTTP alone). Every pay is a new payment (a new
 * `txn_id`) to one of `drivers` drivers: the link (kept after the first), the driver's check and
 * the recorded top-up. No worker runs: crediting is the credit gate's and not part of the answer;
 * the gate's own code is timed afterwards over the recorded pays. A third kind of round measures a
 * hand-written floor (`lib/plain-pays.ts`): the same durable pay with nothing else around it, so
 * that the gap to `/healthz` splits into this machine's share and the service's.
 */

export interface CallbacksBenchOptions {
  connections: number;
  /** Of each, /healthz, the pays and the floor's pays, split into `rounds` alternating rounds. */
  durationS: number;
  rounds: number;
  warmupS: number;
  /** How many of the recorded pays the credit gate's code credits afterwards, timed. */
  credits: number;
  drivers: number;
}

async function benchApp(databaseUrl: string): Promise<App> {
  const env = { NODE_ENV: 'production', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', JWT_SECRET: BENCH_JWT_SECRET, WALLET_KEYS: BENCH_WALLET_KEYS };
  return createApp({ settings: loadAppSettings(env), logger: createLogger('warn'), databaseUrl });
}

/**
 * A park with its drivers, a QIWI wallet and the secret of the link issued for it; and a QIWI_MD
 * wallet of the same park for the hand-written floor's pays.
 */
async function seed(databaseUrl: string, drivers: number): Promise<{ secret: string; floorWalletId: string }> {
  const app = await benchApp(databaseUrl);
  try {
    const { parks, drivers: driverService } = app.use(parksModule);
    const { wallets, links } = app.use(walletsModule);
    return await app.orm.em.fork().transactional(async (tx) => {
      await parks.upsert(tx, { parkId: 'bench-cb', name: 'Bench', currency: 'RUB', email: null, timezone: 'Europe/Moscow', status: 'ACTIVE', occurredAt: new Date() }, null);
      for (let i = 0; i < drivers; i++) {
        await driverService.upsert(tx, { parkId: 'bench-cb', driverId: `d${i}`, name: `Driver ${i}`, phone: null, status: 'WORKING', occurredAt: new Date() });
      }
      const wallet = await wallets.create(
        tx,
        { parkId: 'bench-cb', paymentSystem: 'QIWI', title: 'Bench', currency: 'RUB', enabled: true, minAmount: null, maxAmount: null, credentials: null },
        'bench',
      );
      const issued = await links.issue(tx, wallet, 'bench');
      const floorWallet = await wallets.create(
        tx,
        { parkId: 'bench-cb', paymentSystem: 'QIWI_MD', title: 'Bench floor', currency: 'RUB', enabled: true, minAmount: null, maxAmount: null, credentials: null },
        'bench',
      );
      return { secret: issued.url.split('/').at(-1)!, floorWalletId: floorWallet.id };
    });
  } finally {
    await app.close();
  }
}

export async function benchCallbacks(databaseUrl: string, options: CallbacksBenchOptions): Promise<BenchmarkResult> {
  const { secret, floorWalletId } = await seed(databaseUrl, options.drivers);
  const [port, floorPort] = [String(await freePort()), String(await freePort())];
  // `url` is built from PORT: the callbacks process serves its /readyz on CALLBACK_PORT, the same port.
  const service = spawnService(
    'callbacks',
    childEnv({
      PORT: port,
      CALLBACK_PORT: port,
      DATABASE_URL: databaseUrl,
      JWT_SECRET: BENCH_JWT_SECRET,
      // The limits guard against floods from the internet; the benchmark is one address and one link.
      CALLBACK_RATE_PER_ADDRESS: '1000000000',
      CALLBACK_RATE_PER_LINK: '1000000000',
    }),
  );
  const floor = spawnScript(FLOOR_SERVER, [], childEnv({ PORT: floorPort, DATABASE_URL: databaseUrl, WALLET_ID: floorWalletId, PARK_ID: 'bench-cb' }));
  try {
    await Promise.all([waitReady(service, performance.now()), waitReady(floor, performance.now())]);
    const payPath = `/callbacks/qiwi/${secret}`;
    const base = BigInt(Date.now()) * 1000n;
    // A new payment each time, to one of the drivers in turn; the service's and the floor's counted apart.
    const payments = () => {
      const counter = {
        prepared: 0,
        next: () => {
          counter.prepared += 1;
          return `?command=pay&txn_id=${base + BigInt(counter.prepared)}&txn_date=20261203120000&account=d${counter.prepared % options.drivers}&sum=10.00&ccy=RUB`;
        },
      };
      return counter;
    };
    const servicePays = payments();
    const floorPays = payments();
    for (const [url, query] of [[`${service.url}${payPath}`, servicePays.next()], [`${floor.url}/pay`, floorPays.next()]] as const) {
      const first = await fetch(`${url}${query}`);
      const firstAnswer = await first.text();
      if (!firstAnswer.includes('<result>0</result>')) throw new Error(`${url.split('/callbacks')[0]}: the pay does not answer 0: ${first.status} ${firstAnswer.slice(0, 300)}`);
    }

    const targets: Record<Kind, LoadTarget> = {
      health: { url: `${service.url}/healthz`, pid: service.pid, verifyBody: (body) => body.includes('"ok"') },
      // The floor's own /healthz: bare node:http, against which the service's shows what fastify and its hooks cost a request.
      floorHealth: { url: `${floor.url}/healthz`, pid: floor.pid, verifyBody: (body) => body.includes('"ok"') },
      pays: { url: `${service.url}${payPath}`, pid: service.pid, next: () => ({ path: `${payPath}${servicePays.next()}` }), verifyBody: (body) => body.includes('<result>0</result>') },
      floor: { url: `${floor.url}/pay`, pid: floor.pid, next: () => ({ path: `/pay${floorPays.next()}` }), verifyBody: (body) => body.includes('<result>0</result>') },
    };
    const load = async (target: LoadTarget, durationS: number) => {
      const result = await httpLoad({ ...target, method: 'GET', connections: options.connections, durationS });
      const failures = result.failures.errors + result.failures.timeouts + result.failures.non2xx + result.failures.wrongAnswers;
      if (failures > 0) throw new Error(`${target.url.split('/callbacks')[0]}… failed under load: ${JSON.stringify(result.failures)}`);
      return result;
    };

    const answered = { pays: 1, floor: 1 };
    await load(targets.health, options.warmupS);
    await load(targets.floorHealth, options.warmupS);
    answered.pays += (await load(targets.pays, options.warmupS)).requests;
    answered.floor += (await load(targets.floor, options.warmupS)).requests;
    // The warm-up made the first top-ups of this database (planned on empty tables).
    await gatherStatistics(databaseUrl);

    // The three in alternating rounds, so that all see the same machine: its speed here changes by
    // up to 2× within a minute, and a /healthz measured apart from the pays says as much about
    // that as about the pays.
    const postgresCpuMs = await postgresCpu(databaseUrl);
    const tallies: Record<Kind, Tally> = { health: new Tally(), pays: new Tally(), floor: new Tally(), floorHealth: new Tally() };
    for (let round = 0; round < options.rounds; round++) {
      for (const kind of KINDS) {
        const target = targets[kind];
        const before = { cpu: cpuTimeMs(target.pid), postgres: postgresCpuMs(), flushes: await walFlushes(databaseUrl), loadGenerator: process.cpuUsage() };
        const result = await load(target, options.durationS / options.rounds);
        const postgresAfter = postgresCpuMs();
        const loadGenerator = process.cpuUsage(before.loadGenerator);
        tallies[kind].add(result, {
          cpuMs: cpuTimeMs(target.pid) - before.cpu,
          // autocannon runs in this process: the client's share of the same two cores.
          loadGeneratorCpuMs: (loadGenerator.user + loadGenerator.system) / 1000,
          postgresCpuMs: before.postgres === null || postgresAfter === null ? null : postgresAfter - before.postgres,
          walFlushes: (await walFlushes(databaseUrl)) - before.flushes,
        });
        if (kind === 'pays' || kind === 'floor') answered[kind] += result.requests;
      }
    }
    const ratios = tallies.pays.rates.map((rate, i) => rate / tallies.health.rates[i]!);
    const floorRatios = tallies.floor.rates.map((rate, i) => rate / tallies.health.rates[i]!);

    // Every answered pay is a recorded top-up, and nothing more than was asked: the load generator
    // prepares a request per connection that the end of the run may leave unsent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const recordedBySystem = await withClient(databaseUrl, async (db) =>
      Object.fromEntries((await db.query<{ system: string; n: string }>(`SELECT payment_system AS system, count(*) AS n FROM topup_transaction GROUP BY 1`)).rows.map((row) => [row.system, Number(row.n)])),
    );
    for (const [kind, system, prepared] of [['pays', 'QIWI', servicePays.prepared], ['floor', 'QIWI_MD', floorPays.prepared]] as const) {
      const recorded = recordedBySystem[system] ?? 0;
      if (recorded < answered[kind] || recorded > prepared) throw new Error(`${kind}: ${answered[kind]} pays answered of ${prepared} prepared, ${recorded} top-ups recorded`);
    }
    const recorded = recordedBySystem.QIWI!;
    const rssMb = memoryOf(service.pid)?.rssMb ?? null;
    const credits = await creditRecorded(databaseUrl, Math.min(options.credits, recorded + (recordedBySystem.QIWI_MD ?? 0)));
    const payCpuMs = tallies.pays.perRequest('cpuMs');
    const payPostgresCpuMs = tallies.pays.perRequest('postgresCpuMs');
    // Everything on this machine that one request costs: the service, PostgreSQL, the load generator.
    const machineCpuMs = (tally: Tally) => (tally.perRequest('cpuMs') ?? 0) + (tally.perRequest('postgresCpuMs') ?? 0) + (tally.perRequest('loadGeneratorCpuMs') ?? 0);
    const cpuCeiling = machineCpuMs(tallies.health) / machineCpuMs(tallies.pays);
    const split = beyondTheFloor(tallies);

    return {
      name: 'callbacks',
      figures: [
        {
          key: 'callbacks.pay.rps',
          label: `QIWI pay callbacks per second (${options.connections} connections, each a new payment)`,
          value: round(tallies.pays.rate, 0),
          unit: '/s',
          note: `${payCpuMs} ms of the process's CPU each${payPostgresCpuMs === null ? '' : `, ${payPostgresCpuMs} ms of PostgreSQL's`}; the seed expects ≤ 10/s`,
        },
        { key: 'callbacks.pay.p99', label: 'pay callback p99 (the worst round)', value: tallies.pays.worstP99, unit: 'ms', target: { op: '<=', value: 50 } },
        { key: 'callbacks.healthz.rps', label: `/healthz of the same process per second (${options.connections} connections)`, value: round(tallies.health.rate, 0), unit: '/s' },
        {
          key: 'callbacks.credit.rps',
          label: `top-ups the credit gate credits per second (${credits.credited} of the recorded pays)`,
          value: round(credits.perSecond, 0),
          unit: '/s',
          note: `TOPUP_CREDIT_BATCH ${CREDIT_BATCH} a run, the ledger checked after`,
        },
        {
          key: 'callbacks.pay.ratio',
          label: `pay callbacks ÷ /healthz (requests per second, ${options.rounds} alternating rounds)`,
          value: round(tallies.pays.rate / tallies.health.rate, 2),
          unit: '×',
          target: { op: '>=', value: 0.3 },
          note: `rounds ${round(Math.min(...ratios), 2)}–${round(Math.max(...ratios), 2)}×`,
        },
        {
          key: 'callbacks.floor.rps',
          label: `the hand-written floor's pays per second (bare node:http, one pg connection, the same batched durable insert)`,
          value: round(tallies.floor.rate, 0),
          unit: '/s',
          note: `${round(tallies.floor.rate / tallies.health.rate, 2)}× of /healthz (rounds ${round(Math.min(...floorRatios), 2)}–${round(Math.max(...floorRatios), 2)}×)`,
        },
        {
          key: 'callbacks.pay.ofFloor',
          label: 'pay callbacks ÷ the hand-written floor (requests per second, the same rounds)',
          value: round(tallies.pays.rate / tallies.floor.rate, 2),
          unit: '×',
        },
      ],
      details: {
        health: tallies.health.summary(),
        pays: tallies.pays.summary(),
        floor: tallies.floor.summary(),
        roundRatios: ratios.map((ratio) => round(ratio, 3)),
        floorRoundRatios: floorRatios.map((ratio) => round(ratio, 3)),
        payCpuMsPerRequest: payCpuMs,
        payPostgresCpuMsPerRequest: payPostgresCpuMs,
        healthCpuMsPerRequest: tallies.health.perRequest('cpuMs'),
        floorCpuMsPerRequest: tallies.floor.perRequest('cpuMs'),
        floorPostgresCpuMsPerRequest: tallies.floor.perRequest('postgresCpuMs'),
        floorHealth: tallies.floorHealth.summary(),
        floorHealthCpuMsPerRequest: tallies.floorHealth.perRequest('cpuMs'),
        processCpuBeyondTheFloor: split,
        loadGeneratorCpuMsPerRequest: { pays: tallies.pays.perRequest('loadGeneratorCpuMs'), floor: tallies.floor.perRequest('loadGeneratorCpuMs'), health: tallies.health.perRequest('loadGeneratorCpuMs') },
        machineCpuMsPerRequest: { pays: round(machineCpuMs(tallies.pays), 3), floor: round(machineCpuMs(tallies.floor), 3), health: round(machineCpuMs(tallies.health), 3) },
        cpuCeilingOfRatio: round(cpuCeiling, 2),
        paysPerWalFlush: round(tallies.pays.served / Math.max(1, tallies.pays.walFlushes), 1),
        floorPaysPerWalFlush: round(tallies.floor.served / Math.max(1, tallies.floor.walFlushes), 1),
        recorded,
        rssMb,
        options,
      },
      notes: [
        `${recorded} pay callbacks recorded as top-ups (warm-up included), p50 ${tallies.pays.medianP50} ms; /healthz p99 ${tallies.health.worstP99} ms`,
        `CPU of the whole machine per request (service + PostgreSQL + load generator): pay ${round(machineCpuMs(tallies.pays), 3)} ms, /healthz ${round(machineCpuMs(tallies.health), 3)} ms; ` +
          `were both CPU-bound on these cores, the ratio could not pass ${round(cpuCeiling, 2)}×`,
        ...(split
          ? [
              `The process's CPU per pay beyond the floor's: ${split.totalMs} ms (${payCpuMs} against ${tallies.floor.perRequest('cpuMs')}), of which ${split.frameworkMs} ms is ` +
                `what a /healthz costs more on fastify with the service's hooks than on bare node:http (${tallies.health.perRequest('cpuMs')} against ${tallies.floorHealth.perRequest('cpuMs')} ms), ` +
                `and ${split.callbackPathMs} ms the callback path (link, protocol, limits, metrics, batching)`,
            ]
          : []),
        `${round(tallies.pays.walFlushes / tallies.pays.seconds, 0)} WAL flushes per second during the pays, ${round(tallies.pays.served / Math.max(1, tallies.pays.walFlushes), 1)} pays each: every answered pay waits for one`,
      ],
    };
  } finally {
    await Promise.all([service.stop(), floor.stop()]);
  }
}

/** The hand-written floor's server (`lib/plain-pays.ts`), as built beside this file. */
const FLOOR_SERVER = path.join(__dirname, 'lib', 'plain-pays.js');

/** The credit gate's default batch (`TOPUP_CREDIT_BATCH`). */
const CREDIT_BATCH = 200;

/**
 * Credits `count` of the recorded top-ups, oldest first, with the credit gate's own code in this
 * process (what `topup__credit_accepted` runs), as fast as it goes; then checks the ledger.
 */
async function creditRecorded(databaseUrl: string, count: number): Promise<{ credited: number; perSecond: number }> {
  const app = await benchApp(databaseUrl);
  try {
    const { topups } = app.use(topupsModule);
    let credited = 0;
    const started = performance.now();
    while (credited < count) {
      const { found, failed } = await topups.creditAccepted(app.orm.em.fork(), Math.min(CREDIT_BATCH, count - credited), 3600);
      if (failed > 0) throw new Error(`${failed} of ${found} top-ups failed to credit`);
      if (found === 0) break;
      credited += found;
    }
    const seconds = (performance.now() - started) / 1000;
    const processed = await withClient(databaseUrl, async (db) =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM topup_transaction WHERE status = 'PROCESSED'`)).rows[0]!.n),
    );
    if (processed !== credited) throw new Error(`${credited} top-ups credited, ${processed} PROCESSED`);
    const violations = await app.checkLedger();
    if (violations.length > 0) throw new Error(`the ledger check failed after crediting: ${JSON.stringify(violations.slice(0, 3))}`);
    return { credited, perSecond: credited / seconds };
  } finally {
    await app.close();
  }
}

/** The kinds of round, in the order each round runs them. */
const KINDS = ['health', 'pays', 'floor', 'floorHealth'] as const;
type Kind = (typeof KINDS)[number];

interface LoadTarget {
  url: string;
  /** The process serving it, whose CPU each request costs. */
  pid: number;
  next?: () => { path: string };
  verifyBody: (body: string) => boolean;
}

/**
 * Where the service's CPU per pay goes beyond the floor's, in ms: the HTTP framework (fastify and
 * the operations hooks, measured as /healthz on the service against /healthz on the floor's bare
 * node:http server) and the rest, the callback path. Null when a process's CPU could not be read.
 */
function beyondTheFloor(tallies: Record<Kind, Tally>): { totalMs: number; frameworkMs: number; callbackPathMs: number } | null {
  const [pay, floor, health, floorHealth] = [tallies.pays, tallies.floor, tallies.health, tallies.floorHealth].map((tally) => tally.perRequest('cpuMs'));
  if (pay == null || floor == null || health == null || floorHealth == null) return null;
  const totalMs = round(pay - floor, 3);
  const frameworkMs = round(health - floorHealth, 3);
  return { totalMs, frameworkMs, callbackPathMs: round(totalMs - frameworkMs, 3) };
}

/** WAL flushes of the whole server so far (`pg_stat_wal`): how many commits waited for the disk. */
async function walFlushes(databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (db) => Number((await db.query<{ n: string }>('SELECT wal_sync AS n FROM pg_stat_wal')).rows[0]!.n));
}

/** One kind of request's rounds, added up. */
class Tally {
  served = 0;
  seconds = 0;
  walFlushes = 0;
  readonly rates: number[] = [];
  private readonly p50s: number[] = [];
  private readonly p99s: number[] = [];
  /** PostgreSQL's CPU is null when it runs on another machine. */
  private readonly costs: { cpuMs: number; loadGeneratorCpuMs: number; postgresCpuMs: number | null } = { cpuMs: 0, loadGeneratorCpuMs: 0, postgresCpuMs: 0 };

  add(result: HttpLoadResult, measured: { cpuMs: number; postgresCpuMs: number | null; loadGeneratorCpuMs: number; walFlushes: number }): void {
    this.served += result.requestsPerSecond * result.durationS;
    this.seconds += result.durationS;
    this.walFlushes += measured.walFlushes;
    this.rates.push(result.requestsPerSecond);
    this.p50s.push(result.latencyMs.p50);
    this.p99s.push(result.latencyMs.p99);
    this.costs.cpuMs += measured.cpuMs;
    this.costs.loadGeneratorCpuMs += measured.loadGeneratorCpuMs;
    this.costs.postgresCpuMs = this.costs.postgresCpuMs === null || measured.postgresCpuMs === null ? null : this.costs.postgresCpuMs + measured.postgresCpuMs;
  }

  get rate(): number {
    return this.served / this.seconds;
  }

  get worstP99(): number {
    return Math.max(...this.p99s);
  }

  get medianP50(): number {
    return percentile(this.p50s, 50);
  }

  /** Milliseconds of a process's CPU per served request, or null if it could not be read. */
  perRequest(cost: 'cpuMs' | 'postgresCpuMs' | 'loadGeneratorCpuMs'): number | null {
    const total = this.costs[cost];
    return total === null ? null : round(total / Math.max(1, this.served), 3);
  }

  summary() {
    return { requestsPerSecond: round(this.rate, 0), served: Math.round(this.served), seconds: this.seconds, roundRates: this.rates.map((r) => round(r, 0)), p50s: this.p50s, p99s: this.p99s };
  }
}
