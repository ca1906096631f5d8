import { describe, expect, it } from 'vitest';
import type { CallbackRequest } from './adapter';
import { city24Adapter } from './city24';
import { InMemoryCore } from './in-memory-core';
import { parseXml, textOf } from './xml';

const credentials = { login: 'city24-login', password: 'city24-password' };

function call(command: string, fields: Record<string, string>, auth: Partial<typeof credentials> = credentials): CallbackRequest {
  const inner = Object.entries({ ...auth, command, ...fields })
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join('\n    ');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<commandCall>\n    ${inner}\n</commandCall>`;
  return { method: 'POST', query: {}, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body), clientAddress: '127.0.0.1' };
}

const pay = (transactionID: string, account: string, amount: string) =>
  call('pay', { transactionID, payTimestamp: '20261203162022', payID: '7', payElementID: '0', account, amount, terminalId: '11352' });

function core() {
  const fake = new InMemoryCore('CITY24', 'KZT', credentials);
  fake.drivers.set('d1', 'WORKING');
  fake.drivers.set('d2', 'FIRED');
  return fake;
}

async function answer(request: CallbackRequest, fake: InMemoryCore | null) {
  const response = await city24Adapter.handle(request, fake);
  expect(response.status).toBe(200);
  expect(response.contentType).toBe('text/xml; charset=utf-8');
  const doc = parseXml(Buffer.from(response.body))!.commandResponse;
  const field = (name: string) => textOf(doc, name);
  return { result: Number(field('result')), comment: field('comment'), account: field('account'), ext: field('extTransactionID'), body: response.body, refusal: response.refusal };
}

describe('CITY24 adapter', () => {
  it('checks accounts with the OSMP codes', async () => {
    const fake = core();
    const check = (account: string, userEnterAmount?: string) => answer(call('check', { transactionID: '3362935524', payElementID: '1', account, payID: '1', ...(userEnterAmount ? { userEnterAmount } : {}) }), fake);
    expect(await check('d1')).toMatchObject({ result: 0, account: 'd1' });
    expect(await check('d1', '50000')).toMatchObject({ result: 0 });
    expect(await check('nobody')).toMatchObject({ result: 5 });
    expect(await check('d2')).toMatchObject({ result: 79 });
    expect(await check('d1', '12.5')).toMatchObject({ result: 300 });
    fake.parkActive = false;
    expect(await check('d1')).toMatchObject({ result: 7 });
  });

  it('credits a pay once under transactionID and answers a repeat with the first answer', async () => {
    const fake = core();
    const first = await answer(pay('1234567890123', 'd1', '50000'), fake);
    expect(first).toMatchObject({ result: 0, account: 'd1' });
    expect(first.ext).toMatch(/^\d+$/);
    const again = await answer(pay('1234567890123', 'd1', '50000'), fake);
    expect(again).toMatchObject({ result: 0, ext: first.ext });
    expect(fake.credited()).toBe(50000n);
    expect(await answer(call('check_status', { transactionID: '1234567890123' }), fake)).toMatchObject({ result: 0, ext: first.ext });
  });

  it('gives malformed, zero and overflowing amounts their codes and credits nothing', async () => {
    const fake = core();
    expect(await answer(pay('1', 'd1', '500.00'), fake)).toMatchObject({ result: 300 });
    expect(await answer(pay('2', 'd1', 'abc'), fake)).toMatchObject({ result: 300 });
    expect(await answer(pay('3', 'd1', '0'), fake)).toMatchObject({ result: 241 });
    expect(await answer(pay('4', 'd1', '-100'), fake)).toMatchObject({ result: 241 });
    expect(await answer(pay('5', 'd1', '9223372036854775808'), fake)).toMatchObject({ result: 242, refusal: 'BAD_AMOUNT' });
    expect(await answer(pay('6', '', '100'), fake)).toMatchObject({ result: 4 });
    expect(fake.transactions.size).toBe(0);
  });

  it('refuses a wrong login or password and a revoked link with 7, crediting nothing', async () => {
    const fake = core();
    expect(await answer(call('pay', { transactionID: '9', account: 'd1', amount: '100' }, { login: 'city24-login', password: 'wrong' }), fake)).toMatchObject({ result: 7, refusal: 'BAD_CREDENTIALS' });
    expect(await answer(call('pay', { transactionID: '9', account: 'd1', amount: '100' }, { login: 'other', password: 'city24-password' }), fake)).toMatchObject({ result: 7 });
    expect(await answer(call('pay', { transactionID: '9', account: 'd1', amount: '100' }, {}), fake)).toMatchObject({ result: 7 });
    expect(await answer(pay('9', 'd1', '100'), null)).toMatchObject({ result: 7 });
    expect(fake.transactions.size).toBe(0);
  });

  it('refuses to cancel a credited top-up, cancels one it refused, and says when a transaction is unknown', async () => {
    const fake = core();
    const paid = await answer(pay('100', 'd1', '700'), fake);
    expect(await answer(call('cancel', { transactionID: '100' }), fake)).toMatchObject({ result: 7, ext: paid.ext });
    const refused = await answer(pay('101', 'd2', '700'), fake);
    expect(refused).toMatchObject({ result: 79 });
    expect(await answer(call('cancel', { transactionID: '101' }), fake)).toMatchObject({ result: 0, ext: refused.ext });
    expect(await answer(call('check_status', { transactionID: '101' }), fake)).toMatchObject({ result: 79 });
    expect(await answer(call('check_status', { transactionID: '555' }), fake)).toMatchObject({ result: 300, comment: 'transaction not found' });
    expect(fake.credited()).toBe(700n);
  });

  it('answers malformed XML, unknown commands and our own failures in its format', async () => {
    const fake = core();
    const raw = (body: string): CallbackRequest => ({ method: 'POST', query: {}, headers: {}, body: Buffer.from(body), clientAddress: '127.0.0.1' });
    expect(await answer(raw('<commandCall><login>'), fake)).toMatchObject({ result: 300 });
    expect(await answer(raw('not xml at all'), fake)).toMatchObject({ result: 300 });
    expect(await answer(call('refund', {}), fake)).toMatchObject({ result: 300, comment: 'unknown command' });
    const failure = city24Adapter.transientFailure(raw(''));
    expect(textOf(parseXml(Buffer.from(failure.body))!.commandResponse, 'result')).toBe('1');
  });

  it('never echoes the password', async () => {
    const response = await city24Adapter.handle(call('pay', { transactionID: '9', account: 'd1', amount: '100' }, { login: 'city24-login', password: 'wrong-password-xyz' }), core());
    expect(response.body).not.toContain('password');
  });

  it('answers a payment refused for a reason it does not know as a plain refusal', async () => {
    const fake = core();
    fake.transactions.set('42', { ...(await fake.pay('42', 'd1', 100n)).transaction!, status: 'REJECTED', reason: 'SOME_FUTURE_REASON' });
    expect(await answer(pay('42', 'd1', '100'), fake)).toMatchObject({ result: 7, comment: 'payment refused' });
    expect(await answer(call('check_status', { transactionID: '42' }), fake)).toMatchObject({ result: 7 });
  });
});
