import 'reflect-metadata';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../src/payment-systems/registry';
import { CREDENTIAL_FIELDS, type PaymentSystem } from '../src/wallets/payment-systems';
import { startCallbackTestbed, type CallbackReply, type CallbackTestbed, type TestPark, type TestWallet } from './helpers/callbacks';
import { Random, seedFromEnv } from './helpers/random';

/**
 * Every adapter in the registry, fed what the open internet sends: random bytes, huge bodies,
 * wrong content types, missing and absurd fields, through a live link. None of it may give a 500,
 * a stack trace, an adapter's throw (the server would hide it as "temporary error": counted as
 * ERROR in the metrics) or a credit.
 */

/** Each system's currency (payment-systems.md). */
const CURRENCY: Partial<Record<PaymentSystem, string>> = {
  QIWI_MD: 'MDL',
  MOBILNIK: 'KGS',
  TELLCELL: 'AMD',
  IDRAM: 'AMD',
  TBC: 'GEL',
  UZPAYNET: 'UZS',
  EASYPAY: 'UAH',
  PAYSTACK: 'NGN',
};

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
/** Credentials that pass the system's validation: what each field's kind asks for. */
function sampleCredentials(system: PaymentSystem): Record<string, string> | null {
  const fields = Object.entries(CREDENTIAL_FIELDS[system]);
  if (fields.length === 0) return null;
  return Object.fromEntries(
    fields.map(([name, spec]) => [
      name,
      spec.kind === 'date'
        ? '2027-12-01'
        : spec.kind === 'pem'
          ? (name.toLowerCase().includes('private') ? privateKey.export({ type: 'pkcs8', format: 'pem' }) : publicKey.export({ type: 'spki', format: 'pem' })).toString().trim()
          : spec.secret
            ? randomBytes(16).toString('hex')
            : `t-${randomBytes(3).toString('hex')}`,
    ]),
  );
}

const CONTENT_TYPES = [
  undefined,
  'application/x-www-form-urlencoded',
  'application/json',
  'text/xml; charset=utf-8',
  'application/soap+xml',
  'text/plain',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  '; ;;',
];

const ABSURD_VALUES = ['', ' ', '-1', '1e309', 'NaN', '9'.repeat(400), '0x10', '10.4.5', '\u0000', '%00', '<a>', '"\'', '../../etc/passwd', '\u202e', '١٢٣'];
const FIELD_NAMES = ['command', 'txn_id', 'account', 'sum', 'ccy', 'txn_date', 'EDP_AMOUNT', 'EDP_BILL_NO', 'EDP_CHECKSUM', 'amount', 'event', '__proto__', 'constructor'];

const adapters = Object.values(ADAPTERS);
let bed: CallbackTestbed;
const sites = new Map<PaymentSystem, { park: TestPark; wallet: TestWallet }>();
const random = new Random(seedFromEnv());

beforeAll(async () => {
  bed = await startCallbackTestbed({ env: { CALLBACK_BODY_LIMIT: '65536' } });
  for (const adapter of adapters) {
    const park = await bed.park({ currency: CURRENCY[adapter.system] ?? 'RUB' });
    sites.set(adapter.system, { park, wallet: await park.wallet(adapter.system, sampleCredentials(adapter.system)) });
  }
});
afterAll(async () => bed?.close());

async function errorCount(system: PaymentSystem): Promise<number> {
  const text = await (await fetch(`${bed.callbackUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`payouts_callback_refusals_total{payment_system="${system}",code="ERROR"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

function expectNoLeak(reply: CallbackReply, input: string): void {
  const what = `${input.slice(0, 300)} (replay with SEED=${random.seed})`;
  expect(reply.status, what).toBeLessThan(500);
  expect(reply.text, what).not.toMatch(/\bat .+\(.+:\d+:\d+\)|node_modules|\/src\/|TypeError|SyntaxError|ReferenceError|stack/);
}

describe.each(adapters.map((adapter) => ({ system: adapter.system })))('$system under hostile input', ({ system }) => {
  const site = () => sites.get(system)!;

  it('random bytes with every content type: no 500, no stack, no throw', async () => {
    const errorsBefore = await errorCount(system);
    for (let i = 0; i < 40; i++) {
      const type = CONTENT_TYPES[i % CONTENT_TYPES.length];
      const body = randomBytes(random.int(0, 4096));
      const reply = await bed.call(site().wallet.link, { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
      expectNoLeak(reply, `random body as ${type}`);
    }
    expect(await errorCount(system)).toBe(errorsBefore);
  });

  it('absurd and missing fields, in the query, a form, JSON and XML: no 500, no throw', async () => {
    const errorsBefore = await errorCount(system);
    const { park } = site();
    for (let i = 0; i < 100; i++) {
      // Plausible or absurd, field by field, so the protocols' deeper steps are reached too; a valid
      // amount only ever goes with an account that may not be credited (fired, unknown), so whatever
      // else the fields say, nothing may be credited.
      const validAmount = random.chance(0.5);
      const plausible: Record<string, string[]> = {
        command: ['check', 'pay', 'getInfo', 'Check', 'Payment'],
        txn_id: [String(10_000 + i), String(i)],
        account: validAmount ? [park.fired.id, 'nobody-here'] : [park.working.id, park.working.phone, park.fired.id],
        sum: validAmount ? ['10.00', '1', '0.01'] : ['10.001', '-5', ''],
        amount: validAmount ? ['1000', '10.00'] : ['-1', '1.5'],
        ccy: [park.currency],
        txn_date: ['20261203120000'],
        event: ['charge.success'],
      };
      const params = Object.create(null) as Record<string, string>;
      for (const name of FIELD_NAMES) {
        if (random.chance(0.15)) continue;
        const good = Object.hasOwn(plausible, name) ? plausible[name] : undefined;
        params[name] = good && random.chance(0.7) ? random.pick(good) : validAmount && (name === 'account' || name === 'EDP_REC_ACCOUNT') ? 'nobody' : random.pick(ABSURD_VALUES);
      }
      const json = JSON.stringify({ event: 'charge.success', data: { ...params, amount: random.pick([-1, 1e308, 1.5, null, {}]), currency: random.pick(['NGN', null, 7]) } });
      const xml = `<?xml version="1.0"?><Request>${Object.entries(params).map(([k, v]) => `<${k.replace(/\W/g, 'x')}>${v.replace(/[<&]/g, '')}</${k.replace(/\W/g, 'x')}>`).join('')}</Request>`;
      const replies = [
        await bed.call(site().wallet.link, { query: params }),
        await bed.call(site().wallet.link, { form: params }),
        await bed.call(site().wallet.link, { body: json, headers: { 'content-type': 'application/json' } }),
        await bed.call(site().wallet.link, { body: xml, headers: { 'content-type': 'text/xml' } }),
      ];
      for (const reply of replies) expectNoLeak(reply, JSON.stringify(params));
    }
    for (const reply of [await bed.call(site().wallet.link), await bed.call(site().wallet.link, { method: 'POST' })]) expectNoLeak(reply, 'empty');
    expect(await errorCount(system)).toBe(errorsBefore);
  });

  it('a body over CALLBACK_BODY_LIMIT is refused with 413 before the adapter; a huge query likewise gets no 500', async () => {
    const huge = await bed.call(site().wallet.link, { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 0x61), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(huge.status).toBe(413);
    expect(huge.text).toBe('Bad request');
    const longQuery = await bed.call(site().wallet.link, { query: { command: 'pay', account: 'x'.repeat(12_000) } });
    expect(longQuery.status).toBeLessThan(500);
  });

  it('credited nothing: no top-up recorded, the drivers’ balances zero', async () => {
    await bed.settle();
    const { park, wallet } = site();
    const [row] = await bed.server.app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM topup_transaction WHERE wallet_id = ? AND status <> 'REJECTED'`, [wallet.id]);
    expect(Number(row!.n)).toBe(0);
    expect(await park.balance(park.working.id)).toBe(0n);
    expect(await park.balance(park.fired.id)).toBe(0n);
  });
});
