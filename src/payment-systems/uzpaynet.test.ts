import { describe, expect, it } from 'vitest';
import type { CallbackRequest } from './adapter';
import { InMemoryCore } from './in-memory-core';
import { uzpaynetAdapter } from './uzpaynet';
import { childOf, childrenOf, parseXml, textOf } from './xml';

const credentials = { serviceId: '1', username: 'paynet-user', password: 'paynet-password' };

function soap(operation: string, inner: string, auth = `<password>${credentials.password}</password>\n<username>${credentials.username}</username>`): CallbackRequest {
  const body = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body>
<ns1:${operation}Arguments xmlns:ns1="http://uws.provider.com/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns1:${operation}Arguments">
${auth}
${inner}
</ns1:${operation}Arguments>
</soapenv:Body>
</soapenv:Envelope>`;
  return { method: 'POST', query: {}, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '' }, body: Buffer.from(body), clientAddress: '127.0.0.1' };
}

const getInformation = (account: string) =>
  soap('GetInformation', `<parameters><paramKey>clientid</paramKey><paramValue>${account}</paramValue></parameters>\n<parameters><paramKey>getInfoType</paramKey><paramValue>CHK_PERFORM_TRN</paramValue></parameters>\n<serviceId>1</serviceId>`);

const perform = (transactionId: string, account: string, amount: string, time = '2026-12-03T15:24:33+05:00') =>
  soap(
    'PerformTransaction',
    `<amount>${amount}</amount>
<parameters><paramKey>terminal_id</paramKey><paramValue>4075745</paramValue></parameters>
<parameters><paramKey>clientid</paramKey><paramValue>${account}</paramValue></parameters>
<serviceId>1</serviceId>
<transactionId>${transactionId}</transactionId>
<transactionTime>${time}</transactionTime>`,
  );

const byId = (operation: 'CheckTransaction' | 'CancelTransaction', transactionId: string) =>
  soap(operation, `<serviceId>1</serviceId>\n<transactionId>${transactionId}</transactionId>\n<transactionTime>2026-12-03T15:24:33+05:00</transactionTime>`);

function core() {
  const fake = new InMemoryCore('UZPAYNET', 'UZS', credentials);
  fake.drivers.set('d1', 'WORKING');
  fake.drivers.set('d2', 'FIRED');
  return fake;
}

async function result(request: CallbackRequest, fake: InMemoryCore | null, operation: string) {
  const response = await uzpaynetAdapter.handle(request, fake);
  expect(response.status).toBe(200);
  const node = childOf(childOf(parseXml(Buffer.from(response.body))!.Envelope, 'Body'), `${operation}Result`);
  expect(node, response.body).toBeDefined();
  expect(response.body).toContain(`<ns2:${operation}Result xmlns:ns2="http://uws.provider.com/">`);
  const field = (name: string) => textOf(node, name);
  return {
    status: Number(field('status')),
    errorMsg: field('errorMsg'),
    providerTrnId: field('providerTrnId'),
    transactionState: field('transactionState'),
    timeStamp: field('timeStamp'),
    refusal: response.refusal,
  };
}

describe('UZPAYNET adapter', () => {
  it('checks a client with GetInformation', async () => {
    const fake = core();
    const ok = await result(getInformation('d1'), fake, 'GetInformation');
    expect(ok).toMatchObject({ status: 0 });
    expect(Number.isNaN(Date.parse(ok.timeStamp!))).toBe(false);
    expect(await result(getInformation('nobody'), fake, 'GetInformation')).toMatchObject({ status: 302 });
    expect(await result(getInformation('d2'), fake, 'GetInformation')).toMatchObject({ status: 502 });
    expect(await result(soap('GetInformation', '<serviceId>1</serviceId>'), fake, 'GetInformation')).toMatchObject({ status: 411 });
  });

  it('credits PerformTransaction once and answers a repeated transactionId with the stored answer', async () => {
    const fake = core();
    const first = await result(perform('3130401334', 'd1', '100000'), fake, 'PerformTransaction');
    expect(first.status).toBe(0);
    expect(first.providerTrnId).toMatch(/^[1-9]\d*$/);
    expect(await result(perform('3130401334', 'd1', '100000'), fake, 'PerformTransaction')).toMatchObject({ status: 0, providerTrnId: first.providerTrnId });
    expect(fake.credited()).toBe(100000n);
    expect(await result(byId('CheckTransaction', '3130401334'), fake, 'CheckTransaction')).toMatchObject({ status: 0, providerTrnId: first.providerTrnId, transactionState: '1' });
  });

  it('gives bad amounts 413, bad dates 414, bad ids 411, and credits nothing', async () => {
    const fake = core();
    for (const amount of ['1000.50', '-100', '0', 'abc', '9223372036854775808', '']) {
      expect(await result(perform('1', 'd1', amount), fake, 'PerformTransaction')).toMatchObject({ status: 413, providerTrnId: '0', refusal: 'BAD_AMOUNT' });
    }
    expect(await result(perform('2', 'd1', '100', 'yesterday'), fake, 'PerformTransaction')).toMatchObject({ status: 414 });
    expect(await result(perform('x1', 'd1', '100'), fake, 'PerformTransaction')).toMatchObject({ status: 411 });
    expect(await result(perform('9223372036854775808', 'd1', '100'), fake, 'PerformTransaction')).toMatchObject({ status: 411 });
    expect(fake.transactions.size).toBe(0);
  });

  it('refuses a wrong username or password with 412, a revoked link with 601, another serviceId with 304', async () => {
    const fake = core();
    const wrong = soap('GetInformation', '<parameters><paramKey>clientid</paramKey><paramValue>d1</paramValue></parameters><serviceId>1</serviceId>', '<password>guess</password><username>paynet-user</username>');
    expect(await result(wrong, fake, 'GetInformation')).toMatchObject({ status: 412, refusal: 'BAD_CREDENTIALS' });
    expect(await result(perform('7', 'd1', '100'), null, 'PerformTransaction')).toMatchObject({ status: 601, providerTrnId: '0' });
    const other = soap('GetInformation', '<parameters><paramKey>clientid</paramKey><paramValue>d1</paramValue></parameters><serviceId>2</serviceId>');
    expect(await result(other, fake, 'GetInformation')).toMatchObject({ status: 304 });
    expect(fake.transactions.size).toBe(0);
  });

  it('lists the payments taken in a GetStatement period, both ends included, and refuses a bad period', async () => {
    const fake = core();
    const statement = (from: string, to: string, extra = '') => soap('GetStatement', `<dateFrom>${from}</dateFrom><dateTo>${to}</dateTo><serviceId>1</serviceId>${extra}`);
    fake.now = new Date('2026-12-01T19:00:00Z'); // 2026-12-02 00:00 in Tashkent
    await result(perform('31', 'd1', '150000'), fake, 'PerformTransaction');
    await result(perform('32', 'd2', '500'), fake, 'PerformTransaction'); // refused: not in a statement
    fake.now = new Date('2026-12-02T18:59:59Z');
    await result(perform('33', 'd1', '2500'), fake, 'PerformTransaction');
    fake.now = new Date('2026-12-02T19:00:01Z');
    await result(perform('34', 'd1', '100'), fake, 'PerformTransaction');

    const answer = await uzpaynetAdapter.handle(statement('2026-12-02T00:00:00', '2026-12-02T23:59:59'), fake);
    const node = childOf(childOf(parseXml(Buffer.from(answer.body))!.Envelope, 'Body'), 'GetStatementResult');
    expect(textOf(node, 'status')).toBe('0');
    expect(childrenOf(node, 'statements').map((s) => [textOf(s, 'transactionId'), textOf(s, 'amount'), textOf(s, 'providerTrnId'), textOf(s, 'transactionTime')])).toEqual([
      ['31', '150000', fake.transactions.get('31')!.id, '2026-12-01T19:00:00.000Z'],
      ['33', '2500', fake.transactions.get('33')!.id, '2026-12-02T18:59:59.000Z'],
    ]);
    // The same period with offsets, and the ids alone.
    const ids = await uzpaynetAdapter.handle(statement('2026-12-01T19:00:00Z', '2026-12-02T23:59:59+05:00', '<onlyTransactionId>true</onlyTransactionId>'), fake);
    const idsNode = childOf(childOf(parseXml(Buffer.from(ids.body))!.Envelope, 'Body'), 'GetStatementResult');
    expect(childrenOf(idsNode, 'statements').map((s) => [textOf(s, 'transactionId'), textOf(s, 'amount')])).toEqual([['31', undefined], ['33', undefined]]);
    expect(await result(statement('2026-12-05T00:00:00', '2026-12-06T00:00:00'), fake, 'GetStatement')).toMatchObject({ status: 0 });

    expect(await result(soap('GetStatement', '<dateFrom>2026-12-01T00:00:00</dateFrom><serviceId>1</serviceId>'), fake, 'GetStatement')).toMatchObject({ status: 411 });
    for (const [from, to] of [['2026-12-03T00:00:00', '2026-12-02T00:00:00'], ['2026-10-01T00:00:00', '2026-12-01T00:00:00'], ['yesterday', '2026-12-01T00:00:00']]) {
      expect(await result(statement(from!, to!), fake, 'GetStatement')).toMatchObject({ status: 414, refusal: 'BAD_REQUEST' });
    }
  });

  it('keeps a refused payment refused, cancels only what was never credited, and knows unknown transactions', async () => {
    const fake = core();
    expect(await result(perform('20', 'd2', '500'), fake, 'PerformTransaction')).toMatchObject({ status: 502 });
    expect(await result(byId('CheckTransaction', '20'), fake, 'CheckTransaction')).toMatchObject({ status: 0, transactionState: '2' });
    expect(await result(byId('CancelTransaction', '20'), fake, 'CancelTransaction')).toMatchObject({ status: 0, transactionState: '2' });
    await result(perform('21', 'd1', '500'), fake, 'PerformTransaction');
    expect(await result(byId('CancelTransaction', '21'), fake, 'CancelTransaction')).toMatchObject({ status: 77, transactionState: '1' });
    expect(await result(byId('CheckTransaction', '99'), fake, 'CheckTransaction')).toMatchObject({ status: 305 });
    expect(await result(soap('ChangePassword', '<newPassword>another-password</newPassword>'), fake, 'ChangePassword')).toMatchObject({ status: 601 });
    expect(fake.credited()).toBe(500n);
  });

  it('answers what is not a ProviderWebService call with a SOAP Client fault, and our failures with 102', async () => {
    for (const body of ['garbage', '<a/>', '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Nope/></soapenv:Body></soapenv:Envelope>']) {
      const response = await uzpaynetAdapter.handle({ method: 'POST', query: {}, headers: {}, body: Buffer.from(body), clientAddress: '127.0.0.1' }, core());
      expect(response.status).toBe(400);
      expect(textOf(childOf(childOf(parseXml(Buffer.from(response.body))!.Envelope, 'Body'), 'Fault'), 'faultcode')).toBe('soapenv:Client');
    }
    const failure = uzpaynetAdapter.transientFailure(perform('1', 'd1', '100'));
    expect(textOf(childOf(childOf(parseXml(Buffer.from(failure.body))!.Envelope, 'Body'), 'PerformTransactionResult'), 'status')).toBe('102');
    expect(failure.body).not.toContain(credentials.password);
  });

  it('answers a payment refused for a reason it does not know as a plain refusal', async () => {
    const fake = core();
    fake.transactions.set('42', { ...(await fake.pay('42', 'd1', 100n)).transaction!, status: 'REJECTED', reason: 'SOME_FUTURE_REASON' });
    expect(await result(perform('42', 'd1', '100'), fake, 'PerformTransaction')).toMatchObject({ status: 601 });
    expect(await result(byId('CheckTransaction', '42'), fake, 'CheckTransaction')).toMatchObject({ status: 0, transactionState: '2' });
  });
});
