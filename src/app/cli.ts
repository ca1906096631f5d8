import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Client } from 'pg';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { claimsPolicy, ROLES, type Role } from '../access/principals';
import { auditModule } from '../audit/module';
import { TokenService } from '../platform/auth';
import { ConfigError, jwtSecret, loadKernelSettings } from '../platform/config';
import { DomainError } from '../platform/errors';
import { buildGraphqlSchema } from '../platform/graphql/schema';
import { dumpSqlSchema } from '../platform/sql-schema-dump';
import type { InboundMessage } from '../platform/kafka/inbound';
import { createLogger } from '../platform/logger';
import { createApp, defaultCrontab, loadAppSettings, type App } from './app';
import { runDemo } from './demo';
import { signalqModule } from '../signalq/module';
import { MODULES } from './modules';
import { walletsModule } from '../wallets/module';
import { migrateAll, openDatabase, startProcess, type Roles, type RunningProcess } from './processes';

/** The checked-in views of what the code declares; `payouts schema` writes them, `--check` compares. */
const VIEWS = {
  graphql: 'schema/schema.graphql',
  crontab: 'workers/crontab',
  /** Needs a database: `--check` leaves it to test/sql-schema.test.ts, which has one. */
  sql: 'schema/schema.sql',
};

/** What the migrations build, dumped from a scratch database migrated from nothing on the configured server. */
async function migratedSqlSchema(): Promise<string> {
  const settings = loadAppSettings();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const database = await openDatabase(settings.kernel, logger);
  const scratch = new URL(database.url);
  scratch.pathname = `/payouts_schema_${process.pid}`;
  const admin = new Client({ connectionString: database.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${scratch.pathname.slice(1)}`);
    const app = await createApp({ settings, logger, databaseUrl: scratch.toString() });
    try {
      await migrateAll(app);
    } finally {
      await app.close();
    }
    const client = new Client({ connectionString: scratch.toString() });
    await client.connect();
    try {
      return await dumpSqlSchema(client);
    } finally {
      await client.end();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch.pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
    await database.embedded?.stop();
  }
}

/**
 * Runs a long-lived process until SIGTERM or SIGINT, then stops it gracefully. Signals are
 * caught from the first moment, so one arriving during startup stops the process once it is up;
 * a second signal exits at once.
 */
const SIGNAL_ECHO_MS = 1000;

async function serve(roles: Roles): Promise<void> {
  let running: RunningProcess | null = null;
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  const stop = (process_: RunningProcess) =>
    process_.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  const onSignal = (signal: NodeJS.Signals) => {
    if (first) {
      // Under `npm start` one Ctrl-C arrives twice (from the terminal, and passed on by npm):
      // the same signal within a second is that echo. Anything later means "stop now".
      if (signal === first.signal && performance.now() - first.at < SIGNAL_ECHO_MS) return;
      process.exit(1);
    }
    first = { signal, at: performance.now() };
    process.stderr.write(`${signal}: shutting down\n`);
    if (running) void stop(running);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  running = await startProcess(roles);
  if (first) await stop(running);
}

/** Opens the database and the services for a one-off command, and closes them after. */
async function withApp<T>(work: (app: App) => Promise<T>): Promise<T> {
  const settings = loadAppSettings();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const database = await openDatabase(settings.kernel, logger);
  const app = await createApp({ settings, logger, databaseUrl: database.url, connectProducer: false });
  try {
    return await work(app);
  } finally {
    await app.close();
    await database.embedded?.stop();
  }
}

/** What an admin action reports to its audit entry: the outcome when it is not OK, and what it touched. */
interface CliAudit {
  outcome: string | null;
  targets: string[];
}

/**
 * Runs an admin command with the services, and writes its one audit entry (role `cli`, subject
 * `cli:<user>`, one request id per invocation), whatever its outcome: `OK`, the code it was
 * refused with, or what the command says went wrong. The entry is written after the command in a
 * transaction of its own: a command may commit many (an ingest, a retry of every dead letter).
 */
async function withAuditedApp<T>(
  action: { operation: string; arguments: Record<string, unknown>; by?: string },
  work: (app: App, audit: CliAudit) => Promise<T>,
): Promise<T> {
  return withApp(async (app) => {
    const audit: CliAudit = { outcome: null, targets: [] };
    let outcome = 'OK';
    try {
      return await work(app, audit);
    } catch (error) {
      outcome = error instanceof DomainError ? error.code : 'ERROR';
      throw error;
    } finally {
      await recordCliAction(app, action, audit.outcome ?? outcome, audit.targets);
    }
  });
}

async function recordCliAction(
  app: App,
  action: { operation: string; arguments: Record<string, unknown>; by?: string },
  outcome: string,
  targets: string[],
): Promise<void> {
  try {
    await app.orm.em.fork().transactional((em) =>
      app.use(auditModule).audit.record(em, {
        subject: operator(action.by),
        role: 'cli',
        operation: action.operation,
        arguments: action.arguments,
        targets,
        outcome,
        requestId: randomUUID(),
        clientAddress: null,
        userAgent: `payouts-cli/${process.pid}`,
      }),
    );
  } catch (error) {
    process.stderr.write(`audit: the entry for "${action.operation}" could not be written: ${error instanceof Error ? error.message : error}\n`);
    process.exitCode = 1;
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];
const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
};

/** Who runs a command, for what it records (a discarded dead letter): `cli:` and the name given or the OS user. */
function operator(name?: string): string {
  let who = name?.trim();
  if (!who) {
    try {
      who = userInfo().username;
    } catch {
      who = process.env.USER ?? 'unknown';
    }
  }
  return `cli:${who}`;
}

/** Every command and option explains itself in `--help` (a test walks them all). */
export const program = new Command('payouts').description('Payouts platform: ledger, payout lifecycle, GraphQL API, workers');

program
  .command('start')
  .description('API, callbacks, workers and Kafka consumers in one process; migrates first (embedded PostgreSQL without DATABASE_URL)')
  .action(() => serve({ api: true, worker: true, consumers: true, callbacks: true, migrate: true }));
program.command('api').description('The GraphQL API only').action(() => serve({ api: true, worker: false, consumers: false, migrate: false }));
program
  .command('callbacks')
  .description('The payment systems’ callbacks only (the external API: /callbacks/<system>/<secret> and health) on CALLBACK_PORT')
  .action(() => serve({ api: false, worker: false, consumers: false, callbacks: true, migrate: false }));
program
  .command('worker')
  .description('Jobs (graphile-worker) and Kafka consumers')
  .action(() => serve({ api: false, worker: true, consumers: true, migrate: false }));

program
  .command('migrate')
  .description('Apply database migrations (ours and graphile-worker’s)')
  .action(() =>
    withAuditedApp({ operation: 'migrate', arguments: {} }, async (app) => {
      const applied = await migrateAll(app);
      console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'nothing to apply');
    }),
  );

program
  .command('token')
  .description('Print a signed JWT for local use')
  .addOption(new Option('--role <role>', 'what the holder may do').choices([...ROLES]).makeOptionMandatory())
  .option('--payee <KIND:id>', 'a payee the subject may see (repeatable), e.g. CLIENT:c1 or SHOP:party/shop', collect, [])
  .option('--subject <sub>', 'who the token names (its sub claim)', 'local-user')
  .option('--ttl <duration>', 'lifetime, e.g. 30m, 12h, 7d; at least 1s, at most JWT_MAX_TTL', '12h')
  .action(async (options: { role: Role; payee: string[]; subject: string; ttl: string }) => {
    const settings = loadKernelSettings();
    const mint = () =>
      new TokenService(jwtSecret(settings), claimsPolicy, { maxTtl: settings.JWT_MAX_TTL }).sign({
        subject: options.subject,
        role: options.role,
        scopes: options.payee,
        ttl: options.ttl,
      });
    // With a database configured, minting is an admin action like any other: it is audited (never the token itself).
    const token = settings.DATABASE_URL
      ? await withAuditedApp(
          { operation: 'token', arguments: { role: options.role, payees: options.payee, subject: options.subject, ttl: options.ttl } },
          async (_app, audit) => {
            audit.targets.push(...options.payee);
            return mint();
          },
        )
      : mint();
    process.stdout.write(`${token}\n`);
  });

/** Named exports `payouts ingest <kind> FILE` knows, each the topic whose handler applies its lines. */
const INGEST_KINDS: Record<string, (app: App) => string> = {
  'signalq-status': (app) => app.settingsOf(signalqModule).TOPIC_SIGNALQ_DEVICE_STATUS,
};

program
  .command('ingest')
  .description(
    'Apply a JSON-lines file through the same handler as a topic (backfills without Kafka): `ingest FILE --topic TOPIC`, or ' +
      `\`ingest KIND FILE\` for a named export (${Object.keys(INGEST_KINDS).join(', ')}). Lines that cannot be applied become dead ` +
      'letters and are reported with their line numbers; a line applied before changes nothing, so an interrupted ingest is ' +
      'restarted by running it again (--from-line skips what the last progress line said was done). Prints progress and a ' +
      'summary, and exits 1 when the topic is not one this service reads or when no line could be applied',
  )
  .argument('<kind-or-file>', `the JSON-lines file, or a kind (${Object.keys(INGEST_KINDS).join(', ')}) followed by the file`)
  .argument('[file]', 'the file, after a kind')
  .option('--topic <topic>', 'the topic whose handler applies the lines, e.g. accruals (its configured name); not with a kind')
  .option('--batch <n>', 'lines per transaction', positiveInt, 500)
  .option('--from-line <n>', 'start at this line (the lines before it were applied by an earlier run)', positiveInt, 1)
  .action((first: string, second: string | undefined, options: { topic?: string; batch: number; fromLine: number }) =>
    withAuditedApp({ operation: 'ingest', arguments: { file: second ?? first, kind: second === undefined ? null : first, ...options } }, async (app, audit) => {
      const kind = second === undefined ? null : first;
      const file = second ?? first;
      if (kind !== null && !INGEST_KINDS[kind]) {
        throw new Error(`ingest: "${kind}" is not a kind of export; one of: ${Object.keys(INGEST_KINDS).join(', ')}`);
      }
      if (kind !== null && options.topic) throw new Error('ingest: give a kind or --topic, not both');
      const topic = kind !== null ? INGEST_KINDS[kind]!(app) : options.topic;
      if (!topic) throw new Error('ingest: --topic is required without a kind');
      const topics = app.inbound.topics();
      // Refused before reading: every line of a mistyped topic would otherwise become a dead letter.
      if (!topics.includes(topic)) {
        throw new Error(`ingest: "${topic}" is not a topic this service reads; one of: ${[...topics].sort().join(', ')}`);
      }
      const counts = { applied: 0, duplicate: 0, 'dead-lettered': 0 };
      const skipped: number[] = [];
      let line = 0;
      let batch: InboundMessage[] = [];
      let lines: number[] = [];
      const flush = async () => {
        const outcomes = await app.inbound.processBatch(batch, 'INGEST');
        outcomes.forEach((outcome, i) => {
          counts[outcome] += 1;
          if (outcome === 'dead-lettered') {
            skipped.push(lines[i]!);
            process.stderr.write(`\nline ${lines[i]}: cannot be applied, skipped (kept as a dead letter, offset ${file}:${lines[i]})`);
          }
        });
        batch = [];
        lines = [];
        process.stderr.write(
          `\r${line} lines done: ${counts.applied} applied, ${counts.duplicate} duplicate, ${counts['dead-lettered']} dead-lettered`,
        );
      };
      for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        line += 1;
        if (line < options.fromLine || text.trim() === '') continue;
        batch.push({ topic, partition: null, offset: `${file}:${line}`, key: null, value: text });
        lines.push(line);
        if (batch.length >= options.batch) await flush();
      }
      await flush();
      process.stderr.write('\n');
      console.log(JSON.stringify({ lines: line, ...counts, ...(skipped.length ? { skippedLines: skipped.slice(0, 1000) } : {}) }));
      if (counts['dead-lettered'] > 0) {
        process.stderr.write(`${counts['dead-lettered']} line(s) dead-lettered: payouts dead-letters list --topic ${topic}\n`);
      }
      if (counts['dead-lettered'] > 0 && counts.applied + counts.duplicate === 0) {
        process.stderr.write('ingest: no line could be applied\n');
        process.exitCode = 1;
        audit.outcome = 'NOTHING_APPLIED';
      }
    }),
  );

const deadLetters = program.command('dead-letters').description('Inbound messages that could not be applied: list, retry or discard them');
deadLetters
  .command('list')
  .description('Open dead letters (neither applied again nor discarded) as JSON lines, oldest first')
  .option('--topic <topic>', 'only this topic')
  .option('--all', 'include those applied again or discarded')
  .option('--limit <n>', 'at most this many', positiveInt, 100)
  .action((options: { topic?: string; all?: boolean; limit: number }) =>
    withApp(async (app) => {
      const service = app.deadLetters;
      const page = await service.list(app.orm.em.fork(), {
        topic: options.topic,
        includeResolved: options.all,
        first: options.limit,
      });
      for (const d of page.rows) {
        console.log(
          JSON.stringify({
            id: d.id,
            topic: d.topic,
            partition: d.partition,
            offset: d.offset,
            code: d.errorCode,
            reason: d.reason,
            attempts: d.attempts,
            resolvedAt: d.resolvedAt,
            discardedAt: d.discardedAt,
            discardedBy: d.discardedBy,
            discardReason: d.discardReason,
            value: d.value,
          }),
        );
      }
      if (page.hasNextPage) console.error('(more: raise --limit)');
    }),
  );
deadLetters
  .command('retry')
  .description('Apply dead letters again: the given ids, or every open one (optionally of one topic); exits 1 if some still fail')
  .argument('[ids...]', 'dead letter ids (default: every open one)')
  .option('--topic <topic>', 'without ids: only the open dead letters of this topic')
  .option('--by <name>', 'who is retrying, recorded in the audit log as cli:<name> (default: your OS user)')
  .action((ids: string[], options: { topic?: string; by?: string }) =>
    withAuditedApp({ operation: 'dead-letters retry', arguments: { ids, topic: options.topic }, by: options.by }, async (app, audit) => {
      const service = app.deadLetters;
      const targets = ids.length > 0 ? ids : await service.openIds(options.topic);
      audit.targets.push(...targets.map((id) => `DEAD_LETTER:${id}`));
      let stillFailing = 0;
      for (const [i, id] of targets.entries()) {
        const result = await service.retry(id);
        if (result.outcome === 'dead-lettered') stillFailing += 1;
        console.log(JSON.stringify(result));
        process.stderr.write(`retried ${i + 1}/${targets.length}\n`);
      }
      process.exitCode = stillFailing > 0 ? 1 : 0;
      if (stillFailing > 0) audit.outcome = 'STILL_FAILING';
    }),
  );
deadLetters
  .command('discard')
  .description(
    'Set dead letters aside for good, never to be applied: who, when and why stay on each; exits 1 if one is unknown or was already applied',
  )
  .argument('<ids...>', 'dead letter ids')
  .requiredOption('--reason <text>', 'why they will never be applied (kept on each dead letter)')
  .option('--by <name>', 'who is discarding, recorded as cli:<name> (default: your OS user)')
  .action((ids: string[], options: { reason: string; by?: string }) =>
    withAuditedApp({ operation: 'dead-letters discard', arguments: { ids, reason: options.reason }, by: options.by }, async (app, audit) => {
      audit.targets.push(...ids.map((id) => `DEAD_LETTER:${id}`));
      if (options.reason.trim() === '') {
        audit.outcome = 'BAD_USER_INPUT';
        throw new Error('dead-letters discard: --reason must say why');
      }
      const by = operator(options.by);
      let refused = 0;
      for (const id of ids) {
        try {
          const result = await app.deadLetters.discard(id, { by, reason: options.reason });
          if (result.outcome === 'already-resolved') {
            refused += 1;
            audit.outcome ??= 'CONFLICT';
          }
          console.log(JSON.stringify(result));
        } catch (error) {
          // An unknown id does not stop the others.
          if (!(error instanceof DomainError)) throw error;
          refused += 1;
          audit.outcome ??= error.code;
          console.log(JSON.stringify({ id, outcome: 'refused', reason: error.message }));
        }
      }
      process.exitCode = refused > 0 ? 1 : 0;
    }),
  );

program
  .command('ledger')
  .description('Ledger tools')
  .command('check')
  .description('Check the ledger invariants over the whole database; exits 1 on a violation')
  .action(() =>
    withApp(async (app) => {
      const violations = await app.checkLedger();
      for (const v of violations) console.log(`VIOLATION ${v.rule}: ${v.detail}`);
      console.log(violations.length === 0 ? 'ledger ok' : `${violations.length} violation(s)`);
      process.exitCode = violations.length === 0 ? 0 : 1;
    }),
  );

program
  .command('wallets')
  .description('Park wallets')
  .command('rotate-keys')
  .description(
    'Re-encrypt every wallet\'s credentials under the first key of WALLET_KEYS (keep the old keys listed until it ends); ' +
      'prints progress; safe to stop and run again',
  )
  .option('--batch <n>', 'wallets per transaction', positiveInt, 100)
  .action((options: { batch: number }) =>
    withApp(async (app) => {
      const { wallets } = app.use(walletsModule);
      const total = await wallets.countUnderOldKeys(app.orm.em.fork());
      console.log(`${total} sealed credential(s) to re-encrypt under key "${wallets.currentKeyId}" (wallets', and keys they replaced kept for open top-ups)`);
      let done = 0;
      for (;;) {
        const { resealed, remaining } = await wallets.reseal(app.orm.em.fork(), options.batch);
        if (resealed === 0) break;
        done += resealed;
        console.log(`re-encrypted ${done}, ${remaining} left`);
      }
      console.log(`done: ${done} re-encrypted; every sealed credential is under key "${wallets.currentKeyId}"`);
    }),
  );

program
  .command('demo')
  .description('Load sample payees, accruals and payouts so you can watch the lifecycle')
  .action(() =>
    withAuditedApp({ operation: 'demo', arguments: {} }, async (app) => {
      await migrateAll(app);
      await runDemo(app, (line) => console.log(line));
    }),
  );

program
  .command('schema')
  .description(`Write the checked-in views of the code (${Object.values(VIEWS).join(', ')}), or with --check fail when one is stale`)
  .option('--check', `compare ${VIEWS.graphql} and ${VIEWS.crontab} with the code instead of writing; exits 1 when one is stale`)
  .action(async (options: { check?: boolean }) => {
    const views: [string, string][] = [
      ...(options.check ? [] : [[VIEWS.sql, await migratedSqlSchema()] as [string, string]]),
      // Sorted: the order types and fields are declared in depends on which module's files load first.
      [VIEWS.graphql, `${printSchema(lexicographicSortSchema(await buildGraphqlSchema({ resolvers: MODULES.flatMap((m) => m.resolvers ?? []) })))}\n`],
      [VIEWS.crontab, defaultCrontab()],
    ];
    for (const [file, text] of views) {
      if (!options.check) {
        await writeFile(file, text);
        continue;
      }
      const current = await readFile(file, 'utf8').catch(() => '');
      if (current !== text) {
        console.error(`${file} is stale: run \`npm run schema\` and commit it`);
        process.exitCode = 1;
      } else console.log(`${file} is up to date`);
    }
  });

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
