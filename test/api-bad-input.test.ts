import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BalancesDocument,
  CancelPayoutDocument,
  DeadLettersDocument,
  PayoutDocument,
  PayoutsDocument,
  RecordAccrualDocument,
  RetryDeadLetterDocument,
  type AccrualInput,
} from './generated/graphql';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';

/**
 * Hostile and malformed input: every answer is a typed error (or an empty result), never an
 * internal error, never a stack trace, and nothing changes in the books.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const admin = tokenFor('admin');

interface Answer {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] } | null;
}

/** Posts a raw body, as a careless or hostile client might. */
async function post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, ...headers },
    body,
  });
  const text = await response.text();
  let parsed: Answer['body'] = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: judged by status and text alone.
  }
  return { status: response.status, text, body: parsed };
}

function ask(document: Parameters<typeof print>[0] | string, variables: unknown): Promise<Answer> {
  return post(JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }));
}

const STACK_FRAME = /\bat (?:[\w$.<>[\] ]+ \()?(?:file:|node:|\/)[^\s)]*:\d+:\d+/;

/** No internal error, no stack; returns the error codes. */
function typed(answer: Answer): (string | undefined)[] {
  expect(answer.status, answer.text).toBeLessThan(500);
  expect(answer.text).not.toMatch(/stacktrace/i);
  expect(answer.text).not.toMatch(STACK_FRAME);
  expect(answer.text).not.toContain('INTERNAL_SERVER_ERROR');
  return (answer.body?.errors ?? []).map((e) => e.extensions?.code);
}

function refused(answer: Answer, code = 'BAD_USER_INPUT'): void {
  expect(typed(answer), answer.text).toEqual([code]);
  expect(answer.body?.data ?? null).toBeNull();
}

async function ledgerFingerprint(): Promise<unknown> {
  return server.app.orm.em
    .fork()
    .execute('SELECT (SELECT count(*) FROM ledger_transfer) AS transfers, (SELECT count(*) FROM ledger_account) AS accounts');
}

const accrual = (overrides: Partial<AccrualInput> & Record<string, unknown>): Record<string, unknown> => ({
  payee: { kind: 'CLIENT', id: 'bad-1' },
  amount: '100',
  currency: 'RUB',
  reference: 'bad-ref',
  reason: 'testing hostile input',
  ...overrides,
});

describe('amounts', () => {
  const amounts: unknown[] = [
    '1.5',
    '1e3',
    '',
    ' ',
    '-0.1',
    '-',
    '0',
    '-0',
    '+100',
    ' 100',
    '100 ',
    '0x10',
    '1_000',
    '1,000',
    'NaN',
    'Infinity',
    '--1',
    '١٢٣',
    '1'.repeat(30),
    '9223372036854775808',
    '-9223372036854775809',
    12.5,
    100,
    1e300,
    true,
    null,
    [],
    { minor: '100' },
  ];

  it('refuses every malformed amount with BAD_USER_INPUT and moves no money', async () => {
    const before = await ledgerFingerprint();
    for (const amount of amounts) {
      refused(await ask(RecordAccrualDocument, { input: accrual({ amount: amount as string }) }));
    }
    expect(await ledgerFingerprint()).toEqual(before);
  });
});

describe('currencies', () => {
  it('refuses anything but an ISO 4217 code', async () => {
    const before = await ledgerFingerprint();
    for (const currency of ['XXX', 'rub', 'Rub', 'RUBL', 'RU', '', '   ', 'R B', 'RUB ', '€', "RU'", 'ABC', '\u0000UB', 7]) {
      refused(await ask(RecordAccrualDocument, { input: accrual({ currency: currency as string }) }));
    }
    expect(await ledgerFingerprint()).toEqual(before);
  });
});

describe('payees', () => {
  const hostileIds = [
    '',
    ' ',
    'x'.repeat(129),
    'x'.repeat(100_000),
    "c1'; DROP TABLE payout; --",
    "' OR '1'='1",
    'a/b',
    'a b',
    'a\u0000b',
    '../../etc/passwd',
    '%00',
    '<script>',
    'Ж',
  ];
  const payees: unknown[] = [
    { kind: 'BANK', id: 'b1' },
    { kind: 'client', id: 'c1' },
    { kind: '', id: 'c1' },
    { kind: null, id: 'c1' },
    { id: 'c1' },
    { kind: 'CLIENT' },
    { kind: 'CLIENT', id: null },
    { kind: 'SHOP', partyId: 'p1' },
    { kind: 'SHOP', shopId: 's1' },
    { kind: 'CLIENT', id: 'c1', extra: 'field' },
    'CLIENT:c1',
    ...hostileIds.map((id) => ({ kind: 'CLIENT', id })),
    ...hostileIds.map((id) => ({ kind: 'SHOP', partyId: id, shopId: 's1' })),
  ];

  it('refuses malformed payees in balances', async () => {
    for (const payee of payees) {
      refused(await ask(BalancesDocument, { payee }));
    }
  });

  it('refuses malformed payees, and shops, in accruals', async () => {
    const before = await ledgerFingerprint();
    for (const payee of [...payees, { kind: 'SHOP', partyId: 'p1', shopId: 's1' }]) {
      refused(await ask(RecordAccrualDocument, { input: accrual({ payee: payee as AccrualInput['payee'] }) }));
    }
    expect(await ledgerFingerprint()).toEqual(before);
  });

  it('refuses malformed references and account types in accruals', async () => {
    for (const overrides of [
      { reference: '' },
      { reference: 'r'.repeat(201) },
      { reference: null },
      { account: 'payout-reserved' },
      { account: "payout'; --" },
      { account: 'a'.repeat(40) },
      { account: '' },
      { reason: null },
      { reason: 'x'.repeat(100_000) },
    ]) {
      refused(await ask(RecordAccrualDocument, { input: accrual(overrides as Partial<AccrualInput>) }));
    }
  });
});

describe('ids', () => {
  const ids = ["' OR 1=1 --", '1; DROP TABLE payout', 'x'.repeat(100_000), '', '   ', '00000000-0000-0000-0000-00000000000g'];

  it('answers null for a payout id that matches nothing', async () => {
    for (const id of ids) {
      const answer = await ask(PayoutDocument, { id });
      expect(typed(answer)).toEqual([]);
      expect(answer.body?.data).toEqual({ payout: null });
    }
  });

  it('answers NOT_FOUND when cancelling a payout id that matches nothing', async () => {
    for (const id of ids) refused(await ask(CancelPayoutDocument, { id }), 'NOT_FOUND');
  });

  it('refuses dead-letter ids and cursors that are not ids', async () => {
    // The last two are digits, but more than a PostgreSQL bigint holds.
    const notIds = [...ids, '-1', '1.5', '99999999999999999999', '9223372036854775808'];
    for (const id of notIds) refused(await ask(RetryDeadLetterDocument, { id }));
    for (const after of notIds.filter(Boolean)) refused(await ask(DeadLettersDocument, { after }));
    refused(await ask(RetryDeadLetterDocument, { id: '9223372036854775807' }), 'NOT_FOUND');
    const end = await ask(DeadLettersDocument, { after: '9223372036854775807' });
    expect(typed(end)).toEqual([]);
    expect(end.body?.data).toMatchObject({ deadLetters: { nodes: [], hasNextPage: false } });
  });

  it('lists no dead letters for a hostile topic name', async () => {
    for (const topic of ["' OR '1'='1", '%', 'x'.repeat(100_000)]) {
      const answer = await ask(DeadLettersDocument, { topic });
      expect(typed(answer)).toEqual([]);
      expect(answer.body?.data).toMatchObject({ deadLetters: { nodes: [] } });
    }
  });
});

describe('NUL characters, which PostgreSQL text cannot hold', () => {
  const nul = 'a\u0000b';

  it('refuses them wherever they appear, in variables or in the document', async () => {
    const before = await ledgerFingerprint();
    for (const [document, variables] of [
      [PayoutDocument, { id: nul }],
      [CancelPayoutDocument, { id: nul }],
      [PayoutsDocument, { filter: { partyId: nul } }],
      [PayoutsDocument, { filter: { shopId: nul } }],
      [PayoutsDocument, { filter: { payeeKind: 'CLIENT', payeeId: nul } }],
      [PayoutsDocument, { after: nul }],
      [BalancesDocument, { payee: { kind: 'CLIENT', id: nul } }],
      [DeadLettersDocument, { topic: nul }],
      [RecordAccrualDocument, { input: accrual({ reference: nul }) }],
      [RecordAccrualDocument, { input: accrual({ reason: `long enough ${nul}` }) }],
      [RecordAccrualDocument, { input: accrual({ currency: 'R\u0000B' }) }],
      ['{ payouts(filter: { partyId: "a\\u0000b" }) { totalCount } }', {}],
    ] as const) {
      refused(await ask(document, variables));
    }
    expect(await ledgerFingerprint()).toEqual(before);
  });

  it('refuses them as often as they come: a document seen clean before, a NUL literal again', async () => {
    const clean = await ask(PayoutsDocument, { filter: { partyId: 'clean' } });
    expect(typed(clean)).toEqual([]);
    refused(await ask(PayoutsDocument, { filter: { partyId: nul } }));
    const literal = '{ payouts(filter: { shopId: "a\\u0000b" }) { totalCount } }';
    refused(await ask(literal, {}));
    refused(await ask(literal, {}));
  });
});

describe('text that is not well-formed Unicode', () => {
  // Lone UTF-16 surrogates: each would become U+FFFD on its way to PostgreSQL, so these two keys
  // (and references) would collide into one.
  const lone = ['key-\ud800', 'key-\udfff', '\udc00key', 'a\ud800\ud800b'];

  it('is refused wherever it appears, in variables, keys of variables or the document, and changes nothing', async () => {
    const before = await ledgerFingerprint();
    const requests = async () => (await server.app.orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM payout_request'))[0]!.n;
    const requestsBefore = await requests();
    for (const text of lone) {
      refused(await ask('mutation($i: RequestPayoutInput!) { requestPayout(input: $i) { id } }', { i: { clientId: 'c1', idempotencyKey: text } }));
      refused(await ask(RecordAccrualDocument, { input: accrual({ reference: text }) }));
      refused(await ask(RecordAccrualDocument, { input: accrual({ reason: `long enough ${text}` }) }));
      refused(await ask(PayoutsDocument, { filter: { partyId: text } }));
      refused(await ask(PayoutsDocument, { after: text }));
    }
    refused(await ask(PayoutsDocument, { filter: { partyId: 'x', ['\ud800']: 1 } }));
    // In a literal: the parser refuses it (its escape), or we do.
    const literal = await ask('{ payouts(filter: { partyId: "a\\ud800b" }) { totalCount } }', {});
    expect(typed(literal)).toHaveLength(1);
    expect(typed(literal)[0]).toMatch(/BAD_USER_INPUT|GRAPHQL_PARSE_FAILED/);
    expect(await ledgerFingerprint()).toEqual(before);
    expect(await requests()).toBe(requestsBefore);
  });

  it('lets well-formed text through, surrogate pairs (emoji) included', async () => {
    const answer = await ask(PayoutsDocument, { filter: { partyId: 'emoji-\ud83d\ude00' } });
    expect(typed(answer)).toEqual([]);
    expect(answer.body?.data).toMatchObject({ payouts: { totalCount: 0 } });
  });
});

describe('payout filters and paging arguments', () => {
  it('finds nothing, harmlessly, for hostile strings in filters', async () => {
    for (const value of ["' OR '1'='1", '%', '_', '*', 'x'.repeat(100_000), '\\', '$where', 'Ж']) {
      for (const filter of [{ partyId: value }, { shopId: value }, { payeeKind: 'CLIENT', payeeId: value }]) {
        const answer = await ask(PayoutsDocument, { filter });
        expect(typed(answer)).toEqual([]);
        expect(answer.body?.data).toMatchObject({ payouts: { nodes: [], totalCount: 0 } });
      }
    }
  });

  it('refuses values of the wrong type or out of range', async () => {
    for (const variables of [
      { filter: { payeeKind: 'BANK' } },
      { filter: { status: ['DONE'] } },
      { filter: { status: 'created' } },
      { filter: { source: [1] } },
      { filter: { createdFrom: 'yesterday' } },
      { filter: { createdFrom: '2020-13-45T00:00:00Z' } },
      { filter: { createdTo: '2020-01-01' } },
      { filter: { createdTo: 1_600_000_000 } },
      { filter: { unknownField: 1 } },
      { filter: 'partyId = 1' },
      { first: '10' },
      { first: 1.5 },
      { first: 2 ** 31 },
      { first: -1 },
      { first: 101 },
      { after: {} },
    ]) {
      refused(await ask(PayoutsDocument, variables));
    }
  });

  it('refuses a dead-letter page size out of range', async () => {
    for (const first of [101, -1]) refused(await ask(DeadLettersDocument, { first }));
  });

  it('refuses a payeeId without its kind', async () => {
    refused(await ask(PayoutsDocument, { filter: { payeeId: 'c1' } }));
  });
});

describe('requests that are not GraphQL', () => {
  it('answers a body over the size limit with 413', async () => {
    const answer = await post(JSON.stringify({ query: '{ payouts { totalCount } }', padding: 'x'.repeat(2 * 1024 * 1024) }));
    expect(answer.status).toBe(413);
    typed(answer);
  });

  it('answers invalid JSON with 400', async () => {
    for (const body of ['{', '{"query": "{ payouts { totalCount } }"', 'null x', '\u0000', '']) {
      const answer = await post(body);
      expect(answer.status, body).toBe(400);
      typed(answer);
    }
  });

  it('answers a body of the wrong shape with BAD_REQUEST', async () => {
    for (const body of [
      {},
      { query: 42 },
      { query: null },
      { query: ['{ payouts { totalCount } }'] },
      { query: '{ payouts { totalCount } }', variables: 'first=1' },
      { query: '{ payouts { totalCount } }', variables: [1] },
      { query: '{ payouts { totalCount } }', operationName: 7 },
      { query: '{ payouts { totalCount } }', extensions: 'x' },
      [],
      'just a string',
      42,
    ]) {
      const answer = await post(JSON.stringify(body));
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(typed(answer), JSON.stringify(body)).toEqual(['BAD_REQUEST']);
    }
  });

  it('answers a query that is not GraphQL with GRAPHQL_PARSE_FAILED', async () => {
    for (const query of ['SELECT * FROM payout', '', '{', '{ payouts { totalCount }', '"just a string"', '\u0000', '{ payouts(first: 0x10) { totalCount } }']) {
      const answer = await post(JSON.stringify({ query }));
      expect(answer.status, query).toBe(400);
      const codes = typed(answer);
      expect(codes.length, query).toBe(1);
      expect(['GRAPHQL_PARSE_FAILED', 'BAD_REQUEST'], query).toContain(codes[0]);
    }
  });

  it('answers a query that does not fit the schema with GRAPHQL_VALIDATION_FAILED', async () => {
    for (const query of [
      '{ payouts { nope } }',
      '{ payouts { nodes } }',
      '{ payouts(first: "ten") { totalCount } }',
      '{ payouts(filter: { status: [[CREATED]] }) { totalCount } }',
      '{ payout { id } }',
      'mutation { dropEverything }',
      'subscription { payouts { totalCount } }',
      'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
      'query Q($x: Int) { payouts { totalCount } }',
      '{ payouts(first: 1e400) { totalCount } }',
      '{ payouts(first: 2147483648) { totalCount } }',
    ]) {
      const answer = await post(JSON.stringify({ query }));
      expect(answer.status, query).toBe(400);
      const codes = typed(answer);
      expect(codes.length, query).toBeGreaterThan(0);
      expect(new Set(codes), query).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    }
  });

  it('refuses an ambiguous document without an operation name', async () => {
    const answer = await post(JSON.stringify({ query: 'query A { payouts { totalCount } } query B { payouts { totalCount } }' }));
    expect(answer.status).toBe(400);
    expect(typed(answer)).toHaveLength(1);
    const unknown = await post(JSON.stringify({ query: 'query A { payouts { totalCount } }', operationName: 'B' }));
    expect(unknown.status).toBe(400);
    expect(typed(unknown)).toHaveLength(1);
  });

  it('survives documents built to exhaust the parser or the executor', async () => {
    const bodies = [
      '{'.repeat(50_000),
      `{ ${'payouts { '.repeat(5_000)}${'}'.repeat(5_000)} }`,
      `{ ${Array.from({ length: 20_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      `{ payouts(filter: { partyId: "${'\\u0041'.repeat(50_000)}" }) { totalCount } }`,
      `{ payouts(filter: { status: [${'CREATED, '.repeat(20_000)}] }) { totalCount } }`,
    ];
    for (const query of bodies) {
      const answer = await post(JSON.stringify({ query }));
      const codes = typed(answer);
      if (answer.status !== 200) expect(codes.length, query.slice(0, 40)).toBeGreaterThan(0);
    }
    // Still serving.
    expect((await ask(PayoutsDocument, { first: 1 })).status).toBe(200);
  });

  it('does not run mutations over GET, nor accept GET without a CSRF-safe header', async () => {
    const mutation = encodeURIComponent('mutation { cancelPayout(id: "00000000-0000-4000-8000-000000000000") { id } }');
    for (const headers of [{}, { 'apollo-require-preflight': 'true' }] as Record<string, string>[]) {
      const response = await fetch(`${server.url}/graphql?query=${mutation}`, { headers: { authorization: `Bearer ${admin}`, ...headers } });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      const text = await response.text();
      expect(text).not.toMatch(STACK_FRAME);
    }
  });

  it('answers an unsupported content type without running anything', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const answer = await post('query=%7B%20payouts%20%7B%20totalCount%20%7D%20%7D', { 'content-type': contentType });
      expect(answer.status, contentType).toBeGreaterThanOrEqual(400);
      typed(answer);
      expect(answer.body?.data ?? null).toBeNull();
    }
  });

  it('refuses absurdly nested variables without falling over', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const answer = await post(`{"query":"query($f: PayoutFilter) { payouts(filter: $f) { totalCount } }","variables":{"f":{"status":${deep}}}}`);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    typed(answer);
    expect((await ask(PayoutsDocument, { first: 1 })).status).toBe(200);
  });

  it('ignores prototype-polluting keys in variables', async () => {
    const answer = await post(
      '{"query":"query($f: PayoutFilter) { payouts(filter: $f) { totalCount } }","variables":{"f":{"__proto__":{"partyId":"x"},"constructor":{"prototype":{"x":1}}}}}',
    );
    typed(answer);
    expect(({} as Record<string, unknown>).partyId).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
