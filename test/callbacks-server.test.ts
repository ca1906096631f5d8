import 'reflect-metadata';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topupsModule } from '../src/topups/module';
import { walletsModule } from '../src/wallets/module';
import { startCallbackTestbed, type CallbackTestbed } from './helpers/callbacks';

/** The callback server itself, with QIWI's adapter: metrics, rate limits, deadlines, and what a refusal reveals. */

const result = (xml: string) => /<result>(\d+)<\/result>/.exec(xml)?.[1];
let txn = 0;
const nextTxn = () => `${Date.now()}${++txn}`;

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('metrics per payment system', () => {
  let bed: CallbackTestbed;
  beforeAll(async () => {
    bed = await startCallbackTestbed();
  });
  afterAll(async () => bed?.close());

  it('counts checks, payments, duplicates, refusals by code and the credit lag; parks and drivers using the system at scrape', async () => {
    const park = await bed.park();
    const wallet = await park.wallet('QIWI');
    const pay = { command: 'pay', txn_id: nextTxn(), txn_date: '20261203120000', account: park.working.id, sum: '3.00' };
    expect(result((await bed.call(wallet.link, { query: { command: 'check', txn_id: nextTxn(), account: park.working.id, sum: '3.00' } })).text)).toBe('0');
    expect(result((await bed.call(wallet.link, { query: { command: 'check', txn_id: nextTxn(), account: 'nobody', sum: '3.00' } })).text)).toBe('5');
    expect(result((await bed.call(wallet.link, { query: pay })).text)).toBe('0');
    expect(result((await bed.call(wallet.link, { query: pay })).text)).toBe('0');
    expect(result((await bed.call(`${bed.callbackUrl}/callbacks/qiwi/not-a-secret`, { query: pay })).text)).toBe('7');
    expect(result((await bed.call(wallet.link, { query: { ...pay, txn_id: nextTxn(), sum: '3.001' } })).text)).toBe('300');
    expect(result((await bed.call(wallet.link, { query: { ...pay, txn_id: nextTxn(), account: 'a;b' } })).text)).toBe('4');
    await bed.settle();

    const text = await (await fetch(`${bed.callbackUrl}/metrics`)).text();
    const qiwi = 'payment_system="QIWI"';
    expect(metric(text, 'payouts_callback_checks_total', qiwi)).toBe(2);
    expect(metric(text, 'payouts_callback_payments_total', qiwi)).toBe(1);
    expect(metric(text, 'payouts_callback_duplicates_total', qiwi)).toBe(1);
    expect(metric(text, 'payouts_callback_refusals_total', `${qiwi},code="UNKNOWN_DRIVER"`)).toBe(1);
    expect(metric(text, 'payouts_callback_refusals_total', `${qiwi},code="UNKNOWN_LINK"`)).toBe(1);
    expect(metric(text, 'payouts_topup_credit_lag_seconds_count', qiwi)).toBe(1);
    expect(metric(text, 'payouts_callback_refusals_total', `${qiwi},code="BAD_AMOUNT"`)).toBe(1);
    expect(metric(text, 'payouts_callback_refusals_total', `${qiwi},code="BAD_ACCOUNT"`)).toBe(1);
    expect(metric(text, 'payouts_callback_answer_seconds_count', `${qiwi},status="200"`)).toBe(7);
    expect(metric(text, 'payouts_payment_system_parks', qiwi)).toBe(1);
    expect(metric(text, 'payouts_payment_system_drivers', qiwi)).toBe(1);
    // Nothing of a link's secret or a driver in the metrics.
    expect(text).not.toContain(wallet.link.split('/').at(-1)!);
    expect(text).not.toContain(park.working.id);
  });
});

describe('limits and refusals', () => {
  let bed: CallbackTestbed;
  beforeAll(async () => {
    bed = await startCallbackTestbed({
      env: { CALLBACK_RATE_PER_ADDRESS: '1', CALLBACK_RATE_PER_LINK: '1', CALLBACK_ANSWER_TIMEOUT: '1s', CALLBACK_RECEIVE_TIMEOUT: '2s' },
    });
  });
  afterAll(async () => bed?.close());

  it('limits one address: beyond its burst it gets the temporary error (retry later); another address is not held back', async () => {
    const park = await bed.park();
    const wallet = await park.wallet('QIWI');
    const check = () => ({ command: 'check', txn_id: nextTxn(), account: 'nobody', sum: '1.00' });
    // Unknown links, so only the address's limit applies: a burst of 2 at 1 a second.
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) answers.push(result((await bed.call(`${bed.callbackUrl}/callbacks/qiwi/unknown-${i}`, { query: check(), from: '198.51.100.1' })).text)!);
    expect(answers.slice(0, 2)).toEqual(['7', '7']);
    expect(answers.slice(2)).toContain('1');
    expect(result((await bed.call(wallet.link, { query: check(), from: '198.51.100.2' })).text)).toBe('5');
  });

  it('limits one link, whichever addresses call it', async () => {
    const park = await bed.park();
    const wallet = await park.wallet('QIWI');
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      answers.push(result((await bed.call(wallet.link, { query: { command: 'check', txn_id: nextTxn(), account: 'nobody', sum: '1.00' }, from: `203.0.113.${i + 1}` })).text)!);
    }
    expect(answers.slice(0, 2)).toEqual(['5', '5']);
    expect(answers.slice(2)).toContain('1');
  });

  it('answers a pay that waits too long with the temporary error; the retry gets the first answer and one credit', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2100)); // the limits above refill
    const park = await bed.park();
    const wallet = await park.wallet('QIWI');
    const id = nextTxn();
    const { topups } = bed.server.app.use(topupsModule);
    const row = (await bed.server.app.use(walletsModule).wallets.find(bed.server.app.orm.em.fork(), wallet.id))!;
    // Another transaction holds the same payment uncommitted: the callback's insert waits on its key.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const inserted = new Promise<void>((resolve) => (holding = resolve));
    const holder = bed.server.app.orm.em
      .fork()
      .transactional(async (tx) => {
        await topups.accept(tx, row, id, park.working.id, 700n);
        holding();
        await held;
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const pay = { command: 'pay', txn_id: id, txn_date: '20261203120000', account: park.working.id, sum: '7.00' };
    try {
      await inserted;
      const started = Date.now();
      expect(result((await bed.call(wallet.link, { query: pay, from: '192.0.2.10' })).text)).toBe('1');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      release();
      await holder;
    }
    await bed.settle();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const retry = await bed.call(wallet.link, { query: pay, from: '192.0.2.10' });
    expect(result(retry.text)).toBe('0');
    await bed.settle();
    expect(await park.balance(park.working.id)).toBe(700n);
  });

  it("answers a driver of another park through this park's link as no driver at all", async () => {
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const mine = await bed.park();
    const theirs = await bed.park();
    const wallet = await mine.wallet('QIWI');
    const ask = (account: string) => bed.call(wallet.link, { query: { command: 'check', txn_id: '501', account, sum: '1.00' }, from: '192.0.2.31' });
    const stranger = await ask(theirs.working.id);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const nobody = await ask('no-such-driver');
    expect(result(stranger.text)).toBe('5');
    expect(stranger).toEqual(nobody);
  });

  it("refuses a link on another system's path, a revoked link and a made-up one with the same bytes", async () => {
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const park = await bed.park();
    const qiwi = await park.wallet('QIWI');
    const secret = qiwi.link.split('/').at(-1)!;
    const pay = { command: 'pay', txn_id: '77', txn_date: '20261203120000', account: park.working.id, sum: '1.00' };
    const answers = [
      await bed.call(`${bed.callbackUrl}/callbacks/tbc/${secret}`, { query: pay, from: '192.0.2.21' }),
      await bed.call(`${bed.callbackUrl}/callbacks/qiwi/${'x'.repeat(43)}`, { query: pay, from: '192.0.2.22' }),
    ];
    const old = qiwi.link;
    await qiwi.reissue();
    answers.push(await bed.call(old, { query: pay, from: '192.0.2.23' }));
    const tbc = answers[0]!;
    expect(result(tbc.text)).toBe('7');
    expect(answers[1]).toEqual(answers[2]);
    expect(answers[1]!.text).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<response><osmp_txn_id>77</osmp_txn_id><result>7</result><comment>Payment forbidden by provider</comment></response>');
    await bed.settle();
    expect(await park.balance(park.working.id)).toBe(0n);
  });

  it('drops a caller that sends its request too slowly (CALLBACK_RECEIVE_TIMEOUT)', async () => {
    const { port } = new URL(bed.callbackUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const started = Date.now();
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    // Half a request, then a byte now and then: never the end of its headers.
    socket.write('POST /callbacks/qiwi/x HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 300);
    try {
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    } finally {
      clearInterval(drip);
    }
    const heldMs = Date.now() - started;
    expect(heldMs).toBeGreaterThanOrEqual(1500);
    expect(heldMs).toBeLessThan(6000);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('answers an unknown system, another method and a path that is not a callback with a bare 404', async () => {
    for (const [method, path] of [['GET', '/callbacks/paypal/x'], ['PUT', '/callbacks/qiwi/x'], ['HEAD', '/callbacks/qiwi/x'], ['GET', '/callbacks/qiwi'], ['POST', '/graphql'], ['GET', '/']] as const) {
      const response = await fetch(`${bed.callbackUrl}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(await response.text()).toBe(method === 'HEAD' ? '' : 'Not found');
    }
  });
});
