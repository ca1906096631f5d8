import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentSystem } from '../src/wallets/payment-systems';
import { startCallbackTestbed, type CallbackTestbed, type TestPark, type TestWallet } from './helpers/callbacks';

/**
 * The OSMP family (QIWI's terminal protocol and the systems assumed or inferred to speak it) over
 * real HTTP against the running callback server, with the protocol's literal requests; every
 * answer is the XML the protocol defines, every balance read through GraphQL.
 */

interface Family {
  system: PaymentSystem;
  currency: string;
  /** The codes where the system differs from QIWI's. */
  codes: { fired: string; tooSmall: string; badAmount: string; tooLarge: string; duplicate: string | null };
}

const QIWI_LIKE = { fired: '79', tooSmall: '241', badAmount: '300', tooLarge: '242', duplicate: null };
const FAMILY: Family[] = [
  { system: 'QIWI', currency: 'RUB', codes: QIWI_LIKE },
  { system: 'QIWI_MD', currency: 'MDL', codes: QIWI_LIKE },
  { system: 'QIWI_QVP', currency: 'RUB', codes: QIWI_LIKE },
  { system: 'MOBILNIK', currency: 'KGS', codes: QIWI_LIKE },
  { system: 'TELLCELL', currency: 'AMD', codes: QIWI_LIKE },
  { system: 'ELECSNET', currency: 'RUB', codes: QIWI_LIKE },
  { system: 'TBC', currency: 'GEL', codes: { fired: '7', tooSmall: '275', badAmount: '275', tooLarge: '275', duplicate: '215' } },
];

/** The allowed network of every system in this test (QIWI's real one for QIWI). */
const ALLOWED = '79.142.16.0/20,91.232.230.0/23';
const INSIDE = '79.142.16.5';
const OUTSIDE = '203.0.113.9';

/** The XML answer's fields, in order. */
function fields(xml: string): Record<string, string> {
  const body = /<response>([\s\S]*)<\/response>/.exec(xml)?.[1];
  if (body === undefined) throw new Error(`not an OSMP answer: ${xml.slice(0, 200)}`);
  return Object.fromEntries([...body.matchAll(/<(\w+)>([^<]*)<\/\1>/g)].map((m) => [m[1]!, m[2]!]));
}

let bed: CallbackTestbed;
beforeAll(async () => {
  bed = await startCallbackTestbed({ env: Object.fromEntries(FAMILY.map((f) => [`${f.system}_ALLOWED_IPS`, ALLOWED])) });
});
afterAll(async () => bed?.close());

describe.each(FAMILY)('$system: check and pay', ({ system, currency, codes }) => {
  let park: TestPark;
  let wallet: TestWallet;
  let txn = 1000;
  const nextTxn = () => String(Date.now()) + String(++txn);
  const call = async (params: Record<string, string>, options: { method?: 'GET' | 'POST'; from?: string } = {}) => {
    const reply = options.method === 'POST'
      ? await bed.call(wallet.link, { form: params, from: options.from ?? INSIDE })
      : await bed.call(wallet.link, { query: params, from: options.from ?? INSIDE });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/xml/);
    expect(reply.text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    return fields(reply.text);
  };
  const balance = () => park.balance(park.working.id);

  beforeAll(async () => {
    park = await bed.park({ currency });
    wallet = await park.wallet(system, null, { maxAmount: '10000000' });
  });

  it('checks a working driver (by id and by phone), an unknown one and a fired one', async () => {
    const id = nextTxn();
    expect(await call({ command: 'check', txn_id: id, account: park.working.id, sum: '10.45', ccy: currency })).toEqual({ osmp_txn_id: id, result: '0', comment: 'OK' });
    expect((await call({ command: 'check', txn_id: nextTxn(), account: park.working.phone, sum: '10.45' })).result).toBe('0');
    expect((await call({ command: 'check', txn_id: nextTxn(), account: 'nobody-here', sum: '10.45' })).result).toBe('5');
    expect((await call({ command: 'check', txn_id: nextTxn(), account: park.fired.id, sum: '10.45' })).result).toBe(codes.fired);
    expect((await call({ command: 'check', txn_id: nextTxn(), account: '<script>', sum: '10.45' })).result).toBe('4');
    expect(await balance()).toBe(0n);
  });

  it('pays once: the same pay again is answered without a second credit', async () => {
    const before = await balance();
    const id = nextTxn();
    const pay = { command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum: '10.45', ccy: currency };
    const first = await call(pay, { method: 'POST' });
    expect(first).toMatchObject({ osmp_txn_id: id, sum: '10.45', result: '0', comment: 'OK' });
    expect(first.prv_txn).toMatch(/^\d+$/);
    await bed.settle();
    expect(await balance()).toBe(before + 1045n);

    const again = await call(pay);
    if (codes.duplicate === null) expect(again).toEqual(first);
    else expect(again).toMatchObject({ osmp_txn_id: id, prv_txn: first.prv_txn, result: codes.duplicate });
    await bed.settle();
    expect(await balance()).toBe(before + 1045n);
  });

  it('refuses a pay to an unknown or fired driver and credits nothing', async () => {
    const before = await balance();
    expect((await call({ command: 'pay', txn_id: nextTxn(), txn_date: '20261203120000', account: 'nobody-here', sum: '5.00' })).result).toBe('5');
    const fired = await call({ command: 'pay', txn_id: nextTxn(), txn_date: '20261203120000', account: park.fired.id, sum: '5.00' });
    expect(fired.result).toBe(codes.fired);
    await bed.settle();
    expect(await park.balance(park.fired.id)).toBe(0n);
    expect(await balance()).toBe(before);
  });

  it.each([
    ['malformed', '10,45', 'badAmount'],
    ['over-precise', '10.455', 'badAmount'],
    ['a float in disguise', '1e3', 'badAmount'],
    ['negative', '-10.00', 'tooSmall'],
    ['zero', '0.00', 'tooSmall'],
    ['overflowing', '92233720368547758.08', 'tooLarge'],
    ['over the wallet maximum', '100000.01', 'tooLarge'],
    ['missing', '', 'badAmount'],
  ] as const)('refuses a %s amount (%s) with its code and credits nothing', async (_what, sum, code) => {
    const before = await balance();
    const answer = await call({ command: 'pay', txn_id: nextTxn(), txn_date: '20261203120000', account: park.working.id, sum });
    expect(answer.result).toBe(codes[code]);
    await bed.settle();
    expect(await balance()).toBe(before);
  });

  it('refuses a foreign currency, a bad command and a missing txn_id', async () => {
    const other = currency === 'RUB' ? 'USD' : 'RUB';
    expect((await call({ command: 'pay', txn_id: nextTxn(), account: park.working.id, sum: '1.00', ccy: other })).result).toBe('7');
    expect((await call({ command: 'refund', txn_id: nextTxn(), account: park.working.id, sum: '1.00' })).result).toBe('300');
    expect((await call({ command: 'pay', account: park.working.id, sum: '1.00' })).result).toBe('300');
  });

  it('refuses an address outside the allow-list as it refuses a bad link, and credits nothing', async () => {
    const before = await balance();
    const id = nextTxn();
    const answer = await call({ command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum: '1.00' }, { from: OUTSIDE });
    expect(answer).toEqual({ osmp_txn_id: id, result: '7', comment: 'Payment forbidden by provider' });
    await bed.settle();
    expect(await balance()).toBe(before);
  });

  it('refuses a revoked link with 7 and takes the new one', async () => {
    const before = await balance();
    const old = wallet.link;
    await wallet.revoke();
    const id = nextTxn();
    const pay = { command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum: '2.00' };
    expect(await fields((await bed.call(old, { query: pay, from: INSIDE })).text)).toEqual({ osmp_txn_id: id, result: '7', comment: 'Payment forbidden by provider' });
    await bed.settle();
    expect(await balance()).toBe(before);

    await wallet.reissue();
    expect((await call(pay)).result).toBe('0');
    await bed.settle();
    expect(await balance()).toBe(before + 200n);
  });
});

/**
 * A wallet's currency sets how many fraction digits `sum` has (ISO 4217: JPY none, KWD three), not
 * a fixed two: `sum=10` on a JPY wallet is 10 yen, `sum=10.45` on a KWD wallet 10.450 dinars.
 */
describe.each([
  { system: 'QIWI' as const, badAmount: '300', currency: 'JPY', good: [['1045', 1045n, '1045'], ['10.0', 10n, '10']], overPrecise: ['10.5', '0.1'] },
  { system: 'QIWI' as const, badAmount: '300', currency: 'KWD', good: [['10.045', 10045n, '10.045'], ['10.45', 10450n, '10.450'], ['7', 7000n, '7.000']], overPrecise: ['10.0455', '0.0001'] },
  { system: 'TBC' as const, badAmount: '275', currency: 'JPY', good: [['250', 250n, '250']], overPrecise: ['250.01'] },
  { system: 'TBC' as const, badAmount: '275', currency: 'KWD', good: [['2.5', 2500n, '2.500']], overPrecise: ['2.5005'] },
])('$system in $currency: sums in the currency’s minor digits', ({ system, badAmount, currency, good, overPrecise }) => {
  let park: TestPark;
  let wallet: TestWallet;
  let txn = 5000;
  const nextTxn = () => String(Date.now()) + String(++txn);
  const call = async (params: Record<string, string>) => {
    const reply = await bed.call(wallet.link, { query: params, from: INSIDE });
    expect(reply.status).toBe(200);
    return fields(reply.text);
  };
  const recorded = async (txnId: string) =>
    bed.server.app.orm.em.fork().execute<{ amount: string; currency: string; status: string }[]>(`SELECT amount, currency, status FROM topup_transaction WHERE wallet_id = ? AND external_id = ?`, [wallet.id, txnId]);

  beforeAll(async () => {
    park = await bed.park({ currency });
    wallet = await park.wallet(system, null, { maxAmount: '10000000' });
  });

  it.each(good as [string, bigint, string][])('credits sum=%s as %s minor units and echoes sum=%s', async (sum, minor, echoed) => {
    const before = await park.balance(park.working.id);
    expect((await call({ command: 'check', txn_id: nextTxn(), account: park.working.id, sum, ccy: currency })).result).toBe('0');
    const id = nextTxn();
    const answer = await call({ command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum, ccy: currency });
    expect(answer).toMatchObject({ osmp_txn_id: id, sum: echoed, result: '0', comment: 'OK' });
    expect(await recorded(id)).toEqual([{ amount: String(minor), currency, status: expect.stringMatching(/^(ACCEPTED|PROCESSED)$/) }]);
    await bed.settle();
    expect(await park.balance(park.working.id)).toBe(before + minor);
  });

  it.each(overPrecise)('refuses an over-precise sum=%s with the bad-amount code and records nothing', async (sum) => {
    const before = await park.balance(park.working.id);
    expect((await call({ command: 'check', txn_id: nextTxn(), account: park.working.id, sum })).result).toBe(badAmount);
    const id = nextTxn();
    expect(await call({ command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum })).toEqual({ osmp_txn_id: id, result: badAmount, comment: 'Invalid amount' });
    expect(await recorded(id)).toEqual([]);
    await bed.settle();
    expect(await park.balance(park.working.id)).toBe(before);
  });
});
