import 'reflect-metadata';
import { parse, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { Authorized, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access } from '../src/access/rules';
import { Cost } from '../src/platform/graphql/cost';
import { MODULES } from '../src/app/modules';
import { QUERY_COST } from '../src/platform/graphql/cost';
import { buildGraphqlSchema } from '../src/platform/graphql/schema';
import { INTROSPECTION_COST, measureOperation, type OperationLimits } from '../src/platform/graphql/limits';
import { MAX_CALENDARS, MAX_PAYOUT_SCHEDULES, MAX_SCHEDULES_PER_CALENDAR } from '../src/schedules/schedule.service';
import { operationsModule } from '../src/operations/module';
import { shopsModule } from '../src/shops/module';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { asMessages, invoicing, party } from './helpers/shops';
import { errorCodes, graphql } from './helpers/graphql';

/**
 * Query cost and shape limits (issue 11, items 1–5): any valid token, however powerless, must not
 * be able to make the service do unbounded work, and nothing about an operation's limits may be
 * skipped because measuring it failed.
 */

const LIMITS: OperationLimits = { maxDepth: 8, maxAliases: 30, maxFields: 500, maxCost: 5000 };
const UNLIMITED: OperationLimits = { maxDepth: 100, maxAliases: 1e9, maxFields: 1e9, maxCost: 1e18 };

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildGraphqlSchema({ resolvers: MODULES.flatMap((module) => module.resolvers ?? []) });
});

function measure(query: string, variables: Record<string, unknown> = {}, limits = UNLIMITED) {
  const document = parse(query);
  const operation = document.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
  return measureOperation(schema, document, operation, variables, limits);
}

const aliases = (count: number, field: string) => Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join('\n');

describe('the cost of an operation', () => {
  it('is 1 per field value, a query per paged field, lists multiplying what is under them by their page', () => {
    expect(measure('{ payouts(first: 10) { nodes { id status } } }')).toEqual({ depth: 3, aliases: 0, fields: 4, cost: QUERY_COST + 1 + 10 * 2 });
    // The default page is 20; the page-level fields are not multiplied.
    expect(measure('{ payouts { pageInfo { hasNextPage } edges { cursor node { id } } } }').cost).toBe(QUERY_COST + (1 + 1) + (1 + 20 * (1 + 1 + 1)));
    // A page size from a variable.
    expect(measure('query($n: Int) { payouts(first: $n) { nodes { id } } }', { n: 50 }).cost).toBe(QUERY_COST + 1 + 50);
  });

  it('charges totalCount as the count query it is, whatever the page size (even 0)', () => {
    expect(measure('{ payouts(first: 0) { totalCount } }').cost).toBe(2 * QUERY_COST);
    expect(measure('{ payouts(first: 0) { nodes { id } } }').cost).toBe(QUERY_COST + 1);
  });

  it('charges a paged field under a list once per item: a query each', () => {
    expect(measure('{ shops(first: 10) { nodes { runs(first: 5) { nodes { cutoff } } } } }').cost).toBe(QUERY_COST + 1 + 10 * (QUERY_COST + 1 + 5));
  });

  it('multiplies nested lists: unpaged ones by their declared maximum, upcoming by its count', () => {
    const nested = measure('{ calendars { schedules { calendar { schedules { upcoming(count: 50) { cutoff fireAt } } } } } }');
    expect(nested.cost).toBe(1 + MAX_CALENDARS * (1 + MAX_SCHEDULES_PER_CALENDAR * (1 + 1 * (1 + MAX_SCHEDULES_PER_CALENDAR * (1 + 50 * 2)))));
    expect(measure('{ payoutSchedules { upcoming(count: 5) { cutoff } } }').cost).toBe(1 + MAX_PAYOUT_SCHEDULES * (1 + 5));
    // upcoming's default count is 3.
    expect(measure('{ payoutSchedules { upcoming { cutoff } } }').cost).toBe(1 + MAX_PAYOUT_SCHEDULES * (1 + 3));
  });

  it('counts fragments where they are spread, and introspection at a flat price', () => {
    const spread = measure('query { ...P ...P } fragment P on Query { a: payouts(first: 1) { nodes { id } } }');
    expect(spread).toMatchObject({ fields: 6, aliases: 2, cost: 2 * (QUERY_COST + 2) });
    expect(measure('{ __schema { types { name fields { name type { ofType { name } } } } } }').cost).toBe(INTROSPECTION_COST);
    expect(measure('{ __typename }').cost).toBe(1);
  });

  it('refuses on the first limit exceeded, each by name', () => {
    const refused = (query: string, limits: Partial<OperationLimits>) => () => measure(query, {}, { ...LIMITS, ...limits });
    expect(refused('{ payouts { nodes { payee { kind } } } }', { maxDepth: 3 })).toThrow(/depth 4 exceeds the limit of 3/);
    expect(refused(`{ ${aliases(31, '__typename')} }`, {})).toThrow(/more than 30 aliases/);
    expect(refused(`{ payouts { nodes { ${'id '.repeat(500)} } } }`, {})).toThrow(/more than 500 fields/);
  });

  it('walks no more than its limits even for fragments spread in fragments (2^40 fields as written)', () => {
    const levels = 40;
    const fragments = Array.from({ length: levels }, (_, i) =>
      i === levels - 1 ? `fragment F${i} on Query { __typename }` : `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
    ).join('\n');
    const started = performance.now();
    expect(() => measure(`query { ...F0 } ${fragments}`, {}, LIMITS)).toThrow(/more than 500/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses arguments a list cannot be sized from', () => {
    expect(() => measure('{ payouts(first: 101) { nodes { id } } }')).toThrow(/first must be between 0 and 100/);
    expect(() => measure('{ payoutSchedules { upcoming(count: 51) { cutoff } } }')).toThrow(/count must be between 1 and 50/);
    expect(() => measure('{ payoutSchedules { upcoming(count: 0) { cutoff } } }')).toThrow(/count must be between 1 and 50/);
  });
});

describe('a list’s size', () => {
  @ObjectType()
  class Thing {
    @Field()
    name!: string;
  }

  it('must be declared: a schema with an unsized list of objects is refused at start', async () => {
    @Resolver()
    class Unsized {
      @Authorized(Access.anyRole)
      @Query(() => [Thing])
      things(): Thing[] {
        return [];
      }
    }
    await expect(buildGraphqlSchema({ resolvers: [Unsized] })).rejects.toThrow(/without a declared size.*Query\.things/);
  });

  it('is taken from its declaration', async () => {
    @Resolver()
    class Sized {
      @Authorized(Access.anyRole)
      @Cost({ maxItems: 7 })
      @Query(() => [Thing])
      things(): Thing[] {
        return [];
      }
    }
    const sized = await buildGraphqlSchema({ resolvers: [Sized] });
    const document = parse('{ things { name } }');
    const operation = document.definitions[0] as OperationDefinitionNode;
    expect(measureOperation(sized, document, operation, {}, UNLIMITED).cost).toBe(1 + 7);
  });
});

describe('over HTTP', () => {
  let server: TestServer;
  /** The same service with every shape limit lifted: only the cost limit stands. */
  let costOnly: TestServer;
  const admin = tokenFor('admin');
  const driver = tokenFor('driver', [{ kind: 'DRIVER', id: 'park-none/nobody' }]);

  beforeAll(async () => {
    [server, costOnly] = await Promise.all([
      startTestServer(),
      startTestServer({}, { env: { GRAPHQL_MAX_TOKENS: '10000000', GRAPHQL_MAX_ALIASES: '1000000', GRAPHQL_MAX_FIELDS: '10000000' } }),
    ]);
    // 31 schedules on one calendar: what made `calendars { schedules { calendar { schedules … } } } }` answer 110 MB.
    const calendar = await graphql(
      server.url,
      'mutation { upsertCalendar(input: { id: "cal-1", timezone: "Europe/Moscow", holidays: [] }) { id } }',
      {},
      admin,
    );
    expect(calendar.errors).toBeUndefined();
    for (let i = 0; i < 31; i++) {
      const schedule = await graphql(
        server.url,
        `mutation { upsertPayoutSchedule(input: { id: "s-${i}", cron: "${i} 10 * * *", calendarId: "cal-1", delayDays: 1 }) { id } }`,
        {},
        admin,
      );
      expect(schedule.errors).toBeUndefined();
    }
  });
  afterAll(async () => {
    await Promise.all([server?.close(), costOnly?.close()]);
  });

  it('refuses 10,001 aliased pages by their cost, even with every other limit lifted', async () => {
    const document = `{ ${aliases(10_001, 'payouts(first: 100) { nodes { id } }')} }`;
    const answer = await graphql(costOnly.url, document, {}, driver);
    expect(answer.status).toBe(400);
    expect(errorCodes(answer)).toEqual(['BAD_USER_INPUT']);
    expect(answer.errors![0]!.message).toMatch(/Query cost \d+ exceeds the limit of 5000/);
    expect(answer.data ?? null).toBeNull();
    // With the default limits it is too big to be parsed at all.
    const parsed = await graphql(server.url, document, {}, driver);
    expect(parsed.status).toBe(400);
    expect(errorCodes(parsed)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(parsed.errors![0]!.message).toMatch(/contains more tha[nt] 5000 tokens/);
  });

  it('refuses 4,999 totalCounts of empty pages by their cost', async () => {
    const document = `{ ${aliases(4_999, 'payouts(first: 0) { totalCount }')} }`;
    const answer = await graphql(costOnly.url, document, {}, driver);
    expect(answer.status).toBe(400);
    expect(errorCodes(answer)).toEqual(['BAD_USER_INPUT']);
    expect(answer.errors![0]!.message).toMatch(new RegExp(`Query cost ${4_999 * 2 * QUERY_COST} exceeds the limit of 5000`));
    // A few are fine.
    const few = await graphql(server.url, `{ ${aliases(5, 'payouts(first: 0) { totalCount }')} }`, {}, driver);
    expect(few.errors).toBeUndefined();
    expect(Object.values(few.data as Record<string, { totalCount: number }>).map((page) => page.totalCount)).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses nested calendars and schedules from a driver token before running them', async () => {
    const started = performance.now();
    const answer = await graphql(
      server.url,
      '{ calendars { schedules { calendar { schedules { calendar { schedules { upcoming(count: 50) { cutoff fireAt } } } } } } } }',
      {},
      driver,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(answer.status).toBe(400);
    expect(errorCodes(answer)).toEqual(['BAD_USER_INPUT']);
    expect(answer.errors![0]!.message).toMatch(/Query cost \d+ exceeds the limit of 5000/);
    const badCount = await graphql(server.url, '{ payoutSchedules { upcoming(count: 51) { cutoff } } }', {}, driver);
    expect(badCount.status).toBe(400);
    expect(errorCodes(badCount)).toEqual(['BAD_USER_INPUT']);
  });

  it('answers what a UI asks of calendars and schedules in a bounded number of queries', async () => {
    const logger = server.app.orm.config.getLogger();
    const original = logger.logQuery.bind(logger);
    let queries = 0;
    logger.logQuery = (context) => {
      queries++;
      original(context);
    };
    type Answer = {
      calendars: { id: string; schedules: { id: string }[] }[];
      payoutSchedules: { calendar: { id: string }; upcoming: unknown[] }[];
    };
    try {
      const answer = await graphql<Answer, object>(
        server.url,
        '{ calendars { id schedules { id } } payoutSchedules { id cron calendar { id timezone } upcoming { cutoff fireAt } } }',
        {},
        driver,
      );
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.calendars.flatMap((c) => c.schedules)).toHaveLength(31);
      const schedules = answer.data!.payoutSchedules;
      expect(schedules).toHaveLength(31);
      expect(schedules.every((s) => s.calendar.id === 'cal-1' && s.upcoming.length === 3)).toBe(true);
    } finally {
      logger.logQuery = original;
    }
    // calendars, their schedules, all schedules, the schedules' calendar: one query each, none per schedule.
    expect(queries).toBeLessThanOrEqual(4);
  });

  it('reads the operations and runs of every shop of a page in one query each, not one per shop', async () => {
    const { app } = server;
    const shops = Array.from({ length: 12 }, (_, i) => ({ partyId: 'batch-party', shopId: `shop-${String(i).padStart(2, '0')}` }));
    await app.inbound.processBatch(asMessages(app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, shops.map((shop) => party.created(shop))), 'KAFKA');
    await app.inbound.processBatch(
      asMessages(
        app.settingsOf(operationsModule).TOPIC_INVOICING,
        shops.flatMap((shop, i) =>
          Array.from({ length: i % 4 }, (_, n) => invoicing.payment(shop, { invoiceId: `inv-${n}`, amount: 1000 + n, occurredAt: new Date() })),
        ),
      ),
      'KAFKA',
    );
    const logger = app.orm.config.getLogger();
    const original = logger.logQuery.bind(logger);
    let queries = 0;
    logger.logQuery = (context) => {
      queries++;
      original(context);
    };
    type Answer = {
      shops: { nodes: { shopId: string; operations: { totalCount: number; nodes: { payable: { minor: string } }[] }; runs: { totalCount: number } }[] };
    };
    let answer;
    try {
      answer = await graphql<Answer, object>(
        server.url,
        '{ shops(first: 20, filter: { partyId: "batch-party" }) { nodes { shopId operations(first: 2) { totalCount nodes { payable { minor } } } runs(first: 2) { totalCount nodes { cutoff } } } } }',
        {},
        admin,
      );
    } finally {
      logger.logQuery = original;
    }
    expect(answer.errors).toBeUndefined();
    const got = answer.data!.shops.nodes.map((shop) => [shop.shopId, shop.operations.totalCount, shop.operations.nodes.map((n) => n.payable.minor)]);
    // Each shop its own operations, newest first, at most two of them, and its own count.
    expect(got).toEqual(
      shops.map((shop, i) => [shop.shopId, i % 4, Array.from({ length: i % 4 }, (_, n) => String(1000 + n)).reverse().slice(0, 2)]),
    );
    expect(answer.data!.shops.nodes.every((shop) => shop.runs.totalCount === 0)).toBe(true);
    // The shops, their operations' pages and counts, their runs' pages and counts: one query each, whatever the number of shops.
    expect(queries).toBeLessThanOrEqual(5);
  });

  it('keeps the maxima the cost is worked out from: schedules on a calendar', async () => {
    const upsert = (id: string) =>
      graphql(server.url, `mutation { upsertPayoutSchedule(input: { id: "${id}", cron: "0 9 * * *", calendarId: "cal-1" }) { id } }`, {}, admin);
    for (let i = 31; i < MAX_SCHEDULES_PER_CALENDAR; i++) expect((await upsert(`s-${i}`)).errors).toBeUndefined();
    const beyond = await upsert('s-one-too-many');
    expect(errorCodes(beyond)).toEqual(['CONFLICT']);
    expect(beyond.errors![0]!.message).toMatch(/at most 50 payout schedules on a calendar/);
    // Replacing one that is there already is not adding one.
    expect((await upsert('s-0')).errors).toBeUndefined();
  });

  it('caps depth, aliases, fields and tokens with the settings’ defaults', async () => {
    const cases: [string, RegExp, string][] = [
      [`{ ${aliases(31, '__typename')} }`, /more than 30 aliases/, 'GRAPHQL_VALIDATION_FAILED'],
      [`{ payouts { nodes { ${'id '.repeat(501)} } } }`, /more than 500 fields/, 'GRAPHQL_VALIDATION_FAILED'],
      [
        '{ shops { nodes { runs { nodes { payout { operations { nodes { amount { minor } } } } } } } } }',
        /depth \d+ exceeds the limit of 8/,
        'GRAPHQL_VALIDATION_FAILED',
      ],
      [`{ payouts(filter: { status: [${'CREATED '.repeat(5_000)}] }) { totalCount } }`, /contains more tha[nt] 5000 tokens/, 'GRAPHQL_PARSE_FAILED'],
    ];
    for (const [document, message, code] of cases) {
      const answer = await graphql(server.url, document, {}, driver);
      expect(answer.status, document.slice(0, 60)).toBe(400);
      expect(errorCodes(answer)).toEqual([code]);
      expect(answer.errors![0]!.message).toMatch(message);
    }
  });

  it('answers an operationName the document does not have with a 400 that says so', async () => {
    for (const [query, operationName, message] of [
      ['query A { payouts { totalCount } }', 'B', /no operation named "B"; it has A/],
      ['{ payouts { totalCount } }', 'B', /no operation named "B"/],
      ['query A { payouts { totalCount } } query B { payouts { totalCount } }', undefined, /several operations \(A, B\)/],
    ] as const) {
      const response = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${driver}` },
        body: JSON.stringify({ query, operationName }),
      });
      const text = await response.text();
      expect(response.status, text).toBe(400);
      const body = JSON.parse(text) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors.map((e) => e.extensions.code)).toEqual(['OPERATION_RESOLUTION_FAILURE']);
      expect(body.errors[0]!.message).toMatch(message);
      expect(text).not.toMatch(/stacktrace|INTERNAL_SERVER_ERROR/);
    }
  });

  it('labels the request metric by the root field, never by the client’s operationName', async () => {
    for (let i = 0; i < 25; i++) {
      const answer = await graphql(server.url, `query Name${i}x${Date.now()} { payouts(first: 1) { totalCount } }`, {}, driver);
      expect(answer.errors).toBeUndefined();
    }
    await graphql(server.url, 'query Two { payouts(first: 1) { totalCount } calendars { id } }', {}, driver);
    await graphql(server.url, '{ nope }', {}, driver);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const labels = new Set(
      [...metrics.matchAll(/^payouts_graphql_request_duration_seconds_count\{operation="([^"]*)"\}/gm)].map((match) => match[1]),
    );
    expect(labels).toContain('query payouts');
    expect(labels).toContain('query multiple');
    expect(labels).toContain('unresolved');
    expect([...labels].filter((label) => /Name\d|Two/.test(label!))).toEqual([]);
  });
});
