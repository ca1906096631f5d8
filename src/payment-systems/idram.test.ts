import { describe, expect, it } from 'vitest';
import type { CallbackRequest } from './adapter';
import { idramAdapter, idramChecksum } from './idram';
import { InMemoryCore } from './in-memory-core';

const credentials = { recAccount: '110000601', secretKey: 'idram-secret-key-1' };

function post(fields: Record<string, string>): CallbackRequest {
  return { method: 'POST', query: {}, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(new URLSearchParams(fields).toString()), clientAddress: '127.0.0.1' };
}

function core() {
  const fake = new InMemoryCore('IDRAM', 'AMD', credentials);
  fake.drivers.set('d1', 'WORKING');
  fake.drivers.set('d2', 'FIRED');
  return fake;
}

function confirmation(overrides: Record<string, string> = {}, secretKey = credentials.secretKey) {
  const fields = { EDP_BILL_NO: 'd1', EDP_REC_ACCOUNT: '110000601', EDP_PAYER_ACCOUNT: '220000001', EDP_AMOUNT: '1900.00', EDP_TRANS_ID: '001234567', EDP_TRANS_DATE: '03/12/2026', ...overrides };
  const checksum = idramChecksum({
    recAccount: fields.EDP_REC_ACCOUNT,
    amount: fields.EDP_AMOUNT,
    secretKey,
    billNo: fields.EDP_BILL_NO,
    payerAccount: fields.EDP_PAYER_ACCOUNT,
    transId: fields.EDP_TRANS_ID,
    transDate: fields.EDP_TRANS_DATE,
  });
  return post({ ...fields, EDP_CHECKSUM: checksum.toUpperCase(), ...('EDP_CHECKSUM' in overrides ? { EDP_CHECKSUM: overrides.EDP_CHECKSUM! } : {}) });
}

describe('IDRAM adapter', () => {
  it('computes EDP_CHECKSUM as the MD5 hex of the documented fields in order', () => {
    // python3: hashlib.md5(b'110000601:1900.00:idram-secret-key-1:d1:220000001:001234567:03/12/2026')
    const fields = { recAccount: '110000601', amount: '1900.00', secretKey: 'idram-secret-key-1', billNo: 'd1', payerAccount: '220000001', transId: '001234567', transDate: '03/12/2026' };
    expect(idramChecksum(fields)).toBe('aa4e7ff3a0fe65f114b83f0a87bd590b');
  });

  it('answers a precheck OK for a working driver and names the refusal otherwise', async () => {
    const fake = core();
    const precheck = (bill: string, amount = '1900.00') => idramAdapter.handle(post({ EDP_PRECHECK: 'YES', EDP_BILL_NO: bill, EDP_REC_ACCOUNT: '110000601', EDP_AMOUNT: amount }), fake);
    expect(await precheck('d1')).toEqual({ status: 200, contentType: 'text/plain; charset=utf-8', body: 'OK' });
    expect((await precheck('nobody')).body).toBe('ERROR: account not found');
    expect((await precheck('d2')).body).toBe('ERROR: account not active');
    for (const amount of ['19,00', '1.001', '-5.00', '0.00', '92233720368547758.08', '']) expect((await precheck('d1', amount)).body).toBe('ERROR: invalid amount');
    expect(fake.transactions.size).toBe(0);
  });

  it('credits a confirmation once under EDP_TRANS_ID, answering OK again to a repeat', async () => {
    const fake = core();
    expect((await idramAdapter.handle(confirmation(), fake)).body).toBe('OK');
    expect((await idramAdapter.handle(confirmation(), fake)).body).toBe('OK');
    expect(fake.transactions.size).toBe(1);
    expect(fake.credited()).toBe(190000n);
    expect(fake.transactions.get('001234567')!.driver_id).toBe('d1');
  });

  it('refuses a bad checksum, a wrong merchant account, missing fields and a revoked link, crediting nothing', async () => {
    const fake = core();
    expect(await idramAdapter.handle(confirmation({}, 'another-secret-key'), fake)).toMatchObject({ body: 'ERROR: access denied', refusal: 'BAD_SIGNATURE' });
    expect((await idramAdapter.handle(confirmation({ EDP_CHECKSUM: 'zz' }), fake)).body).toBe('ERROR: access denied');
    expect((await idramAdapter.handle(confirmation({ EDP_REC_ACCOUNT: '999' }), fake)).body).toBe('ERROR: access denied');
    expect((await idramAdapter.handle(post({ EDP_BILL_NO: 'd1', EDP_REC_ACCOUNT: '110000601', EDP_AMOUNT: '1.00' }), fake)).body).toBe('ERROR: missing fields');
    expect((await idramAdapter.handle(confirmation(), null)).body).toBe('ERROR: access denied');
    expect((await idramAdapter.handle(confirmation(), new InMemoryCore('IDRAM', 'AMD', null))).body).toBe('ERROR: access denied');
    expect(await idramAdapter.handle(confirmation({ EDP_AMOUNT: '99999999999999999999.00' }), fake)).toMatchObject({ body: 'ERROR: invalid amount', refusal: 'BAD_AMOUNT' });
    // An unknown link is the server's to count; a refusal of the core's is counted by the core.
    expect((await idramAdapter.handle(confirmation(), null)).refusal).toBeUndefined();
    expect(fake.transactions.size).toBe(0);
  });

  it('records a confirmation for a fired driver as refused and answers the refusal again on a repeat', async () => {
    const fake = core();
    expect((await idramAdapter.handle(confirmation({ EDP_BILL_NO: 'd2' }), fake)).body).toBe('ERROR: account not active');
    expect((await idramAdapter.handle(confirmation({ EDP_BILL_NO: 'd2' }), fake)).body).toBe('ERROR: account not active');
    expect(fake.credited()).toBe(0n);
  });

  it.each([
    ['JPY', '1900', 1900n, '1900.5'],
    ['KWD', '19.045', 19045n, '19.0455'],
  ] as const)('parses EDP_AMOUNT with the minor digits of a %s wallet and refuses an over-precise one', async (currency, amount, minor, overPrecise) => {
    const fake = new InMemoryCore('IDRAM', currency, credentials);
    fake.drivers.set('d1', 'WORKING');
    const precheck = (value: string) => idramAdapter.handle(post({ EDP_PRECHECK: 'YES', EDP_BILL_NO: 'd1', EDP_REC_ACCOUNT: '110000601', EDP_AMOUNT: value }), fake);
    expect((await precheck(amount)).body).toBe('OK');
    expect(await precheck(overPrecise)).toMatchObject({ body: 'ERROR: invalid amount', refusal: 'BAD_AMOUNT' });
    expect(await idramAdapter.handle(confirmation({ EDP_AMOUNT: overPrecise, EDP_TRANS_ID: '7' }), fake)).toMatchObject({ body: 'ERROR: invalid amount', refusal: 'BAD_AMOUNT' });
    expect(fake.transactions.size).toBe(0);
    expect((await idramAdapter.handle(confirmation({ EDP_AMOUNT: amount, EDP_TRANS_ID: '8' }), fake)).body).toBe('OK');
    expect(fake.transactions.get('8')).toMatchObject({ amount: minor, currency });
    expect(fake.credited()).toBe(minor);
  });

  it('answers a failure of ours with a retryable 503, never OK', () => {
    expect(idramAdapter.transientFailure(confirmation())).toMatchObject({ status: 503, body: 'ERROR: temporary failure' });
  });

  it('answers a repeat of a payment refused for a reason it does not know as a plain refusal', async () => {
    const fake = core();
    fake.transactions.set('001234567', { ...(await fake.pay('001234567', 'd1', 190000n)).transaction!, status: 'REJECTED', reason: 'SOME_FUTURE_REASON' });
    expect((await idramAdapter.handle(confirmation(), fake)).body).toBe('ERROR: payment refused');
  });
});
