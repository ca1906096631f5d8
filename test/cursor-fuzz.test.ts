import 'reflect-metadata';
import {
  getNamedType,
  isInputObjectType,
  isNonNullType,
  isObjectType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accrualsModule } from '../src/accruals/module';
import { payoutsModule } from '../src/payouts/module';
import { shopsModule } from '../src/shops/module';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { asMessages, party } from './helpers/shops';

/**
 * Every cursor and id argument of every operation, found in the schema (so a new one is fuzzed
 * without being listed), gets hostile values: cursors that decode to nonsense or to dates no
 * database holds (year 99999), ids too long, of the wrong kind, or out of range. Each answer is a
 * typed error or an empty result, never INTERNAL_SERVER_ERROR.
 */

let server: TestServer;
let payoutId: string;
const admin = tokenFor('admin');
const shop = { partyId: 'fuzz-party', shopId: 'fuzz-shop' };

beforeAll(async () => {
  server = await startTestServer();
  const { app } = server;
  await app.inbound.processBatch(asMessages(app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, [party.created(shop)]), 'KAFKA');
  const payee = { kind: 'CLIENT' as const, id: 'fuzz-client' };
  payoutId = await app.orm.em.fork().transactional(async (em) => {
    await app.use(accrualsModule).accruals.apply(em, { payee, account: 'payout', amount: 1_000n, currency: 'RUB', reference: 'fuzz', occurredAt: new Date() }, 'MANUAL');
    const payout = await app.use(payoutsModule).lifecycle.create(em, { payee, amount: 100n, currency: 'RUB', source: 'MANUAL', idempotencyKey: 'fuzz' });
    return payout.payout.id;
  });
});
afterAll(async () => server?.close());

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const UUID = '0b7e6a4e-8d1c-4c3e-9d55-2f0a0c6b7e11';

const HOSTILE: string[] = [
  '',
  ' ',
  'x',
  "' OR 1=1 --",
  'x'.repeat(10_000),
  '-1',
  '0',
  '1.5',
  '1e400',
  '99999999999999999999',
  '9223372036854775808',
  '00000000-0000-0000-0000-000000000000',
  UUID,
  '😀',
  '%00',
  '../..',
  b64(''),
  b64('[]'),
  b64('{}'),
  b64('null'),
  b64('[null]'),
  b64('[1]'),
  b64('["a","b","c"]'),
  b64('["a"]'),
  b64('["a","b"]'),
  b64('["+099999-01-01T00:00:00.000Z"]'),
  b64('["-000001-01-01T00:00:00.000Z"]'),
  b64('["9999-12-31T23:59:59.999Z"]'),
  b64('["0000-01-01T00:00:00.000Z"]'),
  b64('["2026-02-30T00:00:00.000Z"]'),
  b64('["99999999999999999999"]'),
  b64('["1e400"]'),
  b64('["-1"]'),
  b64(`+099999-01-01T00:00:00.000Z|${UUID}`),
  b64(`-271821-04-20T00:00:00.000Z|${UUID}`),
  b64(`2026-01-01T00:00:00.000Z|not-a-uuid`),
  b64(`nonsense|${UUID}`),
  b64('|'),
];

/** Arguments that name something by id, or are a cursor. */
const isIdLike = (arg: GraphQLArgument) =>
  arg.name === 'after' || arg.name === 'before' || arg.name === 'id' || /Id$/.test(arg.name) || getNamedType(arg.type).name === 'ID';

/** How to reach a field of a type other than the roots: a parent that exists. */
function parentPath(type: string): ((inner: string) => string) | null {
  switch (type) {
    case 'Query':
      return (inner) => `query($v: TYPE) { ${inner} }`;
    case 'Mutation':
      return (inner) => `mutation($v: TYPE) { ${inner} }`;
    case 'Shop':
      return (inner) => `query($v: TYPE) { shop(partyId: "${shop.partyId}", shopId: "${shop.shopId}") { ${inner} } }`;
    case 'Payout':
      return (inner) => `query($v: TYPE) { payout(id: "${payoutId}") { ${inner} } }`;
    default:
      return null;
  }
}

/** A harmless value for another required argument of the field. */
function filler(arg: GraphQLArgument): string {
  const type = getNamedType(arg.type);
  if (isInputObjectType(type)) throw new Error(`no filler for the input ${type.name} of ${arg.name}`);
  if (type.name === 'Int') return '1';
  if (type.name === 'Boolean') return 'false';
  return '"fuzz"';
}

interface Case {
  name: string;
  document: string;
}

function cases(schema: GraphQLSchema): { cases: Case[]; unreachable: string[] } {
  const found: Case[] = [];
  const unreachable: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values((type as GraphQLObjectType).getFields()) as GraphQLField<unknown, unknown>[]) {
      for (const arg of field.args.filter(isIdLike)) {
        const path = parentPath(type.name);
        if (!path) {
          unreachable.push(`${type.name}.${field.name}(${arg.name})`);
          continue;
        }
        const others = field.args
          .filter((other) => other !== arg && isNonNullType(other.type) && other.defaultValue === undefined)
          .map((other) => `${other.name}: ${filler(other)}`);
        const selection = isObjectType(getNamedType(field.type)) ? ' { __typename }' : '';
        const call = `${field.name}(${[`${arg.name}: $v`, ...others].join(', ')})${selection}`;
        found.push({ name: `${type.name}.${field.name}(${arg.name})`, document: path(call).replace('TYPE', String(arg.type)) });
      }
    }
  }
  return { cases: found, unreachable };
}

describe('cursor and id arguments', () => {
  it('answer every hostile value with a typed error or an empty result, never an internal error', async () => {
    const schema = await server.app.graphqlSchema();
    const { cases: all, unreachable } = cases(schema);
    // A field whose parent this test cannot reach yet: add a path to it above.
    expect(unreachable).toEqual([]);
    expect(all.map((c) => c.name)).toEqual(expect.arrayContaining(['Shop.runs(after)', 'Query.payouts(after)', 'Mutation.cancelPayout(id)']));
    const failures: string[] = [];
    for (const { name, document } of all) {
      for (const value of HOSTILE) {
        const response = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
          body: JSON.stringify({ query: document, variables: { v: value } }),
        });
        const text = await response.text();
        if (response.status >= 500 || /INTERNAL_SERVER_ERROR|stacktrace/.test(text)) {
          failures.push(`${name} with ${JSON.stringify(value.slice(0, 60))}: ${response.status} ${text.slice(0, 200)}`);
          continue;
        }
        const body = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
        for (const error of body.errors ?? []) {
          if (!['BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT'].includes(error.extensions?.code ?? '')) {
            failures.push(`${name} with ${JSON.stringify(value.slice(0, 60))}: ${text.slice(0, 200)}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuse a runs cursor dated year 99999 as BAD_USER_INPUT', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({
        query: 'query($after: String) { shop(partyId: "fuzz-party", shopId: "fuzz-shop") { runs(after: $after) { totalCount } } }',
        variables: { after: b64('["+099999-01-01T00:00:00.000Z"]') },
      }),
    });
    expect(response.status).toBe(200); // a resolver's error: the shop is answered, its runs are not
    const body = (await response.json()) as { errors: { message: string; path: string[]; extensions: { code: string } }[] };
    expect(body.errors.map((e) => [e.path.join('.'), e.extensions.code])).toEqual([['shop.runs', 'BAD_USER_INPUT']]);
  });
});
