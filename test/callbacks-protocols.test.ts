import 'reflect-metadata';
import { createHash, createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childOf, childrenOf, parseXml, textOf } from '../src/payment-systems/xml';
import { startCallbackTestbed, type CallbackReply, type CallbackTestbed, type TestPark, type TestWallet } from './helpers/callbacks';
import { chargeSuccess, paystackSignature } from './helpers/payment-apis';

/**
 * IDRAM, CITY24, UZPAYNET, EASYPAY and PAYSTACK's webhook over real HTTP against the running callback server, with the
 * protocols' literal requests (payment-systems.md's sources): every answer in the protocol's own
 * format and codes, every balance read through GraphQL after the credit jobs have run.
 */

let bed: CallbackTestbed;
beforeAll(async () => {
  bed = await startCallbackTestbed();
});
afterAll(async () => bed?.close());

let serial = 0;
/** A payment system's transaction id no other test uses. */
const nextId = () => `${Date.now()}${String(++serial).padStart(4, '0')}`;

/** Parks a driver's balance must keep: read after the credit jobs ran. */
async function balanceOf(park: TestPark, driverId = park.working.id): Promise<bigint> {
  await bed.settle();
  return park.balance(driverId);
}

describe('IDRAM: precheck and confirmation (url-encoded, plain-text OK)', () => {
  const credentials = { recAccount: '110000601', secretKey: 'idram-test-secret-1' };
  let park: TestPark;
  let wallet: TestWallet;

  const precheck = (bill: string, amount = '1900.00') => bed.call(wallet.link, { form: { EDP_PRECHECK: 'YES', EDP_BILL_NO: bill, EDP_REC_ACCOUNT: credentials.recAccount, EDP_AMOUNT: amount } });
  const confirmation = (fields: { bill: string; amount: string; transId: string; secretKey?: string }) => {
    const payer = '220000001';
    const date = '03/12/2026';
    const checksum = createHash('md5')
      .update([credentials.recAccount, fields.amount, fields.secretKey ?? credentials.secretKey, fields.bill, payer, fields.transId, date].join(':'))
      .digest('hex')
      .toUpperCase();
    return bed.call(wallet.link, {
      form: { EDP_BILL_NO: fields.bill, EDP_REC_ACCOUNT: credentials.recAccount, EDP_PAYER_ACCOUNT: payer, EDP_AMOUNT: fields.amount, EDP_TRANS_ID: fields.transId, EDP_TRANS_DATE: date, EDP_CHECKSUM: checksum },
    });
  };
  const text = (reply: CallbackReply) => {
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/plain/);
    return reply.text;
  };

  beforeAll(async () => {
    park = await bed.park({ currency: 'AMD' });
    wallet = await park.wallet('IDRAM', credentials);
  });

  it('prechecks a working driver (by id and phone), an unknown one and a fired one', async () => {
    expect(text(await precheck(park.working.id))).toBe('OK');
    expect(text(await precheck(park.working.phone))).toBe('OK');
    expect(text(await precheck('nobody-here'))).toBe('ERROR: account not found');
    expect(text(await precheck(park.fired.id))).toBe('ERROR: account not active');
    expect(await balanceOf(park)).toBe(0n);
  });

  it('credits a confirmation once: the same one again is answered OK and credits nothing', async () => {
    const transId = nextId();
    expect(text(await confirmation({ bill: park.working.id, amount: '1900.00', transId }))).toBe('OK');
    expect(await balanceOf(park)).toBe(190000n);
    expect(text(await confirmation({ bill: park.working.id, amount: '1900.00', transId }))).toBe('OK');
    expect(await balanceOf(park)).toBe(190000n);
  });

  it('refuses a bad checksum, malformed and overflowing amounts, and a fired driver, crediting nothing', async () => {
    const before = await balanceOf(park);
    expect(text(await confirmation({ bill: park.working.id, amount: '500.00', transId: nextId(), secretKey: 'not-the-secret-key' }))).toBe('ERROR: access denied');
    for (const amount of ['500,00', '500.001', '99999999999999999999.00', '-5.00']) {
      expect(text(await confirmation({ bill: park.working.id, amount, transId: nextId() }))).toBe('ERROR: invalid amount');
    }
    expect(text(await confirmation({ bill: park.fired.id, amount: '500.00', transId: nextId() }))).toBe('ERROR: account not active');
    expect(await balanceOf(park)).toBe(before);
    expect(await balanceOf(park, park.fired.id)).toBe(0n);
  });

  it('refuses a revoked link in its own way', async () => {
    const before = await balanceOf(park);
    await wallet.revoke();
    expect(text(await confirmation({ bill: park.working.id, amount: '100.00', transId: nextId() }))).toBe('ERROR: access denied');
    expect(text(await precheck(park.working.id))).toBe('ERROR: access denied');
    expect(await balanceOf(park)).toBe(before);
    await wallet.reissue();
  });
});

describe('CITY24: commandCall XML with login and password', () => {
  const credentials = { login: 'city24-login', password: 'city24-password' };
  let park: TestPark;
  let wallet: TestWallet;

  const command = async (name: string, fields: Record<string, string>, auth = credentials) => {
    const inner = Object.entries({ login: auth.login, password: auth.password, command: name, ...fields })
      .map(([key, value]) => `    <${key}>${value}</${key}>`)
      .join('\n');
    const reply = await bed.call(wallet.link, { body: `<?xml version="1.0" encoding="UTF-8"?>\n<commandCall>\n${inner}\n</commandCall>`, headers: { 'content-type': 'text/xml' } });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/xml/);
    const doc = parseXml(Buffer.from(reply.text))!.commandResponse;
    return { result: textOf(doc, 'result'), comment: textOf(doc, 'comment'), account: textOf(doc, 'account'), ext: textOf(doc, 'extTransactionID') };
  };
  const check = (account: string) => command('check', { transactionID: nextId(), payElementID: '1', account, payID: '1' });
  const pay = (transactionID: string, account: string, amount: string, auth = credentials) =>
    command('pay', { transactionID, payTimestamp: '20261203162022', payID: '1', payElementID: '0', account, amount, terminalId: '11352' }, auth);

  beforeAll(async () => {
    park = await bed.park({ currency: 'KZT' });
    wallet = await park.wallet('CITY24', credentials);
  });

  it('checks a working driver, an unknown one and a fired one', async () => {
    expect(await check(park.working.id)).toMatchObject({ result: '0', account: park.working.id });
    expect(await check(park.working.phone)).toMatchObject({ result: '0' });
    expect(await check('nobody-here')).toMatchObject({ result: '5' });
    expect(await check(park.fired.id)).toMatchObject({ result: '79' });
    expect(await balanceOf(park)).toBe(0n);
  });

  it('pays once: the same pay again gets the first answer and credits nothing; its status reads back', async () => {
    const id = nextId();
    const first = await pay(id, park.working.id, '50000');
    expect(first).toMatchObject({ result: '0', account: park.working.id });
    expect(first.ext).toMatch(/^\d+$/);
    expect(await balanceOf(park)).toBe(50000n);
    expect(await pay(id, park.working.id, '50000')).toEqual(first);
    expect(await balanceOf(park)).toBe(50000n);
    expect(await command('check_status', { transactionID: id })).toMatchObject({ result: '0', ext: first.ext });
    expect(await command('cancel', { transactionID: id })).toMatchObject({ result: '7', ext: first.ext });
    expect(await balanceOf(park)).toBe(50000n);
  });

  it('refuses a wrong password, malformed and overflowing amounts, crediting nothing', async () => {
    const before = await balanceOf(park);
    expect(await pay(nextId(), park.working.id, '100', { ...credentials, password: 'not-the-password' })).toMatchObject({ result: '7' });
    expect(await pay(nextId(), park.working.id, '100.00')).toMatchObject({ result: '300' });
    expect(await pay(nextId(), park.working.id, '9223372036854775808')).toMatchObject({ result: '242' });
    expect(await pay(nextId(), park.working.id, '0')).toMatchObject({ result: '241' });
    expect(await pay(nextId(), park.fired.id, '100')).toMatchObject({ result: '79' });
    expect(await balanceOf(park)).toBe(before);
  });

  it('counts its own refusals by code in the metrics, never the password', async () => {
    const refusals = async () => {
      const metrics = await (await fetch(`${bed.callbackUrl}/metrics`)).text();
      expect(metrics).not.toContain('city24-password');
      return Number(/payouts_callback_refusals_total\{payment_system="CITY24",code="BAD_CREDENTIALS"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    };
    const before = await refusals();
    expect(await pay(nextId(), park.working.id, '100', { ...credentials, password: 'not-the-password' })).toMatchObject({ result: '7' });
    expect(await refusals()).toBe(before + 1);
  });

  it('refuses a revoked link with 7', async () => {
    const before = await balanceOf(park);
    await wallet.revoke();
    expect(await pay(nextId(), park.working.id, '100')).toMatchObject({ result: '7' });
    expect(await balanceOf(park)).toBe(before);
    await wallet.reissue();
  });
});

describe('UZPAYNET: SOAP ProviderWebService', () => {
  const credentials = { serviceId: '1', username: 'paynet-user', password: 'paynet-password' };
  let park: TestPark;
  let wallet: TestWallet;

  const soapResult = async (operation: string, inner: string, password = credentials.password) => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body>
<ns1:${operation}Arguments xmlns:ns1="http://uws.provider.com/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns1:${operation}Arguments">
<password>${password}</password>
<username>${credentials.username}</username>
${inner}
</ns1:${operation}Arguments>
</soapenv:Body>
</soapenv:Envelope>`;
    const reply = await bed.call(wallet.link, { body, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' } });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/xml/);
    const result = childOf(childOf(parseXml(Buffer.from(reply.text))!.Envelope, 'Body'), `${operation}Result`);
    expect(result, reply.text).toBeDefined();
    return result;
  };
  const soap = async (operation: string, inner: string, password = credentials.password) => {
    const result = await soapResult(operation, inner, password);
    return { status: textOf(result, 'status'), providerTrnId: textOf(result, 'providerTrnId'), transactionState: textOf(result, 'transactionState') };
  };
  const info = (account: string) =>
    soap('GetInformation', `<parameters>\n<paramKey>clientid</paramKey>\n<paramValue>${account}</paramValue>\n</parameters>\n<serviceId>1</serviceId>`);
  const perform = (transactionId: string, account: string, amount: string, password?: string) =>
    soap(
      'PerformTransaction',
      `<amount>${amount}</amount>
<parameters>
    <paramKey>terminal_id</paramKey>
    <paramValue>4075745</paramValue>
</parameters>
<parameters>
    <paramKey>clientid</paramKey>
    <paramValue>${account}</paramValue>
</parameters>
<serviceId>1</serviceId>
<transactionId>${transactionId}</transactionId>
<transactionTime>2026-12-03T15:24:33+05:00</transactionTime>`,
      password,
    );

  beforeAll(async () => {
    park = await bed.park({ currency: 'UZS' });
    wallet = await park.wallet('UZPAYNET', credentials);
  });

  it('checks a working driver, an unknown one and a fired one with GetInformation', async () => {
    expect(await info(park.working.id)).toMatchObject({ status: '0' });
    expect(await info(park.working.phone)).toMatchObject({ status: '0' });
    expect(await info('nobody-here')).toMatchObject({ status: '302' });
    expect(await info(park.fired.id)).toMatchObject({ status: '502' });
    expect(await balanceOf(park)).toBe(0n);
  });

  it('performs a transaction once: the same transactionId gets the stored answer and credits nothing', async () => {
    const id = nextId();
    const first = await perform(id, park.working.id, '100000');
    expect(first.status).toBe('0');
    expect(first.providerTrnId).toMatch(/^[1-9]\d*$/);
    expect(await balanceOf(park)).toBe(100000n);
    expect(await perform(id, park.working.id, '100000')).toEqual(first);
    expect(await balanceOf(park)).toBe(100000n);
    const state = `<serviceId>1</serviceId>\n<transactionId>${id}</transactionId>\n<transactionTime>2026-12-03T15:24:33+05:00</transactionTime>`;
    expect(await soap('CheckTransaction', state)).toMatchObject({ status: '0', providerTrnId: first.providerTrnId, transactionState: '1' });
    expect(await soap('CancelTransaction', state)).toMatchObject({ status: '77', transactionState: '1' });
    expect(await balanceOf(park)).toBe(100000n);
  });

  it('lists with GetStatement the payments it took in the period, not those it refused', async () => {
    const taken = nextId();
    const refused = nextId();
    const first = await perform(taken, park.working.id, '250000');
    expect(await perform(refused, park.fired.id, '100')).toMatchObject({ status: '502' });
    const period = `<dateFrom>${new Date(Date.now() - 3_600_000).toISOString()}</dateFrom>\n<dateTo>${new Date(Date.now() + 60_000).toISOString()}</dateTo>\n<serviceId>1</serviceId>`;
    const result = await soapResult('GetStatement', period);
    expect(textOf(result, 'status')).toBe('0');
    const listed = childrenOf(result, 'statements').map((s) => ({ transactionId: textOf(s, 'transactionId'), amount: textOf(s, 'amount'), providerTrnId: textOf(s, 'providerTrnId') }));
    expect(listed).toContainEqual({ transactionId: taken, amount: '250000', providerTrnId: first.providerTrnId });
    expect(listed.map((s) => s.transactionId)).not.toContain(refused);
    // What it lists is what the driver was credited through this wallet.
    expect(listed.reduce((sum, s) => sum + BigInt(s.amount!), 0n)).toBe(await balanceOf(park));
    expect(textOf(await soapResult('GetStatement', period, 'not-the-password'), 'status')).toBe('412');
  });

  it('refuses a wrong password, malformed and overflowing amounts, crediting nothing', async () => {
    const before = await balanceOf(park);
    expect(await perform(nextId(), park.working.id, '100', 'not-the-password')).toMatchObject({ status: '412', providerTrnId: '0' });
    for (const amount of ['100.50', '9223372036854775808', '-100', 'abc']) expect(await perform(nextId(), park.working.id, amount)).toMatchObject({ status: '413' });
    expect(await perform(nextId(), park.fired.id, '100')).toMatchObject({ status: '502' });
    expect(await balanceOf(park)).toBe(before);
  });

  it('answers malformed XML with a SOAP Client fault, never a 500', async () => {
    const reply = await bed.call(wallet.link, { body: '<soapenv:Envelope><soapenv:Body><ns1:Perform', headers: { 'content-type': 'text/xml' } });
    expect(reply.status).toBe(400);
    expect(reply.text).toContain('<faultcode>soapenv:Client</faultcode>');
  });

  it('refuses a revoked link with 601', async () => {
    const before = await balanceOf(park);
    await wallet.revoke();
    expect(await perform(nextId(), park.working.id, '100')).toMatchObject({ status: '601' });
    expect(await balanceOf(park)).toBe(before);
    await wallet.reissue();
  });
});

describe('EASYPAY: signed Request XML, Payment then Confirm', () => {
  const keyPair = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const easySoft = keyPair();
  const ours = keyPair();
  const credentials = { serviceId: '2431', providerPublicKey: easySoft.publicKey.trim(), ourPrivateKey: ours.privateKey.trim() };
  const ourPublicKey = ours.publicKey;
  let park: TestPark;
  let wallet: TestWallet;

  /** A request as EasySoft signs it, and its answer after checking our signature on it. */
  const call = async (operation: string, inner: string, signWith = easySoft.privateKey) => {
    const unsigned = `<Request>\n  <DateTime>2026-12-03T16:19:50</DateTime>\n  <Sign></Sign>\n  <${operation}>\n    ${inner}\n  </${operation}>\n</Request>`;
    const sign = createSign('RSA-SHA1').update(unsigned).sign(signWith).toString('hex').toUpperCase();
    const reply = await bed.call(wallet.link, { body: unsigned.replace('<Sign></Sign>', `<Sign>${sign}</Sign>`), headers: { 'content-type': 'text/xml' } });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/xml/);
    const doc = parseXml(Buffer.from(reply.text))!.Response;
    const answerSign = textOf(doc, 'Sign');
    return {
      code: textOf(doc, 'StatusCode'),
      paymentId: textOf(doc, 'PaymentId'),
      orderDate: textOf(doc, 'OrderDate'),
      signedByUs: !!answerSign && createVerify('RSA-SHA1').update(reply.text.replace(answerSign, '')).verify(ourPublicKey, Buffer.from(answerSign, 'hex')),
    };
  };
  const check = (account: string) => call('Check', `<ServiceId>2431</ServiceId>\n    <Account>${account}</Account>`);
  const payment = (orderId: string, account: string, amount: string, signWith?: string) =>
    call('Payment', `<ServiceId>2431</ServiceId>\n    <OrderId>${orderId}</OrderId>\n    <Account>${account}</Account>\n    <Amount>${amount}</Amount>`, signWith);
  const confirm = (paymentId: string) => call('Confirm', `<ServiceId>2431</ServiceId>\n    <PaymentId>${paymentId}</PaymentId>`);

  beforeAll(async () => {
    park = await bed.park({ currency: 'UAH' });
    wallet = await park.wallet('EASYPAY', credentials);
  });

  it('checks a working driver, an unknown one and a fired one, in answers we sign', async () => {
    expect(await check(park.working.id)).toMatchObject({ code: '0', signedByUs: true });
    expect(await check(park.working.phone)).toMatchObject({ code: '0' });
    expect(await check('nobody-here')).toMatchObject({ code: '2', signedByUs: true });
    expect(await check(park.fired.id)).toMatchObject({ code: '3' });
    expect(await balanceOf(park)).toBe(0n);
  });

  it('credits on Confirm, once: Payment alone credits nothing, repeats get the same PaymentId and OrderDate', async () => {
    const orderId = nextId();
    const first = await payment(orderId, park.working.id, '150.25');
    expect(first).toMatchObject({ code: '0', signedByUs: true });
    expect(await balanceOf(park)).toBe(0n);
    expect((await payment(orderId, park.working.id, '150.25')).paymentId).toBe(first.paymentId);
    const confirmed = await confirm(first.paymentId!);
    expect(confirmed).toMatchObject({ code: '0', signedByUs: true });
    expect(await balanceOf(park)).toBe(15025n);
    expect(await confirm(first.paymentId!)).toMatchObject({ code: '0', orderDate: confirmed.orderDate });
    expect(await balanceOf(park)).toBe(15025n);
    expect(await call('Cancel', `<ServiceId>2431</ServiceId>\n    <PaymentId>${first.paymentId}</PaymentId>`)).toMatchObject({ code: '8' });
    expect(await balanceOf(park)).toBe(15025n);
  });

  it('cancels a payment never confirmed: a Confirm after the Cancel credits nothing', async () => {
    const before = await balanceOf(park);
    const { paymentId } = await payment(nextId(), park.working.id, '20.00');
    const cancel = () => call('Cancel', `<ServiceId>2431</ServiceId>\n    <PaymentId>${paymentId}</PaymentId>`);
    const cancelled = await cancel();
    expect(cancelled).toMatchObject({ code: '0', signedByUs: true });
    expect(await cancel()).toMatchObject({ code: '0' });
    expect(await confirm(paymentId!)).toMatchObject({ code: '9', signedByUs: true });
    expect(await balanceOf(park)).toBe(before);
  });

  it('refuses a bad signature, malformed and overflowing amounts and a forged PaymentId, crediting nothing', async () => {
    const before = await balanceOf(park);
    expect(await payment(nextId(), park.working.id, '10.00', keyPair().privateKey)).toMatchObject({ code: '-95' });
    for (const amount of ['10,00', '10.001', '92233720368547758.08']) expect(await payment(nextId(), park.working.id, amount)).toMatchObject({ code: '5' });
    const genuine = (await payment(nextId(), park.working.id, '1.00')).paymentId!;
    expect(await confirm(genuine.replace('.100.', '.1000000.'))).toMatchObject({ code: '7' });
    expect(await balanceOf(park)).toBe(before);
  });

  it('refuses a revoked link', async () => {
    const before = await balanceOf(park);
    const pending = (await payment(nextId(), park.working.id, '5.00')).paymentId!;
    await wallet.revoke();
    expect(await confirm(pending)).toMatchObject({ code: '4', signedByUs: false });
    expect(await balanceOf(park)).toBe(before);
    await wallet.reissue();
  });
});

describe('PAYSTACK: charge.success for a payment we did not start names its driver in metadata.driverId', () => {
  const secretKey = 'sk_test_callbacks_protocols_0000000000';
  let park: TestPark;
  let wallet: TestWallet;
  const webhook = async (data: { reference: string; amount: number; metadata: unknown }) => {
    const body = chargeSuccess({ ...data, currency: 'NGN' });
    const reply = await bed.call(wallet.link, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-paystack-signature': paystackSignature(body, secretKey) } });
    return { status: reply.status, body: JSON.parse(reply.text) as unknown };
  };
  const recorded = async (references: string[]) =>
    bed.server.app.orm.em.fork().execute<{ external_id: string }[]>(`SELECT external_id FROM topup_transaction WHERE wallet_id = ? AND external_id IN (${references.map(() => '?').join(', ')})`, [
      wallet.id,
      ...references,
    ]);

  /** PAYSTACK's refusals counted as BAD_ACCOUNT: refused before the core. */
  const badAccounts = async () => {
    const text = await (await fetch(`${bed.callbackUrl}/metrics`)).text();
    return Number(/payouts_callback_refusals_total\{payment_system="PAYSTACK",code="BAD_ACCOUNT"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    park = await bed.park({ currency: 'NGN' });
    wallet = await park.wallet('PAYSTACK', { secretKey });
  });

  it('answers a driverId that is no account (a NUL, a disallowed character) as an unknown driver and records nothing', async () => {
    const before = await balanceOf(park);
    const refusalsBefore = await badAccounts();
    const malformed: unknown[] = [
      { driverId: `${park.working.id}\u0000` },
      { driverId: '\u0000' },
      JSON.stringify({ driverId: `${park.working.id}\u0000x` }),
      { driverId: `${park.working.id};` },
      { driverId: '<script>' },
      { driverId: 'a'.repeat(101) },
    ];
    const references = malformed.map(() => `T${nextId()}`);
    for (const [i, metadata] of malformed.entries()) {
      expect(await webhook({ reference: references[i]!, amount: 30_000, metadata }), JSON.stringify(metadata)).toEqual({ status: 200, body: { status: 'refused', reason: 'UNKNOWN_DRIVER' } });
    }
    expect(await recorded(references)).toEqual([]);
    expect(await balanceOf(park)).toBe(before);
    expect((await badAccounts()) - refusalsBefore).toBe(malformed.length);
  });

  it('credits valid payments sent at the same moment as ones whose driverId holds a NUL', async () => {
    const before = await balanceOf(park);
    const valid = Array.from({ length: 8 }, () => `T${nextId()}`);
    const poisoned = Array.from({ length: 8 }, () => `T${nextId()}`);
    const replies = await Promise.all([
      ...valid.map((reference) => webhook({ reference, amount: 1_000, metadata: { driverId: park.working.id } })),
      ...poisoned.map((reference) => webhook({ reference, amount: 1_000, metadata: { driverId: `${park.working.id}\u0000` } })),
    ]);
    expect(replies.slice(0, valid.length)).toEqual(valid.map(() => ({ status: 200, body: { status: 'accepted' } })));
    expect(replies.slice(valid.length)).toEqual(poisoned.map(() => ({ status: 200, body: { status: 'refused', reason: 'UNKNOWN_DRIVER' } })));
    expect((await recorded(valid)).length).toBe(valid.length);
    expect(await recorded(poisoned)).toEqual([]);
    expect(await balanceOf(park)).toBe(before + 8_000n);
  });
});
