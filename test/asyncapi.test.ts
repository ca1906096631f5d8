import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { schemas as asyncapiSchemas } from '@asyncapi/specs';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { accrualsModule } from '../src/accruals/module';
import { MODULES } from '../src/app/modules';
import { operationsModule } from '../src/operations/module';
import { parseOperation } from '../src/operations/operation';
import { payoutsModule } from '../src/payouts/module';
import { DomainError } from '../src/platform/errors';
import { parseEnvelope } from '../src/platform/kafka/inbound';
import { shopsModule } from '../src/shops/module';
import { createTestApp, type TestApp } from './helpers/app';

/**
 * docs/asyncapi.yaml is the Kafka contract other teams read; this holds it to the code. The
 * document is valid AsyncAPI 3.0; it has a channel for every topic the service reads or writes;
 * every inbound example is accepted by the topic's real handler and every broken variant of one
 * (a required field left out, a field of the wrong kind) is refused by both the document's schema
 * and the handler; every message the code writes matches the document's schema for its topic.
 */

type Json = Record<string, any>;

const DOCUMENT_FILE = path.resolve(__dirname, '../docs/asyncapi.yaml');
const document: Json = parseYaml(readFileSync(DOCUMENT_FILE, 'utf8'));

/** The document with its local `$ref`s replaced by what they point to (it has no cycles). */
function resolved(value: unknown): any {
  if (Array.isArray(value)) return value.map(resolved);
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as Json).$ref;
  if (typeof ref === 'string') {
    if (!ref.startsWith('#/')) throw new Error(`only local references are used: ${ref}`);
    return resolved(ref.slice(2).split('/').reduce((node: Json, key) => node[key.replaceAll('~1', '/').replaceAll('~0', '~')], document));
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolved(item)]));
}

const contract = resolved(document);
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

interface Message {
  name: string;
  payload: Json;
  examples: { name: string; payload: Json }[];
  validate: ValidateFunction;
}

/** Each channel by its address (the default topic name), with its messages' schemas compiled. */
const channels = new Map<string, Message[]>(
  Object.values(contract.channels as Record<string, Json>).map((channel) => [
    channel.address,
    Object.values(channel.messages as Record<string, Json>).map((message) => ({
      name: message.name,
      payload: message.payload,
      examples: message.examples ?? [],
      validate: ajv.compile(message.payload),
    })),
  ]),
);

/** The addresses of the channels whose operations have this action. */
function addresses(action: 'send' | 'receive'): string[] {
  return Object.values(contract.operations as Record<string, Json>)
    .filter((operation) => operation.action === action)
    .map((operation) => operation.channel.address)
    .sort();
}

/** A payload schema's required fields and properties, through its `allOf` parts. */
function shape(schema: Json): { required: string[]; properties: Record<string, Json> } {
  const parts = [schema, ...(schema.allOf ?? [])];
  return {
    required: [...new Set(parts.flatMap((part) => part.required ?? []))],
    properties: Object.assign({}, ...parts.map((part) => part.properties ?? {})),
  };
}

/** Values of the wrong kind for most fields; the first one a field's own schema refuses is used. */
const WRONG_VALUES: unknown[] = [{ unexpected: true }, 'not-a-valid-value-§', 12.5, true, [1]];

/** What the topic's real handler makes of a message: null when it accepts it, else why it refuses. */
function refusal(handler: { parse(json: Json, eventId: string): unknown }, payload: Json): string | null {
  try {
    const { eventId, json } = parseEnvelope(JSON.stringify(payload));
    handler.parse(json, eventId);
    return null;
  } catch (error) {
    if (error instanceof DomainError) return error.message;
    throw error;
  }
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

describe('docs/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3.0 document', () => {
    expect(document.asyncapi).toBe('3.0.0');
    // The specification's own schema embeds draft-07's meta-schema, so ajv's must stay out.
    const specification = new Ajv({ allErrors: true, strict: false, meta: false, validateSchema: false });
    addFormats(specification);
    const validate = specification.compile(asyncapiSchemas['3.0.0']);
    expect(validate(document), JSON.stringify(validate.errors, null, 2)).toBe(true);
    for (const schema of Object.values(contract.components.schemas as Record<string, Json>)) expect(ajv.validateSchema(schema)).toBe(true);
  });

  it('has a channel for every topic the service reads, and only those are received', () => {
    expect(addresses('receive')).toEqual(t.app.inbound.topics().sort());
  });

  it('has a channel for every topic the service writes, and only those are sent', () => {
    const outbound = MODULES.flatMap((module) => module.outboundTopics?.({ settings: t.app.settingsOf(module) }) ?? []);
    expect(addresses('send')).toEqual([...new Set(outbound)].sort());
  });

  it('gives every message an example its schema accepts', () => {
    for (const [address, messages] of channels) {
      for (const message of messages) {
        expect(message.examples.length, `${address} ${message.name}`).toBeGreaterThan(0);
        for (const example of message.examples) {
          expect(message.validate(example.payload), `${address} ${message.name} ${example.name}: ${JSON.stringify(message.validate.errors)}`).toBe(true);
        }
      }
    }
  });
});

describe('inbound messages as the document writes them', () => {
  for (const address of addresses('receive')) {
    it(`${address}: every example is accepted by the real handler, every broken variant refused by the schema and the handler`, () => {
      const handler = t.app.inbound.handlerFor(address);
      expect(handler, address).toBeDefined();
      let variants = 0;
      for (const message of channels.get(address)!) {
        const { required, properties } = shape(message.payload);
        for (const example of message.examples) {
          const where = `${address} ${message.name} ${example.name}`;
          expect(refusal(handler!, example.payload), where).toBeNull();

          for (const field of required) {
            const { [field]: _left, ...broken } = example.payload;
            expect(message.validate(broken), `${where} without ${field}: the schema`).toBe(false);
            expect(refusal(handler!, broken), `${where} without ${field}: the handler`).not.toBeNull();
            variants += 1;
          }
          // And what the document leaves optional, the handler does without.
          for (const field of Object.keys(example.payload).filter((name) => !required.includes(name))) {
            const { [field]: _left, ...fewer } = example.payload;
            expect(message.validate(fewer), `${where} without optional ${field}: the schema`).toBe(true);
            expect(refusal(handler!, fewer), `${where} without optional ${field}: the handler`).toBeNull();
          }
          for (const [field, schema] of Object.entries(properties)) {
            const validateField = ajv.compile(schema);
            const wrong = WRONG_VALUES.find((value) => !validateField(value));
            if (wrong === undefined) continue; // a field the service does not read: anything goes
            const broken = { ...example.payload, [field]: wrong };
            expect(message.validate(broken), `${where} with ${field}: ${JSON.stringify(wrong)}: the schema`).toBe(false);
            expect(refusal(handler!, broken), `${where} with ${field}: ${JSON.stringify(wrong)}: the handler`).not.toBeNull();
            variants += 1;
          }
        }
      }
      expect(variants).toBeGreaterThan(0);
    });
  }

  it('matches messages to the right message of a channel: an example of one type is no other', () => {
    // party-management and invoicing carry several types on one topic; `type` tells them apart.
    for (const address of ['party-management', 'invoicing']) {
      const messages = channels.get(address)!;
      for (const message of messages) {
        for (const example of message.examples) {
          expect(messages.filter((other) => other.validate(example.payload)).map((m) => m.name), `${address} ${example.name}`).toEqual([message.name]);
        }
      }
    }
  });
});

describe('outbound messages the code writes', () => {
  /** Every message the outbox holds, after payouts of a shop, a client and a park walk their lifecycles. */
  async function writtenMessages(): Promise<{ topic: string; key: string | null; value: Json }[]> {
    const em = t.app.orm.em.fork();
    const { shops } = t.app.use(shopsModule);
    const { operations } = t.app.use(operationsModule);
    const { accruals } = t.app.use(accrualsModule);
    const { lifecycle } = t.app.use(payoutsModule);
    const shop = { partyId: 'contract-party', shopId: 'contract-shop' };
    const occurredAt = new Date('2026-11-02T10:00:00Z');
    await em.transactional(async (tx) => {
      await shops.apply(tx, { type: 'ShopCreated', eventId: 'contract-shop', occurredAt, ...shop, currency: 'RUB', payoutToolId: 'tool-1', payoutScheduleId: null });
      await operations.record(tx, [
        parseOperation('contract-payment', { type: 'PaymentCaptured', occurredAt: occurredAt.toISOString(), ...shop, invoiceId: 'i1', paymentId: '1', amount: '100000', fee: '2500', currency: 'RUB' }),
      ]);
      for (const payee of [{ kind: 'CLIENT', id: 'contract-client' }, { kind: 'PARK', id: 'contract-park' }] as const) {
        await accruals.apply(tx, { payee, account: 'payout', amount: 90_000n, currency: 'RUB', reference: 'contract', occurredAt }, 'MANUAL');
      }
    });
    const walk = async (input: Parameters<typeof lifecycle.create>[1], steps: Parameters<typeof lifecycle.transition>[2][]) => {
      const { payout } = await em.transactional((tx) => lifecycle.create(tx, input));
      for (const status of steps) await em.transactional((tx) => lifecycle.transition(tx, payout.id, status, { actor: 'test', reason: 'contract test' }));
    };
    await walk(
      { payee: { kind: 'SHOP', ...shop }, amount: 67_000n, currency: 'RUB', source: 'SCHEDULE', idempotencyKey: 'contract-shop-1', sourceRef: 'weekly', cutoff: occurredAt, payoutToolId: 'tool-1' },
      ['SENT', 'ACCEPTED', 'PAID', 'RETURNED'],
    );
    await walk({ payee: { kind: 'CLIENT', id: 'contract-client' }, amount: 30_000n, currency: 'RUB', source: 'REQUEST', idempotencyKey: 'contract-client-1', sourceRef: 'r-1' }, ['SENT', 'REJECTED']);
    await walk({ payee: { kind: 'CLIENT', id: 'contract-client' }, amount: 10_000n, currency: 'RUB', source: 'MANUAL', idempotencyKey: 'contract-client-2' }, ['CANCELLED']);
    await walk({ payee: { kind: 'PARK', id: 'contract-park' }, amount: 40_000n, currency: 'RUB', source: 'PERIODIC', idempotencyKey: 'contract-park-1' }, ['SENT', 'PAID']);

    const rows = await em.execute<{ topic: string; key: string | null; value: string }[]>('SELECT topic, key, value FROM outbox_message ORDER BY id');
    return rows.map((row) => ({ topic: row.topic, key: row.key, value: JSON.parse(row.value) as Json }));
  }

  it('match the schema of their topic, for every payee kind and status', async () => {
    const written = await writtenMessages();
    expect(new Set(written.map((m) => m.topic))).toEqual(new Set(addresses('send')));
    for (const message of written) {
      const messages = channels.get(message.topic);
      expect(messages, `a channel for ${message.topic}`).toBeDefined();
      const accepted = messages!.filter((m) => m.validate(message.value));
      expect(accepted.length, `${message.topic} ${JSON.stringify(message.value)}: ${JSON.stringify(messages!.map((m) => m.validate(message.value) || m.validate.errors))}`).toBe(1);
      // Both outbound topics are keyed by the payout.
      expect(message.key).toBe(message.value.payoutId);
    }
    // What the run covered: every status, each payee kind, with and without a payout tool.
    const events = written.filter((m) => m.topic === 'payouts.events').map((m) => m.value);
    expect(new Set(events.map((e) => e.status))).toEqual(new Set(['CREATED', 'SENT', 'ACCEPTED', 'PAID', 'REJECTED', 'RETURNED', 'CANCELLED']));
    const handedOver = written.filter((m) => m.topic === 'erp.payouts').map((m) => m.value);
    expect(handedOver.map((m) => [m.payee.kind, m.payoutToolId ?? null])).toEqual([
      ['SHOP', 'tool-1'],
      ['CLIENT', null],
      ['PARK', null],
    ]);
  });

  it('would be caught if they changed: a field more, a field less or a number for an amount', () => {
    const [example] = channels.get('erp.payouts')![0]!.examples;
    const validate = channels.get('erp.payouts')![0]!.validate;
    expect(validate(example!.payload)).toBe(true);
    expect(validate({ ...example!.payload, extra: 1 })).toBe(false);
    const { cashPaymentFactId: _dropped, ...fewer } = example!.payload;
    expect(validate(fewer)).toBe(false);
    expect(validate({ ...example!.payload, amount: 67000 })).toBe(false);
  });
});
