import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CallbackRequest } from './adapter';
import { easypayAdapter, easypayDateTime, orderOf, paymentIdOf } from './easypay';
import { InMemoryCore } from './in-memory-core';
import { parseXml, textOf } from './xml';

const pem = () => generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const easySoft = pem();
const ours = pem();
const credentials = { serviceId: '2431', providerPublicKey: easySoft.publicKey, ourPrivateKey: ours.privateKey };

/** A request as EasySoft sends it: signed over the document with an empty Sign, the value then put in. */
function request(operation: string, inner: string, signWith = easySoft.privateKey): CallbackRequest {
  const unsigned = `<Request>\n  <DateTime>2026-12-03T16:19:50</DateTime>\n  <Sign></Sign>\n  <${operation}>\n    ${inner}\n  </${operation}>\n</Request>`;
  const sign = createSign('RSA-SHA1').update(unsigned).sign(signWith).toString('hex').toUpperCase();
  return { method: 'POST', query: {}, headers: { 'content-type': 'text/xml' }, body: Buffer.from(unsigned.replace('<Sign></Sign>', `<Sign>${sign}</Sign>`)), clientAddress: '127.0.0.1' };
}

const check = (account: string) => request('Check', `<ServiceId>2431</ServiceId>\n    <Account>${account}</Account>`);
const payment = (orderId: string, account: string, amount: string) => request('Payment', `<ServiceId>2431</ServiceId>\n    <OrderId>${orderId}</OrderId>\n    <Account>${account}</Account>\n    <Amount>${amount}</Amount>`);
const confirm = (paymentId: string) => request('Confirm', `<ServiceId>2431</ServiceId>\n    <PaymentId>${paymentId}</PaymentId>`);
const cancel = (paymentId: string) => request('Cancel', `<ServiceId>2431</ServiceId>\n    <PaymentId>${paymentId}</PaymentId>`);

function core() {
  const fake = new InMemoryCore('EASYPAY', 'UAH', credentials);
  fake.drivers.set('d1', 'WORKING');
  fake.drivers.set('d2', 'FIRED');
  return fake;
}

/** The answer's fields, after checking its Sign with our public key the way EasySoft would. */
async function answer(req: CallbackRequest, fake: InMemoryCore | null, signed = true) {
  const response = await easypayAdapter.handle(req, fake);
  expect(response.status).toBe(200);
  const doc = parseXml(Buffer.from(response.body))!.Response;
  const field = (name: string) => textOf(doc, name);
  const sign = field('Sign')!;
  if (signed) {
    expect(sign).toMatch(/^[0-9A-F]+$/);
    expect(createVerify('RSA-SHA1').update(response.body.replace(sign, '')).verify(ours.publicKey, Buffer.from(sign, 'hex'))).toBe(true);
  }
  return { code: Number(field('StatusCode')), detail: field('StatusDetail'), paymentId: field('PaymentId'), orderDate: field('OrderDate'), cancelDate: field('CancelDate'), body: response.body, refusal: response.refusal };
}

describe('EASYPAY adapter', () => {
  it('checks accounts in signed answers', async () => {
    const fake = core();
    const ok = await answer(check('d1'), fake);
    expect(ok).toMatchObject({ code: 0, detail: 'checked' });
    expect(ok.body).toContain('<AccountInfo><Account>d1</Account></AccountInfo>');
    expect(await answer(check('nobody'), fake)).toMatchObject({ code: 2 });
    expect(await answer(check('d2'), fake)).toMatchObject({ code: 3 });
  });

  it('credits nothing on Payment, once on Confirm, and answers repeats the same', async () => {
    const fake = core();
    const first = await answer(payment('6223372036854775807', 'd1', '150.25'), fake);
    expect(first.code).toBe(0);
    expect(fake.transactions.size).toBe(0);
    expect((await answer(payment('6223372036854775807', 'd1', '150.25'), fake)).paymentId).toBe(first.paymentId);
    const confirmed = await answer(confirm(first.paymentId!), fake);
    expect(confirmed.code).toBe(0);
    expect(confirmed.orderDate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    expect(await answer(confirm(first.paymentId!), fake)).toMatchObject({ code: 0, orderDate: confirmed.orderDate });
    expect(fake.credited()).toBe(15025n);
    expect(fake.transactions.get('6223372036854775807')).toMatchObject({ driver_id: 'd1', amount: 15025n });
    expect(await answer(cancel(first.paymentId!), fake)).toMatchObject({ code: 8 });
    // The driver fired since: a repeated Payment of the confirmed order still gets its PaymentId.
    fake.drivers.set('d1', 'FIRED');
    expect(await answer(payment('6223372036854775807', 'd1', '150.25'), fake)).toMatchObject({ code: 0, paymentId: first.paymentId });
    expect(fake.credited()).toBe(15025n);
  });

  it('cancels a payment never confirmed: it is withdrawn, a Confirm after it credits nothing', async () => {
    const fake = core();
    const { paymentId } = await answer(payment('77', 'd1', '10.00'), fake);
    const cancelled = await answer(cancel(paymentId!), fake);
    expect(cancelled).toMatchObject({ code: 0 });
    expect(fake.transactions.get('77')).toMatchObject({ status: 'REJECTED', reason: 'WITHDRAWN', amount: 1000n });
    expect(await answer(cancel(paymentId!), fake)).toMatchObject({ code: 0, cancelDate: cancelled.cancelDate });
    expect(await answer(confirm(paymentId!), fake)).toMatchObject({ code: 9 });
    expect(await answer(payment('77', 'd1', '10.00'), fake)).toMatchObject({ code: 9 });
    expect(fake.credited()).toBe(0n);
  });

  it('refuses PaymentIds it did not issue to this wallet', async () => {
    const fake = core();
    const forged = paymentIdOf({ ...credentials, ourPrivateKey: pem().privateKey }, fake.wallet.id, { orderId: '5', amount: 100000n, account: 'd1' });
    expect(await answer(confirm(forged), fake)).toMatchObject({ code: 7 });
    const genuine = paymentIdOf(credentials, fake.wallet.id, { orderId: '5', amount: 100n, account: 'd1' });
    expect(orderOf(credentials, fake.wallet.id, genuine)).toEqual({ orderId: '5', amount: 100n, account: 'd1' });
    expect(orderOf(credentials, 'another-wallet', genuine)).toBeNull();
    expect(await answer(confirm(genuine.replace('.100.', '.100000.')), fake)).toMatchObject({ code: 7 });
    expect(await answer(confirm('210'), fake)).toMatchObject({ code: 7 });
    expect(fake.transactions.size).toBe(0);
  });

  it('gives malformed, over-precise and overflowing amounts code 5', async () => {
    const fake = core();
    for (const amount of ['10,00', '10.001', '-1.00', '0', '92233720368547758.08', 'ten']) expect(await answer(payment('1', 'd1', amount), fake)).toMatchObject({ code: 5, refusal: 'BAD_AMOUNT' });
  });

  it.each([
    ['JPY', '150', 150n, '150.5'],
    ['KWD', '150.025', 150025n, '150.0255'],
  ] as const)('reads Amount in the minor digits of a %s wallet and gives an over-precise one code 5', async (currency, amount, minor, overPrecise) => {
    const fake = new InMemoryCore('EASYPAY', currency, credentials);
    fake.drivers.set('d1', 'WORKING');
    expect(await answer(payment('90', 'd1', overPrecise), fake)).toMatchObject({ code: 5, refusal: 'BAD_AMOUNT' });
    const { code, paymentId } = await answer(payment('91', 'd1', amount), fake);
    expect(code).toBe(0);
    expect(orderOf(credentials, fake.wallet.id, paymentId)).toMatchObject({ orderId: '91', amount: minor });
    expect(await answer(confirm(paymentId!), fake)).toMatchObject({ code: 0 });
    expect(fake.transactions.get('91')).toMatchObject({ amount: minor, currency });
    expect(fake.transactions.size).toBe(1);
  });

  it('refuses a bad signature, another ServiceId, a revoked link and malformed requests', async () => {
    const fake = core();
    expect(await answer(request('Check', '<ServiceId>2431</ServiceId><Account>d1</Account>', pem().privateKey), fake)).toMatchObject({ code: -95, refusal: 'BAD_SIGNATURE' });
    const tampered = check('d1');
    tampered.body = Buffer.from(tampered.body.toString().replace('<Account>d1</Account>', '<Account>d2</Account>'));
    expect(await answer(tampered, fake)).toMatchObject({ code: -95 });
    expect(await answer(request('Check', '<ServiceId>9999</ServiceId><Account>d1</Account>'), fake)).toMatchObject({ code: -58 });
    expect(await answer(check('d1'), null, false)).toMatchObject({ code: 4 });
    const raw = (body: string): CallbackRequest => ({ method: 'POST', query: {}, headers: {}, body: Buffer.from(body), clientAddress: '127.0.0.1' });
    expect(await answer(raw('<Request><DateTime>x</DateTime><Sign>AB</Sign></Request>'), fake)).toMatchObject({ code: -57 });
    expect(await answer(raw('%PDF-1.4 garbage'), fake)).toMatchObject({ code: -57 });
    expect(fake.transactions.size).toBe(0);
  });

  it('writes times as Kyiv local time without a zone', () => {
    expect(easypayDateTime(new Date('2026-12-03T10:00:00Z'))).toBe('2026-12-03T12:00:00');
    expect(easypayDateTime(new Date('2026-07-01T21:30:05Z'))).toBe('2026-07-02T00:30:05');
  });

  it('answers our own failure with a retryable code', () => {
    expect(textOf(parseXml(Buffer.from(easypayAdapter.transientFailure(check('d1')).body))!.Response, 'StatusCode')).toBe('1');
  });

  it('answers a Confirm of a payment refused for a reason it does not know as a plain refusal', async () => {
    const fake = core();
    fake.transactions.set('42', { ...(await fake.pay('42', 'd1', 100n)).transaction!, status: 'REJECTED', reason: 'SOME_FUTURE_REASON' });
    expect(await answer(confirm(paymentIdOf(credentials, fake.wallet.id, { orderId: '42', amount: 100n, account: 'd1' })), fake)).toMatchObject({ code: 4 });
  });
});
