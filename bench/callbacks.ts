import { createApp, loadAppSettings, type App } from '../src/app/app';
import { parksModule } from '../src/parks/module';
import { createLogger } from '../src/platform/logger';
import { walletsModule } from '../src/wallets/module';
import { BENCH_WALLET_KEYS, childEnv, cpuTimeMs, freePort, memoryOf, spawnService, waitReady } from './lib/child';
import { BENCH_JWT_SECRET, gatherStatistics, withClient } from './lib/database';
import { httpLoad } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { round } from './lib/stats';

/**
 * Issue 14's figure: QIWI pay callbacks per second and their p99 at a fixed number of connections
 * against a running `payouts callbacks` process, beside the same process's `/healthz` in the same
 * run (its floor: HTTP alone). Every pay is a new payment (a new `txn_id`) to one of `drivers`
 * drivers: the link's look-up, the driver's check and the recorded top-up with its credit job.
 * No worker runs: crediting is a job of its own and not part of the answer.
 */

export interface CallbacksBenchOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  drivers: number;
}

async function benchApp(databaseUrl: string): Promise<App> {
  const env = { NODE_ENV: 'production', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', JWT_SECRET: BENCH_JWT_SECRET, WALLET_KEYS: BENCH_WALLET_KEYS };
  return createApp({ settings: loadAppSettings(env), logger: createLogger('warn'), databaseUrl });
}

/** A park with its drivers and a QIWI wallet; the secret of the link issued for it. */
async function seed(databaseUrl: string, drivers: number): Promise<string> {
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
      return issued.url.split('/').at(-1)!;
    });
  } finally {
    await app.close();
  }
}

export async function benchCallbacks(databaseUrl: string, options: CallbacksBenchOptions): Promise<BenchmarkResult> {
  const secret = await seed(databaseUrl, options.drivers);
  const port = String(await freePort());
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
  try {
    await waitReady(service, performance.now());
    const path = `/callbacks/qiwi/${secret}`;
    let n = 0;
    const base = BigInt(Date.now()) * 1000n;
    const pay = () => {
      n += 1;
      return { path: `${path}?command=pay&txn_id=${base + BigInt(n)}&txn_date=20261203120000&account=d${n % options.drivers}&sum=10.00&ccy=RUB` };
    };
    const first = await fetch(`${service.url}${pay().path}`);
    const firstAnswer = await first.text();
    if (!firstAnswer.includes('<result>0</result>')) throw new Error(`the pay callback does not answer 0: ${first.status} ${firstAnswer.slice(0, 300)}`);

    const run = async (target: { url: string; next?: () => { path: string }; verifyBody: (body: string) => boolean }) => {
      const warmup = await httpLoad({ ...target, method: 'GET', connections: options.connections, durationS: options.warmupS });
      // The warm-up made the first top-ups and credit jobs of this database (planned on empty tables).
      if (target.next) await gatherStatistics(databaseUrl);
      const cpuBefore = cpuTimeMs(service.pid);
      const load = await httpLoad({ ...target, method: 'GET', connections: options.connections, durationS: options.durationS });
      const failures = load.failures.errors + load.failures.timeouts + load.failures.non2xx + load.failures.wrongAnswers;
      if (failures > 0) throw new Error(`${target.url.split('/callbacks')[0]}… failed under load: ${JSON.stringify(load.failures)}`);
      const answered = warmup.requestsPerSecond * warmup.durationS + load.requestsPerSecond * load.durationS;
      return { load, answered: Math.round(answered), cpuMsPerRequest: round((cpuTimeMs(service.pid) - cpuBefore) / Math.max(1, load.requests), 3) };
    };
    const health = await run({ url: `${service.url}/healthz`, verifyBody: (body) => body.includes('"ok"') });
    const pays = await run({ url: `${service.url}${path}`, next: pay, verifyBody: (body) => body.includes('<result>0</result>') });

    // Every answered pay is a recorded top-up, and nothing more than was asked: the load generator
    // prepares a request per connection that the end of the run may leave unsent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const recorded = await withClient(databaseUrl, async (db) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM topup_transaction`)).rows[0]!.n));
    const answered = 1 + pays.answered;
    if (recorded < answered || recorded > n) throw new Error(`${answered} pays answered of ${n} prepared, ${recorded} top-ups recorded`);
    const rssMb = memoryOf(service.pid)?.rssMb ?? null;

    return {
      name: 'callbacks',
      figures: [
        {
          key: 'callbacks.pay.rps',
          label: `QIWI pay callbacks per second (${options.connections} connections, each a new payment)`,
          value: round(pays.load.requestsPerSecond, 0),
          unit: '/s',
          note: `${round(pays.cpuMsPerRequest, 2)} ms of the process's CPU each; the seed expects ≤ 10/s`,
        },
        { key: 'callbacks.pay.p99', label: 'pay callback p99', value: pays.load.latencyMs.p99, unit: 'ms', target: { op: '<=', value: 50 } },
        { key: 'callbacks.healthz.rps', label: `/healthz of the same process per second (${options.connections} connections)`, value: round(health.load.requestsPerSecond, 0), unit: '/s' },
        {
          key: 'callbacks.pay.ratio',
          label: 'pay callbacks ÷ /healthz (requests per second)',
          value: round(pays.load.requestsPerSecond / health.load.requestsPerSecond, 2),
          unit: '×',
          target: { op: '>=', value: 0.3 },
        },
      ],
      details: { health: health.load, pays: pays.load, payCpuMsPerRequest: pays.cpuMsPerRequest, healthCpuMsPerRequest: health.cpuMsPerRequest, recorded, rssMb, options },
      notes: [
        `${recorded} pay callbacks recorded as top-ups (warm-up included), p50 ${pays.load.latencyMs.p50} ms; /healthz p99 ${health.load.latencyMs.p99} ms`,
      ],
    };
  } finally {
    await service.stop();
  }
}
