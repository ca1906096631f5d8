import 'reflect-metadata';
import { Arg, Authorized, Ctx, Field, InputType, Int, Mutation, Query, Resolver } from 'type-graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { Access } from '../src/access/rules';
import { program } from '../src/app/cli';
import { MODULES } from '../src/app/modules';
import { InvalidInputError } from '../src/platform/errors';
import type { GraphQLContext } from '../src/platform/graphql/context';
import { defineModule } from '../src/platform/modules';
import { transactionalRetrying } from '../src/platform/retry';
import {
  AuditLogDocument,
  CancelPayoutDocument,
  RecordAccrualDocument,
  RequestInstantPayoutDocument,
  UpsertParkDocument,
  type AuditLogQuery,
} from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { graphql, type GraphQLResponse } from './helpers/graphql';

/**
 * The audit log over a real server and PostgreSQL: every mutation writes one entry with its effect
 * (or, refused, one with its code), the database keeps the log append-only, and `auditLog` shows
 * each caller what it may see.
 */

// A module added "later": its mutation is audited without a line of audit code, secrets redacted.
@InputType()
class ProbeCredentialsInput {
  @Field()
  login!: string;

  @Field()
  secretKey!: string;
}

@InputType()
class ProbeInput {
  @Field()
  parkId!: string;

  @Field(() => ProbeCredentialsInput)
  connection!: ProbeCredentialsInput;

  @Field(() => ProbeCredentialsInput, { nullable: true })
  credentials?: ProbeCredentialsInput;

  @Field()
  fail!: boolean;
}

@Resolver()
class ProbeResolver {
  @Authorized(Access.anyRole)
  @Query(() => String)
  probeHealth(): string {
    return 'ok';
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => String)
  async connectProbe(@Arg('input', () => ProbeInput) input: ProbeInput, @Ctx() ctx: GraphQLContext): Promise<string> {
    await ctx.em.transactional((em) => em.execute('INSERT INTO audit_probe (park_id) VALUES (?)', [input.parkId]));
    if (input.fail) throw new InvalidInputError('the probe refuses', { field: 'fail' });
    return 'connected';
  }

  /**
   * Blocks as resolvers write them: `first-fails` is a refused instant payout (its block fails, the
   * resolver catches it and looks up in a second block); `second-fails` a block that succeeds and
   * a later one that fails and is caught.
   */
  @Authorized(Access.roles('admin'))
  @Mutation(() => String)
  async probeBlocks(@Arg('mode') mode: string, @Arg('parkId') parkId: string, @Ctx() ctx: GraphQLContext): Promise<string> {
    const insert = (em: typeof ctx.em, tag: string) => em.execute('INSERT INTO audit_probe (park_id) VALUES (?)', [`${parkId}:${tag}`]);
    const failing = (tag: string) =>
      ctx.em.transactional(async (em) => {
        await insert(em, tag);
        throw new InvalidInputError('this block is refused');
      });
    if (mode === 'first-fails') {
      await failing('first').catch(() => undefined);
      await ctx.em.transactional((em) => insert(em, 'second'));
    } else {
      await ctx.em.transactional((em) => insert(em, 'first'));
      await failing('second').catch(() => undefined);
    }
    return 'done';
  }

  /** Chosen as a deadlock's victim on its first attempt: the wrapper runs the whole mutation again. */
  @Authorized(Access.roles('admin'))
  @Mutation(() => Int)
  async probeVictim(@Arg('parkId') parkId: string, @Ctx() ctx: GraphQLContext): Promise<number> {
    victimAttempts += 1;
    await transactionalRetrying(ctx.em, async (em) => {
      await em.execute('INSERT INTO audit_probe (park_id) VALUES (?)', [`${parkId}:${victimAttempts}`]);
      if (victimAttempts === 1) await em.execute("DO $$ BEGIN RAISE EXCEPTION 'victim' USING ERRCODE = '40P01'; END $$");
    });
    return victimAttempts;
  }
}

let victimAttempts = 0;

const probeModule = defineModule({ name: 'audit-probe', create: () => ({}), resolvers: [ProbeResolver] });

let server: TestServer;
const admin = tokenFor('admin');

beforeAll(async () => {
  server = await startTestServer({}, { modules: [...MODULES, probeModule] });
  await server.app.orm.em.fork().execute('CREATE TABLE audit_probe (park_id text NOT NULL)');
});
afterAll(async () => server?.close());

const db = () => server.app.orm.em.fork();

/** Posts with the headers a real client sends, and returns the answer's x-request-id too. */
async function post<T>(query: string, variables: Record<string, unknown>, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLResponse<T>;
  return { ...body, requestId: response.headers.get('x-request-id') };
}

const accrual = (payee: { kind: string; id: string }, reference: string, reason = 'audit test') => ({
  input: { payee, amount: '1000', currency: 'RUB', reference, reason },
});

interface EntryRow {
  id: string;
  at: Date;
  subject: string;
  role: string;
  operation: string;
  arguments: Record<string, any>;
  targets: string[];
  outcome: string;
  request_id: string;
  client_address: string | null;
  user_agent: string | null;
}

async function entriesOf(requestId: string): Promise<EntryRow[]> {
  return db().execute<EntryRow[]>('SELECT * FROM audit_entry WHERE request_id = ? ORDER BY at, id', [requestId]);
}

describe('a mutation', () => {
  it('writes one entry with its effect: who, what, on what, the outcome, the request, from where', async () => {
    const answer = await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-ok' }, 'ok-1'), admin, {
      'x-request-id': 'req-audit-ok-1',
      'user-agent': 'dispatcher-ui/1.0',
    });
    expect(answer.errors).toBeUndefined();
    expect(answer.requestId).toBe('req-audit-ok-1');
    const [entry, ...more] = await entriesOf('req-audit-ok-1');
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      subject: 'test-admin',
      role: 'admin',
      operation: 'recordAccrual',
      arguments: { input: { payee: { kind: 'PARK', id: 'pk-ok' }, amount: '1000', currency: 'RUB', reference: 'ok-1', reason: 'audit test', account: 'payout' } },
      targets: ['PARK:pk-ok'],
      outcome: 'OK',
      request_id: 'req-audit-ok-1',
      user_agent: 'dispatcher-ui/1.0',
    });
    expect(entry!.client_address).toMatch(/127\.0\.0\.1/);
    expect(Math.abs(new Date(entry!.at).getTime() - Date.now())).toBeLessThan(60_000);
    const [effect] = await db().execute("SELECT count(*)::int AS n FROM accrual WHERE reference = 'ok-1'");
    expect(effect).toEqual({ n: 1 });
  });

  it('gets a fresh request id when the client sends none or an insane one, and every answer carries it', async () => {
    const none = await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-ok' }, 'ok-2'), admin);
    expect(none.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await entriesOf(none.requestId!)).toHaveLength(1);
    const insane = await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-ok' }, 'ok-3'), admin, {
      'x-request-id': 'has spaces and "quotes"',
    });
    expect(insane.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const health = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
    expect(health.headers.get('x-request-id')).toBe('probe-1');
  });

  it('refused writes one entry with the error code, and no effect', async () => {
    const dispatcher = tokenFor('dispatcher', [{ kind: 'PARK', id: 'pk-ref' }]);
    const cases: [string, string, Record<string, unknown>, string, string][] = [
      ['FORBIDDEN', print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-ref' }, 'ref-1'), dispatcher, 'recordAccrual'],
      ['BAD_USER_INPUT', print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-ref' }, 'ref-2', 'no'), admin, 'recordAccrual'],
      ['NOT_FOUND', print(CancelPayoutDocument), { id: '00000000-0000-4000-8000-00000000a0d1' }, admin, 'cancelPayout'],
    ];
    for (const [code, query, variables, token, operation] of cases) {
      const answer = await post(query, variables, token, { 'x-request-id': `req-refused-${code}` });
      expect(answer.errors?.[0]?.extensions?.code).toBe(code);
      const entries = await entriesOf(`req-refused-${code}`);
      expect(entries.map((e) => [e.operation, e.outcome])).toEqual([[operation, code]]);
    }
    const [cancel] = await entriesOf('req-refused-NOT_FOUND');
    expect(cancel!.targets).toEqual(['PAYOUT:00000000-0000-4000-8000-00000000a0d1']);
    expect((await entriesOf('req-refused-FORBIDDEN'))[0]).toMatchObject({ role: 'dispatcher', subject: 'test-dispatcher', targets: ['PARK:pk-ref'] });
    const [effect] = await db().execute("SELECT count(*)::int AS n FROM accrual WHERE reference IN ('ref-1', 'ref-2')");
    expect(effect).toEqual({ n: 0 });
  });

  it('and its entry commit together: a COMMIT that fails leaves neither, and the failure is recorded', async () => {
    // A deferred check fails at COMMIT, after the effect and the entry were both written.
    await db().execute(`
      CREATE FUNCTION audit_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.outcome = 'OK' AND NEW.arguments #>> '{input,reference}' = 'doomed' THEN RAISE EXCEPTION 'commit refused'; END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER audit_doomed AFTER INSERT ON audit_entry DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION audit_doomed();`);
    try {
      const answer = await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-doomed' }, 'doomed'), admin, {
        'x-request-id': 'req-doomed',
      });
      expect(answer.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect((await entriesOf('req-doomed')).map((e) => e.outcome)).toEqual(['INTERNAL_SERVER_ERROR']);
      const [effect] = await db().execute("SELECT count(*)::int AS n FROM accrual WHERE reference = 'doomed'");
      expect(effect).toEqual({ n: 0 });
    } finally {
      await db().execute('DROP TRIGGER audit_doomed ON audit_entry; DROP FUNCTION audit_doomed()');
    }
  });

  it('added by any module is recorded too, its secrets redacted at any depth; a refusal rolls its effect back', async () => {
    const mutation = 'mutation ($input: ProbeInput!) { connectProbe(input: $input) }';
    const input = (fail: boolean) => ({
      parkId: 'pk-probe',
      connection: { login: 'owner', secretKey: 'sk_live_123' },
      credentials: { login: 'owner2', secretKey: 'sk_live_456' },
      fail,
    });
    expect((await post(mutation, { input: input(false) }, admin, { 'x-request-id': 'req-probe-ok' })).data).toEqual({ connectProbe: 'connected' });
    await post(mutation, { input: input(true) }, admin, { 'x-request-id': 'req-probe-refused' });
    const [ok] = await entriesOf('req-probe-ok');
    const [refused] = await entriesOf('req-probe-refused');
    for (const entry of [ok!, refused!]) {
      expect(entry.arguments).toEqual({
        input: { parkId: 'pk-probe', connection: { login: 'owner', secretKey: '[REDACTED]' }, credentials: '[REDACTED]', fail: entry === refused },
      });
      expect(JSON.stringify(entry)).not.toMatch(/sk_live|owner2/);
      expect(entry.targets).toEqual(['PARK:pk-probe']);
    }
    expect([ok!.outcome, refused!.outcome]).toEqual(['OK', 'BAD_USER_INPUT']);
    expect(await db().execute('SELECT park_id FROM audit_probe')).toEqual([{ park_id: 'pk-probe' }]);
  });
});

describe('a mutation of several blocks', () => {
  it('keeps what each block would have left in a transaction of its own, with one entry', async () => {
    const mutation = 'mutation ($mode: String!, $parkId: String!) { probeBlocks(mode: $mode, parkId: $parkId) }';
    for (const mode of ['first-fails', 'second-fails']) {
      const answer = await post(mutation, { mode, parkId: `pk-${mode}` }, admin, { 'x-request-id': `req-${mode}` });
      expect(answer.data).toEqual({ probeBlocks: 'done' });
      expect((await entriesOf(`req-${mode}`)).map((e) => [e.outcome, e.targets])).toEqual([['OK', [`PARK:pk-${mode}`]]]);
    }
    const rows = await db().execute<{ park_id: string }[]>("SELECT park_id FROM audit_probe WHERE park_id LIKE 'pk-%-fails:%' ORDER BY park_id");
    expect(rows.map((r) => r.park_id)).toEqual(['pk-first-fails:second', 'pk-second-fails:first']);
  });
});

describe('a mutation chosen as a deadlock’s victim', () => {
  it('is run again whole, and its effect and entry are there once', async () => {
    const answer = await post('mutation { probeVictim(parkId: "pk-victim") }', {}, admin, { 'x-request-id': 'req-victim' });
    expect(answer.data).toEqual({ probeVictim: 2 });
    expect((await entriesOf('req-victim')).map((e) => e.outcome)).toEqual(['OK']);
    expect(await db().execute("SELECT park_id FROM audit_probe WHERE park_id LIKE 'pk-victim:%'")).toEqual([{ park_id: 'pk-victim:2' }]);
  });
});

describe('auditLog', () => {
  const read = async (token: string, variables: Record<string, unknown> = {}) =>
    graphql<AuditLogQuery, Record<string, unknown>>(server.url, AuditLogDocument, variables, token);

  beforeAll(async () => {
    for (const park of ['pk-a', 'pk-a', 'pk-a', 'pk-b']) {
      await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: park }, `log-${park}-${Math.random()}`), admin);
    }
  });

  it('shows a dispatcher only the entries about its parks, and FORBIDDEN for another park', async () => {
    const dispatcher = tokenFor('dispatcher', [{ kind: 'PARK', id: 'pk-a' }]);
    const mine = await read(dispatcher, { first: 100 });
    expect(mine.errors).toBeUndefined();
    const nodes = mine.data!.auditLog.nodes;
    expect(nodes).toHaveLength(3);
    expect(mine.data!.auditLog.totalCount).toBe(3);
    for (const node of nodes) expect(node.targets).toEqual(['PARK:pk-a']);
    const other = await read(dispatcher, { filter: { parkId: 'pk-b' } });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const driver = await read(tokenFor('driver', [{ kind: 'DRIVER', id: 'pk-a/d1' }]));
    expect(driver.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('filters by park, operation, outcome, subject and period for an admin, newest first', async () => {
    const parkB = await read(admin, { filter: { parkId: 'pk-b' } });
    expect(parkB.data!.auditLog.nodes.map((n) => n.targets)).toEqual([['PARK:pk-b']]);
    const refused = await read(admin, { filter: { outcome: 'BAD_USER_INPUT', operation: 'recordAccrual' }, first: 100 });
    expect(refused.data!.auditLog.nodes.map((n) => n.outcome)).toEqual(['BAD_USER_INPUT']);
    const none = await read(admin, { filter: { subject: 'nobody' } });
    expect(none.data!.auditLog.totalCount).toBe(0);
    const future = await read(admin, { filter: { from: new Date(Date.now() + 3_600_000).toISOString() } });
    expect(future.data!.auditLog.totalCount).toBe(0);
    const all = await read(admin, { first: 100, filter: { to: new Date(Date.now() + 3_600_000).toISOString() } });
    const times = all.data!.auditLog.nodes.map((n) => Date.parse(n.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('pages with a cursor through every entry once, newest first, with the total count', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let total = 0;
    for (let page = 0; page < 50; page += 1) {
      const answer = await read(admin, { first: 2, after });
      expect(answer.errors).toBeUndefined();
      total = answer.data!.auditLog.totalCount;
      seen.push(...answer.data!.auditLog.nodes.map((n) => n.id));
      if (!answer.data!.auditLog.pageInfo.hasNextPage) break;
      after = answer.data!.auditLog.pageInfo.endCursor!;
    }
    const [{ n }] = await db().execute<{ n: number }[]>('SELECT count(*)::int AS n FROM audit_entry');
    expect(total).toBe(n);
    expect(seen).toHaveLength(n);
    expect(new Set(seen).size).toBe(n);
    expect((await read(admin, { after: 'bm90IGEgY3Vyc29y' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('a park’s payouts in the audit log', () => {
  it('records every press, paid or refused, and the cancel of the park’s payout; the park’s dispatcher reads them all', async () => {
    const parkInput = { id: 'pk-fleet', name: 'Fleet', currency: 'RUB', email: 'f@park.example', timezone: 'Europe/Moscow', status: 'ACTIVE', reason: 'audit test' };
    expect((await post(print(UpsertParkDocument), { input: parkInput }, admin)).errors).toBeUndefined();
    expect((await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-fleet' }, 'fleet-money'), admin)).errors).toBeUndefined();
    const dispatcher = tokenFor('dispatcher', [{ kind: 'PARK', id: 'pk-fleet' }]);
    const stranger = tokenFor('dispatcher', [{ kind: 'PARK', id: 'pk-other' }]);
    const press = (token: string, key: string) =>
      post<{ requestInstantPayout: { id: string } }>(print(RequestInstantPayoutDocument), { input: { parkId: 'pk-fleet', amount: '300', idempotencyKey: key } }, token, {
        'x-request-id': `req-press-${key}`,
      });
    const paid = await press(dispatcher, 'k1');
    expect(paid.errors).toBeUndefined();
    expect((await press(dispatcher, 'k2')).errors?.[0]?.extensions?.code).toBe('COOLDOWN');
    expect((await press(stranger, 'k3')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const payoutId = paid.data!.requestInstantPayout.id;
    const cancel = await post(print(CancelPayoutDocument), { id: payoutId }, dispatcher, { 'x-request-id': 'req-fleet-cancel' });
    expect(cancel.errors).toBeUndefined();

    const outcomes = async (key: string) => (await entriesOf(`req-press-${key}`)).map((e) => [e.operation, e.outcome, e.targets]);
    expect(await outcomes('k1')).toEqual([['requestInstantPayout', 'OK', ['PARK:pk-fleet']]]);
    expect(await outcomes('k2')).toEqual([['requestInstantPayout', 'COOLDOWN', ['PARK:pk-fleet']]]);
    expect(await outcomes('k3')).toEqual([['requestInstantPayout', 'FORBIDDEN', ['PARK:pk-fleet']]]);
    // cancelPayout names only the payout; the resolver adds its payee, so the park's dispatcher sees it.
    expect((await entriesOf('req-fleet-cancel')).map((e) => e.targets)).toEqual([['PARK:pk-fleet', `PAYOUT:${payoutId}`]]);

    const log = await graphql<AuditLogQuery, Record<string, unknown>>(server.url, AuditLogDocument, { filter: { parkId: 'pk-fleet' }, first: 100 }, dispatcher);
    expect(log.errors).toBeUndefined();
    expect(log.data!.auditLog.nodes.map((n) => [n.operation, n.outcome])).toEqual([
      ['cancelPayout', 'OK'],
      ['requestInstantPayout', 'FORBIDDEN'],
      ['requestInstantPayout', 'COOLDOWN'],
      ['requestInstantPayout', 'OK'],
      ['recordAccrual', 'OK'],
      ['upsertPark', 'OK'],
    ]);
    const strangers = await graphql<AuditLogQuery, Record<string, unknown>>(server.url, AuditLogDocument, { first: 100 }, stranger);
    expect(strangers.data!.auditLog.nodes).toEqual([]);
  });
});

describe('a press of the instant-payout button (its audit entry written by its one statement)', () => {
  const entriesCounted = async (outcome: string) =>
    Number(new RegExp(`^payouts_audit_entries_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);

  it('writes one entry whatever the outcome: paid, refused by the rules, an unknown park, or bad input before the statement', async () => {
    const parkInput = { id: 'pk-press', name: 'Press', currency: 'RUB', email: 'p@park.example', timezone: 'Europe/Moscow', status: 'ACTIVE', reason: 'audit test' };
    expect((await post(print(UpsertParkDocument), { input: parkInput }, admin)).errors).toBeUndefined();
    expect((await post(print(RecordAccrualDocument), accrual({ kind: 'PARK', id: 'pk-press' }, 'press-money'), admin)).errors).toBeUndefined();
    const [okBefore, cooldownBefore] = [await entriesCounted('OK'), await entriesCounted('COOLDOWN')];
    const press = (input: Record<string, unknown>, requestId: string) =>
      post<{ requestInstantPayout: { id: string } }>(print(RequestInstantPayoutDocument), { input }, admin, {
        'x-request-id': requestId,
        'user-agent': 'dispatcher-ui/2',
      });
    const paid = await press({ parkId: 'pk-press', amount: '100', idempotencyKey: 'p1' }, 'req-stmt-paid');
    expect(paid.errors).toBeUndefined();
    expect((await press({ parkId: 'pk-press', amount: '100', idempotencyKey: 'p2' }, 'req-stmt-cooldown')).errors?.[0]?.extensions?.code).toBe('COOLDOWN');
    expect((await press({ parkId: 'pk-nowhere', idempotencyKey: 'p3' }, 'req-stmt-unknown')).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await press({ parkId: 'pk-press', amount: '1.5', idempotencyKey: 'p4' }, 'req-stmt-bad')).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const [entry] = await entriesOf('req-stmt-paid');
    expect(entry).toMatchObject({
      subject: 'test-admin',
      role: 'admin',
      operation: 'requestInstantPayout',
      arguments: { input: { parkId: 'pk-press', amount: '100', idempotencyKey: 'p1' } },
      targets: ['PARK:pk-press'],
      outcome: 'OK',
      user_agent: 'dispatcher-ui/2',
    });
    expect(entry!.client_address).toBeTruthy();
    const outcomes = async (requestId: string) => (await entriesOf(requestId)).map((e) => [e.outcome, e.targets]);
    expect(await outcomes('req-stmt-paid')).toEqual([['OK', ['PARK:pk-press']]]);
    expect(await outcomes('req-stmt-cooldown')).toEqual([['COOLDOWN', ['PARK:pk-press']]]);
    expect(await outcomes('req-stmt-unknown')).toEqual([['NOT_FOUND', ['PARK:pk-nowhere']]]);
    expect(await outcomes('req-stmt-bad')).toEqual([['BAD_USER_INPUT', ['PARK:pk-press']]]);
    // Entries the statement wrote are counted once committed, as the wrapper's own are.
    expect(await entriesCounted('OK')).toBe(okBefore + 1);
    expect(await entriesCounted('COOLDOWN')).toBe(cooldownBefore + 1);
  });
});

describe('the audit table', () => {
  it('refuses UPDATE, DELETE and TRUNCATE even to its owner, on the table and on a partition', async () => {
    const [owner] = await db().execute<{ owner: boolean }[]>(
      "SELECT pg_get_userbyid(relowner) = current_user AS owner FROM pg_class WHERE relname = 'audit_entry'",
    );
    expect(owner).toEqual({ owner: true });
    const [partition] = await db().execute<{ name: string }[]>(
      'SELECT tableoid::regclass::text AS name FROM audit_entry ORDER BY at DESC LIMIT 1',
    );
    for (const sql of [
      "UPDATE audit_entry SET outcome = 'OK'",
      'DELETE FROM audit_entry',
      'TRUNCATE audit_entry',
      `UPDATE ${partition!.name} SET subject = 'someone else'`,
      `DELETE FROM ${partition!.name}`,
      `TRUNCATE ${partition!.name}`,
      'TRUNCATE audit_entry_default',
    ]) {
      await expect(db().execute(sql), sql).rejects.toThrow(/append-only/);
    }
    const [{ n }] = await db().execute<{ n: number }[]>("SELECT count(*)::int AS n FROM audit_entry WHERE outcome <> 'OK'");
    expect(n).toBeGreaterThan(0);
  });

  it('takes an entry far in the future (the DEFAULT partition), and its months are made ahead', async () => {
    await db().execute(
      `INSERT INTO audit_entry (at, subject, role, operation, arguments, outcome, request_id)
       VALUES ('2199-06-01T00:00:00Z', 'clock', 'cli', 'probe', '{}', 'OK', 'req-far')`,
    );
    const [row] = await db().execute<{ partition: string }[]>("SELECT tableoid::regclass::text AS partition FROM audit_entry WHERE request_id = 'req-far'");
    expect(row).toEqual({ partition: 'audit_entry_default' });
    const [current] = await db().execute<{ partition: string }[]>(
      "SELECT tableoid::regclass::text AS partition FROM audit_entry WHERE request_id = 'req-audit-ok-1'",
    );
    expect(current!.partition).toBe(`audit_entry_${new Date().toISOString().slice(0, 7).replace('-', '_')}`);
    await server.app.orm.em.fork().execute('SELECT audit_entry_ensure_partitions(5)');
    const months = await db().execute<{ name: string }[]>(
      "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_entry'::regclass ORDER BY 1",
    );
    expect(months.length).toBeGreaterThanOrEqual(7); // this month, five ahead, DEFAULT
  });
});

describe('an admin CLI action', () => {
  it('writes one entry per invocation, refusals included: role cli, subject cli:<name>', async () => {
    const [letter] = await db().execute<{ id: string }[]>(
      `INSERT INTO dead_letter (topic, partition, "offset", value, reason, error_code) VALUES ('accruals', 0, '1', '{}', 'broken', 'BAD_USER_INPUT') RETURNING id`,
    );
    Object.assign(process.env, { ...server.env, LOG_LEVEL: 'silent' });
    const log = console.log;
    console.log = () => {};
    try {
      await program.parseAsync(['node', 'payouts', 'dead-letters', 'discard', String(letter!.id), '999999', '--reason', 'never', '--by', 'auditor']);
    } finally {
      console.log = log;
      process.exitCode = 0;
    }
    const entries = await db().execute<EntryRow[]>("SELECT * FROM audit_entry WHERE operation = 'dead-letters discard'");
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      subject: 'cli:auditor',
      operation: 'dead-letters discard',
      arguments: { ids: [String(letter!.id), '999999'], reason: 'never' },
      targets: [`DEAD_LETTER:${letter!.id}`, 'DEAD_LETTER:999999'],
      outcome: 'NOT_FOUND',
    });
    const [discarded] = await db().execute('SELECT discarded_by FROM dead_letter WHERE id = ?', [letter!.id]);
    expect(discarded).toEqual({ discarded_by: 'cli:auditor' });
  });
});
