import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { BENCH_JWT_SECRET, postgresCpu, withClient } from './lib/database';
import {
  apiEnv,
  childEnv,
  cpuTimeMs,
  machineBusyMs,
  memoryOf,
  sampleRss,
  spawnService,
  waitReady,
  type ServiceProcess,
} from './lib/child';
import { fundPayees } from './lib/funding';
import { graphqlLoad, type LoadResult } from './lib/load';
import type { BenchmarkResult } from './lib/report';
import { perItem, round, sleep } from './lib/stats';
import { TRIVIAL_QUERY } from './graphql-load';
import { benchApp } from './payout-writes';
import { countStatements, statementProfile } from './lib/statements';
import { requestsModule } from '../src/requests/module';
import { erpModule } from '../src/erp/module';

/**
 * Issue 4's figures: how fast `requestPayout` takes requests (next to a trivial query on the same
 * server), and how long a burst of requests takes from NEW until every payout is SENT through a
 * real worker process.
 */

const CURRENCY = 'RUB';
/** What each client is owed: every request of a funded client pays it in one payout. */
const FUNDING = 1000_00n;

export const REQUEST_PAYOUT = `mutation BenchRequestPayout($input: RequestPayoutInput!) {
  requestPayout(input: $input) { id status }
}`;

export interface RequestApiOptions {
  /** Funded clients the requests go round. */
  clients: number;
  connections: number;
  durationS: number;
  warmupS: number;
}

export interface RequestFlowOptions {
  /** Requests inserted at once, one per funded client, each paying one payout. */
  requests: number;
  /** The worker's settings. */
  gateInterval: string;
  requestLimit: number;
  senderLimit: number;
  /** The worker's PAYOUT_SENDER_CONCURRENCY; unset keeps the service default. */
  senderConcurrency: number | null;
  /** Give up waiting after this long (the figures then say how far it got). */
  timeoutS: number;
}

/** Funds `count` clients `prefix0…`, FUNDING each, in bulk (see fundPayees). */
function fundClients(databaseUrl: string, prefix: string, count: number): Promise<number> {
  return fundPayees(databaseUrl, { kind: 'CLIENT', prefix, count, amount: FUNDING, currency: CURRENCY });
}


/** One request made by hand first: a new key answers NEW, the same key again the same request. */
async function checkAnswer(url: string, token: string, clientId: string): Promise<void> {
  const ask = async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: REQUEST_PAYOUT, variables: { input: { clientId, idempotencyKey: 'bench-check' } } }),
    });
    const body = (await response.json()) as { data?: { requestPayout?: { id: string; status: string } }; errors?: unknown };
    if (response.status !== 200 || body.errors || body.data?.requestPayout?.status !== 'NEW') {
      throw new Error(`requestPayout does not answer a NEW request: ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
    }
    return body.data.requestPayout.id;
  };
  const [first, again] = [await ask(), await ask()];
  if (first !== again) throw new Error(`the same idempotency key gave two requests: ${first}, ${again}`);
}

interface QueryRun {
  load: LoadResult;
  maxRssMb: number;
  /** The API process's CPU time per answered request. */
  cpuMsPerRequest: number;
  /** PostgreSQL's CPU time per request (null when the server is not on this machine). */
  postgresMsPerRequest: number | null;
  /** The whole machine's busy CPU time per request, this benchmark's or not. */
  machineMsPerRequest: number;
}

/** `requestPayout` at `connections` connections, next to `{ __typename }` on the same server. */
export async function benchRequestApi(databaseUrl: string, options: RequestApiOptions): Promise<BenchmarkResult> {
  const prefix = 'bench-api-';
  const fundingMs = await fundClients(databaseUrl, prefix, options.clients);
  const clientIds = Array.from({ length: options.clients }, (_, n) => `${prefix}${n}`);

  // What one request costs the database, measured in this process on the same service code.
  const app = await benchApp(databaseUrl, 4);
  let recordStatements: ReturnType<typeof statementProfile>;
  try {
    const sample = 20;
    // As the resolver calls it: on the request's own fork, no transaction around it.
    const statements = await countStatements(app, async () => {
      for (let i = 0; i < sample; i += 1) {
        await app.use(requestsModule).requests.record(app.orm.em.fork(), { clientId: clientIds[i]!, idempotencyKey: `bench-sample-${i}`, actor: 'bench' });
      }
    });
    recordStatements = statementProfile(statements, sample);
  } finally {
    await app.close();
  }

  const env = await apiEnv(databaseUrl, BENCH_JWT_SECRET);
  const poolMax = env.DATABASE_POOL_MAX;
  const token = new TokenService(BENCH_JWT_SECRET, claimsPolicy).sign({ subject: 'bench', role: 'admin', ttl: '1h' });
  const postgresNow = await postgresCpu(databaseUrl);
  const api = spawnService('api', env);
  try {
    await waitReady(api, performance.now());
    await sleep(500);
    await checkAnswer(api.url, token, clientIds[0]!);

    // Every request a fresh key, the clients in turn: each one is a new NEW request.
    let counter = 0;
    const variables = (phase: string) => () => {
      const n = counter++;
      return { input: { clientId: clientIds[n % clientIds.length]!, idempotencyKey: `bench-${phase}-${n}` } };
    };
    const run = async (query: string, phase: string | null): Promise<QueryRun> => {
      const target = { url: `${api.url}/graphql`, token, query, connections: options.connections };
      await graphqlLoad({ ...target, durationS: options.warmupS, ...(phase ? { variables: variables(`${phase}-warmup`) } : {}) });
      const sampler = sampleRss(api.pid);
      const [cpuBefore, machineBefore, postgresBefore] = [cpuTimeMs(api.pid), machineBusyMs(), postgresNow()];
      const load = await graphqlLoad({ ...target, durationS: options.durationS, ...(phase ? { variables: variables(phase) } : {}) });
      const postgresAfter = postgresNow();
      const [cpuMs, machineMs] = [cpuTimeMs(api.pid) - cpuBefore, machineBusyMs() - machineBefore];
      return {
        load,
        maxRssMb: sampler.stop(),
        cpuMsPerRequest: perItem(cpuMs, load.requests)!,
        postgresMsPerRequest: postgresBefore === null || postgresAfter === null ? null : perItem(postgresAfter - postgresBefore, load.requests),
        machineMsPerRequest: perItem(machineMs, load.requests)!,
      };
    };
    const trivial = await run(TRIVIAL_QUERY, null);
    const requests = await run(REQUEST_PAYOUT, 'run');

    await sleep(500);
    const stopped = await api.stop();
    if (stopped.code !== 0) throw new Error(`the API did not exit cleanly: ${JSON.stringify(stopped)}\n${api.output().slice(-4000)}`);
    const failures = (r: LoadResult) => r.failures.errors + r.failures.non2xx + r.failures.graphqlErrors;
    if (failures(trivial.load) + failures(requests.load) > 0) {
      throw new Error(`requests failed under load: ${JSON.stringify({ trivial: trivial.load.failures, requestPayout: requests.load.failures })}`);
    }

    // Every answered request is a stored NEW request of its own.
    const stored = await withClient(databaseUrl, async (db) =>
      Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM payout_request WHERE idempotency_key LIKE 'bench-run-%' AND status = 'NEW'`))
          .rows[0]!.n,
      ),
    );
    const served = Math.round(requests.load.requestsPerSecond * requests.load.durationS);
    if (stored < served) throw new Error(`${served} requestPayout answers but only ${stored} requests stored`);
    // The flow benchmark starts from an empty queue; these were never taken by a worker.
    await withClient(databaseUrl, (db) => db.query(`DELETE FROM payout_request WHERE client_id LIKE 'bench-api-%'`));

    const load = `${options.connections} connections, ${options.durationS} s after ${options.warmupS} s warm-up`;
    return {
      name: 'requests-api',
      figures: [
        {
          key: 'requests.api.rps',
          label: 'requestPayout, requests per second',
          value: round(requests.load.requestsPerSecond, 0),
          unit: '/s',
          target: { op: '>=', value: 2000 },
          note: `${load}; a new idempotency key each, ${options.clients.toLocaleString('en-US')} funded clients`,
        },
        {
          key: 'requests.api.p99',
          label: 'requestPayout, p99 latency',
          value: requests.load.latencyMs.p99,
          unit: 'ms',
          target: { op: '<=', value: 50 },
          note: `p50 ${requests.load.latencyMs.p50} ms; ${recordStatements.perCall} statement(s) per request`,
        },
        {
          key: 'requests.api.cpu',
          label: 'requestPayout, CPU per request: API process',
          value: requests.cpuMsPerRequest,
          unit: 'ms',
          note: `{ __typename } ${trivial.cpuMsPerRequest} ms; steadier than the rates when other work shares the machine, not immune to it`,
        },
        {
          key: 'requests.api.postgresCpu',
          label: 'requestPayout, CPU per request: PostgreSQL',
          value: requests.postgresMsPerRequest,
          unit: 'ms',
          note: `the whole machine ${requests.machineMsPerRequest} ms per request, the load generator included`,
        },
        {
          key: 'requests.trivial.rps',
          label: 'GraphQL { __typename }, requests per second',
          value: round(trivial.load.requestsPerSecond, 0),
          unit: '/s',
          note: `same server, same run, ${options.connections} connections; ${trivial.cpuMsPerRequest} ms of CPU per request`,
        },
        { key: 'requests.trivial.p99', label: 'GraphQL { __typename }, p99 latency', value: trivial.load.latencyMs.p99, unit: 'ms' },
        {
          key: 'requests.api.ratio',
          label: 'requestPayout ÷ trivial (requests per second)',
          value: round(requests.load.requestsPerSecond / trivial.load.requestsPerSecond, 2),
          unit: '×',
        },
      ],
      details: {
        options,
        apiPoolMax: poolMax ?? 'service default',
        fundingMs: round(fundingMs, 0),
        statementsPerRequest: recordStatements,
        trivial,
        requestPayout: requests,
        storedRequests: stored,
        rss: { afterMb: round(memoryOf(api.pid)?.rssMb ?? Number.NaN, 1), maxUnderLoadMb: round(requests.maxRssMb, 1) },
        stop: stopped,
      },
      notes: [
        `requestPayout: \`payouts api\` in its own process (NODE_ENV=production, LOG_LEVEL=warn, DATABASE_POOL_MAX=${poolMax ?? 'default'}); autocannon sends the admin-token mutation on ${options.connections} connections, each request with a new idempotency key for the next of ${options.clients.toLocaleString('en-US')} funded clients, so every answer is a stored NEW request (counted afterwards); any non-2xx answer or GraphQL error fails the run. CPU per request is from /proc: the API process, and PostgreSQL's processes (postmaster, backends, exited backends).`,
      ],
    };
  } finally {
    await api.stop(5000);
  }
}

interface Progress {
  new: number;
  created: number;
  sent: number;
}

async function progress(db: import('pg').Client): Promise<Progress> {
  // One statement, one snapshot: a batch's requests leave NEW as its payouts appear CREATED.
  const row = (
    await db.query<{ new: string; created: string; sent: string }>(
      `SELECT (SELECT count(*) FROM payout_request WHERE status = 'NEW') AS new,
              (SELECT count(*) FROM payout WHERE status = 'CREATED') AS created,
              (SELECT count(*) FROM cash_payment_fact) AS sent`,
    )
  ).rows[0]!;
  return { new: Number(row.new), created: Number(row.created), sent: Number(row.sent) };
}

/**
 * Whether any request is NEW or any payout CREATED: one statement, one snapshot, and two index
 * probes, so polling it every 250 ms costs the flow nothing (the counts above scan up to 100,000
 * rows each, and are taken only for the progress line every 2 s).
 */
async function pending(db: import('pg').Client): Promise<{ anyNew: boolean; anyCreated: boolean }> {
  const row = (
    await db.query<{ any_new: boolean; any_created: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM payout_request WHERE status = 'NEW') AS any_new,
              EXISTS (SELECT 1 FROM payout WHERE status = 'CREATED') AS any_created`,
    )
  ).rows[0]!;
  return { anyNew: row.any_new, anyCreated: row.any_created };
}

/** What the database's sessions were waiting on, counted over every poll. */
async function sampleWaits(db: import('pg').Client, waits: Map<string, number>): Promise<void> {
  const rows = await db.query<{ wait: string; n: string }>(
    `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait, count(*) AS n
       FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
      GROUP BY 1`,
  );
  for (const r of rows.rows) waits.set(r.wait, (waits.get(r.wait) ?? 0) + Number(r.n));
}

/**
 * How many jobs of each task the worker is running right now: a gate drains in one job, but
 * graphile-worker gives a running job's key to a new job when the crontab or the outbox waker
 * adds one, so more can run at once (up to WORKER_CONCURRENCY).
 */
async function sampleRunningJobs(db: import('pg').Client, most: Map<string, number>): Promise<void> {
  const rows = await db.query<{ task: string; n: string }>(
    `SELECT t.identifier AS task, count(*) AS n FROM graphile_worker._private_jobs j
       JOIN graphile_worker._private_tasks t ON t.id = j.task_id
      WHERE j.locked_at IS NOT NULL GROUP BY 1`,
  );
  for (const r of rows.rows) most.set(r.task, Math.max(most.get(r.task) ?? 0, Number(r.n)));
}

/** Everything the flow should have left: each request DONE with one SENT payout, its fact and its message. */
async function verifyFlow(databaseUrl: string, expected: number) {
  const app = await benchApp(databaseUrl, 2);
  try {
    const em = app.orm.em.fork();
    const [counts] = await em.execute<Record<string, string>[]>(
      `SELECT (SELECT count(*) FROM payout_request) AS requests,
              (SELECT count(*) FROM payout_request WHERE status = 'DONE') AS done,
              (SELECT count(*) FROM payout WHERE source = 'REQUEST') AS payouts,
              (SELECT count(*) FROM payout WHERE source = 'REQUEST' AND status = 'SENT') AS sent,
              (SELECT count(DISTINCT source_ref) FROM payout WHERE source = 'REQUEST') AS requests_paid,
              (SELECT count(*) FROM cash_payment_fact) AS facts,
              (SELECT count(*) FROM outbox_message WHERE topic = 'erp.payouts') AS erp_messages,
              (SELECT count(*) FROM ledger_account WHERE type = 'payout' AND owner_kind = 'CLIENT' AND owner_id LIKE 'bench-flow-%'
                  AND balance <> 0) AS unpaid_balances`,
    );
    const want: Record<string, number> = {
      requests: expected,
      done: expected,
      payouts: expected,
      sent: expected,
      requests_paid: expected,
      facts: expected,
      erp_messages: expected,
      unpaid_balances: 0,
    };
    const wrong = Object.entries(want).filter(([k, v]) => Number(counts![k]) !== v);
    if (wrong.length > 0) throw new Error(`the flow left the wrong rows: ${JSON.stringify({ counts, want })}`);
    const began = performance.now();
    const violations = await app.checkLedger(em);
    if (violations.length > 0) throw new Error(`ledger invariants broken: ${JSON.stringify(violations.slice(0, 5))}`);
    return { counts: Object.fromEntries(Object.entries(counts!).map(([k, v]) => [k, Number(v)])), ledgerCheck: 'ok', ledgerCheckMs: round(performance.now() - began, 0) };
  } finally {
    await app.close();
  }
}

/** Waits until `done()` holds, polling every 100 ms; fails with the worker's output after `timeoutMs`. */
async function waitFor(worker: ServiceProcess, what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const began = performance.now();
  let exited = false;
  void worker.exited.then(() => (exited = true));
  while (!(await done())) {
    if (exited) throw new Error(`the worker exited while waiting for ${what}:\n${worker.output().slice(-4000)}`);
    if (performance.now() - began > timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms:\n${worker.output().slice(-4000)}`);
    await sleep(100);
  }
}

/**
 * `requests` NEW requests for as many funded clients, committed at once while a real worker
 * (`payouts worker`) runs; the time until every request is DONE and every payout SENT.
 */
export async function benchRequestFlow(databaseUrl: string, options: RequestFlowOptions): Promise<BenchmarkResult> {
  const prefix = 'bench-flow-';
  const fundingMs = await fundClients(databaseUrl, prefix, options.requests + 21);
  // Client n pays request n; the last 21 are for the statement sample and the worker's probe.
  const insertRequests = (db: import('pg').Client, from: number, to: number, tag: string) =>
    db.query(
      `INSERT INTO payout_request (id, client_id, idempotency_key, requested_by)
       SELECT gen_random_uuid(), $1 || n, $2 || n, 'bench' FROM generate_series($3::int, $4::int) n`,
      [prefix, `bench-${tag}-`, from, to],
    );

  // Statements per request and per payout, from the same services in this process on 20 requests.
  const sample = 20;
  const app = await benchApp(databaseUrl, 10);
  let perRequest: ReturnType<typeof statementProfile>;
  let perPayout: ReturnType<typeof statementProfile>;
  try {
    await withClient(databaseUrl, (db) => insertRequests(db, options.requests, options.requests + sample - 1, 'sample'));
    perRequest = statementProfile(await countStatements(app, () => app.use(requestsModule).requests.processBatch(sample), 60), sample);
    perPayout = statementProfile(await countStatements(app, () => app.use(erpModule).gateway.sendBatch(sample), 60), sample);
  } finally {
    await app.close();
  }

  const workerSettings: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: BENCH_JWT_SECRET,
    PAYOUT_REQ_GATE_INTERVAL: options.gateInterval,
    PAYOUT_OEBS_GATE_INTERVAL: options.gateInterval,
    PAYOUT_REQUEST_LIMIT: String(options.requestLimit),
    PAYOUT_SENDER_LIMIT: String(options.senderLimit),
    ...(options.senderConcurrency ? { PAYOUT_SENDER_CONCURRENCY: String(options.senderConcurrency) } : {}),
    ...(process.env.BENCH_WORKER_POOL_MAX ? { DATABASE_POOL_MAX: process.env.BENCH_WORKER_POOL_MAX } : {}),
    ...(process.env.WORKER_LOCAL_QUEUE ? { WORKER_LOCAL_QUEUE: process.env.WORKER_LOCAL_QUEUE } : {}),
  };
  const postgresNow = await postgresCpu(databaseUrl);
  const worker = spawnService('worker', childEnv(workerSettings));
  const db = new (await import('pg')).Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    // The worker is up once it has paid a probe request end to end.
    await insertRequests(db, options.requests + sample, options.requests + sample, 'probe');
    const probeBegan = performance.now();
    await waitFor(worker, 'probe request paid', async () => {
      const p = await progress(db);
      return p.new === 0 && p.created === 0 && p.sent === sample + 1;
    }, 60_000);
    const probeMs = performance.now() - probeBegan;

    // The burst: every request commits at once, t0 is the commit.
    const insertBegan = performance.now();
    await db.query('BEGIN');
    await insertRequests(db, 0, options.requests - 1, 'flow');
    await db.query('COMMIT');
    const t0 = performance.now();
    const insertMs = t0 - insertBegan;
    const [workerCpu0, machine0, postgres0] = [cpuTimeMs(worker.pid), machineBusyMs(), postgresNow()];
    const rss = sampleRss(worker.pid);

    const baseline = sample + 1;
    const waits = new Map<string, number>();
    const mostRunning = new Map<string, number>();
    const timeline: { s: number; done: number; sent: number }[] = [];
    let allDoneMs: number | null = null;
    let allSentMs: number | null = null;
    let last: Progress = { new: options.requests, created: 0, sent: baseline };
    let lastPrint = 0;
    let polls = 0;
    let exited = false;
    void worker.exited.then(() => (exited = true));
    while (performance.now() - t0 < options.timeoutS * 1000) {
      await sleep(250);
      if (exited) throw new Error(`the worker exited during the flow:\n${worker.output().slice(-4000)}`);
      const now = await pending(db);
      await sampleWaits(db, waits);
      await sampleRunningJobs(db, mostRunning);
      polls += 1;
      const elapsed = performance.now() - t0;
      if (allDoneMs === null && !now.anyNew) allDoneMs = elapsed;
      const finished = !now.anyNew && !now.anyCreated;
      if (finished || elapsed - lastPrint >= 2000) {
        last = await progress(db);
        const done = options.requests - last.new;
        const sent = last.sent - baseline;
        if (elapsed - lastPrint >= 2000) {
          lastPrint = elapsed;
          timeline.push({ s: round(elapsed / 1000, 1), done, sent });
          console.error(`   ${(elapsed / 1000).toFixed(1).padStart(6)} s  requests done ${done.toLocaleString('en-US').padStart(7)}  payouts sent ${sent.toLocaleString('en-US').padStart(7)}`);
        }
        if (finished && sent >= options.requests) {
          allSentMs = elapsed;
          break;
        }
      }
    }
    const workerCpuMs = cpuTimeMs(worker.pid) - workerCpu0;
    const machineMs = machineBusyMs() - machine0;
    const postgres1 = postgresNow();
    const postgresMs = postgres0 === null || postgres1 === null ? null : postgres1 - postgres0;
    const maxRssMb = rss.stop();
    const elapsedMs = allSentMs ?? performance.now() - t0;
    const stopped = await worker.stop();
    if (stopped.code !== 0) throw new Error(`the worker did not exit cleanly: ${JSON.stringify(stopped)}\n${worker.output().slice(-4000)}`);
    const errors = worker.output().split('\n').filter((l) => /"level":(50|60)/.test(l));

    const sentCount = last.sent - baseline;
    const verification = allSentMs !== null ? await verifyFlow(databaseUrl, options.requests + baseline) : null;
    const waitShare = Object.fromEntries(
      [...waits].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / Math.max(1, polls), 2)]),
    );
    const n = options.requests.toLocaleString('en-US');
    return {
      name: 'requests-flow',
      figures: [
        {
          key: 'requests.flow.seconds',
          label: `${n} requests from NEW to every payout SENT`,
          value: allSentMs === null ? null : round(allSentMs / 1000, 2),
          unit: 's',
          target: { op: '<=', value: 60 },
          note:
            allSentMs === null
              ? `not finished after ${options.timeoutS} s: ${(options.requests - last.new).toLocaleString('en-US')} requests done, ${sentCount.toLocaleString('en-US')} payouts sent`
              : `one \`payouts worker\`; all requests DONE after ${round(allDoneMs! / 1000, 2)} s`,
        },
        {
          key: 'requests.flow.requestsPerSecond',
          label: 'Requests settled per second (req-gate)',
          value: round(((options.requests - last.new) / (allDoneMs ?? elapsedMs)) * 1000, 0),
          unit: '/s',
          note: `PAYOUT_REQUEST_LIMIT=${options.requestLimit}; ${perRequest.perCall} statements per request`,
        },
        {
          key: 'requests.flow.sentPerSecond',
          label: 'Payouts sent per second (oebs-gate)',
          value: round((sentCount / elapsedMs) * 1000, 0),
          unit: '/s',
          note: `PAYOUT_SENDER_LIMIT=${options.senderLimit}, PAYOUT_SENDER_CONCURRENCY=${options.senderConcurrency ?? 'default'}; ${perPayout.perCall} statements per payout`,
        },
        {
          key: 'requests.flow.workerCpu',
          label: 'Worker CPU per request (settled and sent)',
          value: perItem(workerCpuMs, sentCount),
          unit: 'ms',
        },
        {
          key: 'requests.flow.postgresCpu',
          label: 'PostgreSQL CPU per request (settled and sent)',
          value: perItem(postgresMs, sentCount),
          unit: 'ms',
          note: `the whole machine (this run and anything else) ${perItem(machineMs, sentCount)} ms per request, ${round(machineMs / elapsedMs, 2)} of its cores busy`,
        },
      ],
      details: {
        options,
        workerSettings: Object.fromEntries(Object.entries(workerSettings).filter(([k]) => k.startsWith('PAYOUT_') || k === 'DATABASE_POOL_MAX')),
        fundingMs: round(fundingMs, 0),
        probeMs: round(probeMs, 0),
        insertMs: round(insertMs, 0),
        allDoneMs: allDoneMs === null ? null : round(allDoneMs, 0),
        allSentMs: allSentMs === null ? null : round(allSentMs, 0),
        last,
        statementsPerRequest: perRequest,
        statementsPerPayout: perPayout,
        workerCpuMs,
        postgresCpuMs: postgresMs,
        machineBusyMs: machineMs,
        workerMaxRssMb: round(maxRssMb, 1),
        databaseWaitsPerPoll: waitShare,
        mostJobsRunningAtOnce: Object.fromEntries(mostRunning),
        timeline,
        workerErrors: errors.slice(0, 5),
        verification,
        stop: stopped,
      },
      notes: [
        `Request flow: ${n} NEW requests, one per funded client (each owed ${Number(FUNDING) / 100} ${CURRENCY} in its \`payout\` account, funded through ledger_post beforehand; its reserved and in-flight accounts not yet opened, as for a first payout), committed in one transaction while one \`payouts worker\` runs without Kafka (gate intervals ${options.gateInterval}); time from that commit until no request is NEW and no payout CREATED (polled every 250 ms). Afterwards every request is DONE with exactly one SENT payout, its cash-payment fact and its erp.payouts message, every payout balance is zero, and the ledger invariants hold.`,
      ],
    };
  } finally {
    await db.end().catch(() => undefined);
    await worker.stop(5000);
  }
}
