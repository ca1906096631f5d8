import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayoutStatus } from '../src/payouts/lifecycle';
import type { Payee } from '../src/access/payee';
import {
  BalancesDocument,
  PayoutRequestDocument,
  PayoutWithCashPaymentFactDocument,
  RequestPayoutDocument,
  type PayoutWithCashPaymentFactQuery,
} from './generated/graphql';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { graphql } from './helpers/graphql';
import { collect, collectAll, disconnectProducer, produce, untilSeen, waitFor, type ReceivedMessage } from './helpers/kafka';
import { erpModule } from '../src/erp/module';
import { accrualsModule } from '../src/accruals/module';

/**
 * The whole billing-payout path through a real broker and a real worker (gates on short
 * intervals): accrual → requestPayout → payout → erp.payouts → ERP statuses → balances, all
 * observed from outside, over Kafka and GraphQL.
 */
const brokers = kafkaBrokers();
const admin = tokenFor('admin');
const client = (id: string): Payee => ({ kind: 'CLIENT', id });
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

let server: TestServer;
type Payout = NonNullable<PayoutWithCashPaymentFactQuery['payout']>;

async function accrue(eventId: string, clientId: string, amount: string, currency = 'RUB'): Promise<void> {
  await produce(server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS, [
    {
      key: clientId,
      value: {
        eventId,
        occurredAt: '2026-11-02T10:00:00Z',
        payee: { kind: 'CLIENT', id: clientId },
        account: 'payout',
        amount,
        currency,
        reference: eventId,
      },
    },
  ]);
}

/** Balances over GraphQL as `accountType/currency` → minor units. */
async function balances(clientId: string): Promise<Record<string, string>> {
  const response = await graphql(server.url, BalancesDocument, { payee: { kind: 'CLIENT', id: clientId } }, admin);
  expect(response.errors).toBeUndefined();
  return Object.fromEntries(response.data!.balances.map((b) => [`${b.accountType}/${b.currency}`, b.balance.minor]));
}

async function accountIdOf(clientId: string, accountType: string): Promise<string | undefined> {
  const response = await graphql(server.url, BalancesDocument, { payee: { kind: 'CLIENT', id: clientId } }, admin);
  return response.data?.balances.find((b) => b.accountType === accountType)?.accountId;
}

function untilBalances(clientId: string, expected: Record<string, string>) {
  return waitFor(
    () => balances(clientId),
    (seen) => Object.entries(expected).every(([k, v]) => (seen[k] ?? '0') === v),
  );
}

async function requestPayout(clientId: string, idempotencyKey: string): Promise<string> {
  const response = await graphql(
    server.url,
    RequestPayoutDocument,
    { input: { clientId, idempotencyKey } },
    tokenFor('dispatcher', [client(clientId)]),
  );
  expect(response.errors).toBeUndefined();
  expect(response.data?.requestPayout.status).toBe('NEW');
  return response.data!.requestPayout.id;
}

async function untilRequestSettled(id: string) {
  const request = await waitFor(
    async () => (await graphql(server.url, PayoutRequestDocument, { id }, admin)).data?.payoutRequest,
    (r) => r?.status !== 'NEW',
  );
  expect(request?.status).toBe('DONE');
  return request!;
}

async function payout(id: string): Promise<Payout> {
  const response = await graphql(server.url, PayoutWithCashPaymentFactDocument, { id }, admin);
  expect(response.errors).toBeUndefined();
  return response.data!.payout!;
}

async function untilPayoutStatus(id: string, status: PayoutStatus): Promise<Payout> {
  const seen = await waitFor(() => payout(id), (p) => p.status === status);
  expect(seen.status).toBe(status);
  return seen;
}

/** Requests a payout for the client and waits until the gates have created and sent it. */
async function requestedAndSent(clientId: string, key: string): Promise<{ requestId: string; payout: Payout }> {
  const requestId = await requestPayout(clientId, key);
  const request = await untilRequestSettled(requestId);
  expect(request.payouts).toHaveLength(1);
  return { requestId, payout: await untilPayoutStatus(request.payouts[0]!.id, 'SENT') };
}

function statusMessage(eventId: string, payoutId: string, status: PayoutStatus, reason?: string) {
  return { key: payoutId, value: { eventId, occurredAt: '2026-11-02T12:00:00Z', payoutId, status, ...(reason ? { reason } : {}) } };
}


function erpMessagesFor(payoutId: string): Promise<ReceivedMessage[]> {
  return collect(server.app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS, (messages) => messages.some((m) => m.key === payoutId)).then((all) =>
    all.filter((m) => m.key === payoutId),
  );
}

const historyOf = (p: Payout) => p.statusHistory.map((h) => h.status);

describe.skipIf(!brokers)('payout requests through the ERP gateway, over Kafka', () => {
  beforeAll(async () => {
    server = await startTestServer(
      { worker: true, consumers: true },
      { kafka: true, env: { PAYOUT_REQ_GATE_INTERVAL: '200ms', PAYOUT_OEBS_GATE_INTERVAL: '200ms' } },
    );
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  const ard = () => server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_ARD;
  const oebs = () => server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_OEBS;

  it('turns an accrual into a payout sent to the ERP once, and settles it on ACCEPTED and PAID', async () => {
    await accrue('flow-1-earn', 'flow-1', '100000');
    expect(await untilBalances('flow-1', { 'payout/RUB': '100000' })).toEqual({ 'payout/RUB': '100000' });

    const { requestId, payout: sent } = await requestedAndSent('flow-1', 'k-1');
    expect(sent).toMatchObject({ source: 'REQUEST', sourceRef: requestId, amount: { minor: '100000', currency: 'RUB' } });
    expect(historyOf(sent)).toEqual(['CREATED', 'SENT']);
    expect(await balances('flow-1')).toEqual({ 'payout/RUB': '0', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '100000' });

    // The cash-payment fact: what left which account, by which transfer.
    const fact = sent.cashPaymentFact!;
    expect(fact).not.toBeNull();
    expect(fact.amount).toEqual({ minor: '100000', currency: 'RUB' });
    expect(fact.accountId).toBe(await accountIdOf('flow-1', 'payout-reserved'));
    expect(fact.transferId).toMatch(/^\d+$/);
    expect(fact.createdAt).toMatch(ISO);

    // Exactly one erp.payouts message, carrying the contract's fields and the fact's id.
    const [message, ...more] = await erpMessagesFor(sent.id);
    expect(more).toEqual([]);
    const value = message!.value as Record<string, unknown>;
    expect(value).toMatchObject({
      payoutId: sent.id,
      payee: { kind: 'CLIENT', id: 'flow-1' },
      accountId: sent.accountId,
      amount: '100000',
      currency: 'RUB',
      cashPaymentFactId: fact.id,
    });
    expect(value.createdAt).toMatch(ISO);
    expect(value.sentAt).toMatch(ISO);
    expect(Object.keys(value).sort()).toEqual(
      ['accountId', 'amount', 'cashPaymentFactId', 'createdAt', 'currency', 'payee', 'payoutId', 'sentAt'].concat(
        'payoutToolId' in value ? ['payoutToolId'] : [],
      ).sort(),
    );

    await produce(ard(), [statusMessage('flow-1-ard', sent.id, 'ACCEPTED')]);
    await untilPayoutStatus(sent.id, 'ACCEPTED');
    await produce(oebs(), [statusMessage('flow-1-oebs', sent.id, 'PAID')]);
    const paid = await untilPayoutStatus(sent.id, 'PAID');
    expect(historyOf(paid)).toEqual(['CREATED', 'SENT', 'ACCEPTED', 'PAID']);
    expect(await balances('flow-1')).toEqual({ 'payout/RUB': '0', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '0' });

    // The ERP says it again, under the same and under new event ids: nothing changes.
    await produce(ard(), [statusMessage('flow-1-ard', sent.id, 'ACCEPTED'), statusMessage('flow-1-ard-again', sent.id, 'ACCEPTED')]);
    await produce(oebs(), [statusMessage('flow-1-oebs', sent.id, 'PAID'), statusMessage('flow-1-oebs-again', sent.id, 'PAID')]);
    expect(await untilSeen(server.app, ard(), ['flow-1-ard', 'flow-1-ard-again'])).toBe(2);
    expect(await untilSeen(server.app, oebs(), ['flow-1-oebs', 'flow-1-oebs-again'])).toBe(2);
    const after = await payout(sent.id);
    expect(historyOf(after)).toEqual(['CREATED', 'SENT', 'ACCEPTED', 'PAID']);
    expect(after.cashPaymentFact).toEqual(fact);
    expect(await balances('flow-1')).toEqual({ 'payout/RUB': '0', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '0' });

    // A second request finds nothing left to pay: DONE, no payout, nothing more for the ERP.
    const again = await untilRequestSettled(await requestPayout('flow-1', 'k-2'));
    expect(again.payouts).toEqual([]);
  });

  it('takes PAID before ACCEPTED, returns the money on REJECTED and RETURNED, and pays the returned money again', async () => {
    await accrue('flow-2-earn', 'flow-2', '30000');
    await accrue('flow-3-earn', 'flow-3', '20000');
    await accrue('flow-4-earn', 'flow-4', '15000');
    await untilBalances('flow-2', { 'payout/RUB': '30000' });
    await untilBalances('flow-3', { 'payout/RUB': '20000' });
    await untilBalances('flow-4', { 'payout/RUB': '15000' });
    const [outOfOrder, rejected, returned] = await Promise.all([
      requestedAndSent('flow-2', 'k'),
      requestedAndSent('flow-3', 'k'),
      requestedAndSent('flow-4', 'k'),
    ]).then((all) => all.map((a) => a.payout));

    // The money feed before the document feed; the late ACCEPTED changes nothing.
    await produce(oebs(), [statusMessage('flow-2-oebs', outOfOrder!.id, 'PAID')]);
    await untilPayoutStatus(outOfOrder!.id, 'PAID');
    await produce(ard(), [statusMessage('flow-2-ard', outOfOrder!.id, 'ACCEPTED')]);
    expect(await untilSeen(server.app, ard(), ['flow-2-ard'])).toBe(1);
    expect(historyOf(await payout(outOfOrder!.id))).toEqual(['CREATED', 'SENT', 'PAID']);
    expect(await balances('flow-2')).toEqual({ 'payout/RUB': '0', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '0' });

    await produce(ard(), [statusMessage('flow-3-ard', rejected!.id, 'REJECTED', 'bad requisites')]);
    const gone = await untilPayoutStatus(rejected!.id, 'REJECTED');
    expect(gone.statusHistory.at(-1)).toMatchObject({ status: 'REJECTED', reason: 'bad requisites' });
    await produce(oebs(), [statusMessage('flow-4-oebs-1', returned!.id, 'PAID'), statusMessage('flow-4-oebs-2', returned!.id, 'RETURNED', 'account closed')]);
    expect(historyOf(await untilPayoutStatus(returned!.id, 'RETURNED'))).toEqual(['CREATED', 'SENT', 'PAID', 'RETURNED']);

    // A repeated REJECTED changes nothing.
    await produce(ard(), [statusMessage('flow-3-ard', rejected!.id, 'REJECTED', 'bad requisites'), statusMessage('flow-3-ard-2', rejected!.id, 'REJECTED')]);
    expect(await untilSeen(server.app, ard(), ['flow-3-ard', 'flow-3-ard-2'])).toBe(2);
    expect(historyOf(await payout(rejected!.id))).toEqual(['CREATED', 'SENT', 'REJECTED']);

    // The money is back where a request can take it again.
    expect(await balances('flow-3')).toEqual({ 'payout/RUB': '20000', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '0' });
    expect(await balances('flow-4')).toEqual({ 'payout/RUB': '15000', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '0' });
    const { payout: second } = await requestedAndSent('flow-3', 'k-again');
    expect(second.id).not.toBe(rejected!.id);
    expect(second.amount).toEqual({ minor: '20000', currency: 'RUB' });
    expect(second.cashPaymentFact?.id).not.toBe(rejected!.cashPaymentFact?.id);
    expect(await balances('flow-3')).toEqual({ 'payout/RUB': '0', 'payout-reserved/RUB': '0', 'payout-sent/RUB': '20000' });

    const messages = await erpMessagesFor(second.id);
    expect(messages.map((m) => (m.value as { cashPaymentFactId: string }).cashPaymentFactId)).toEqual([second.cashPaymentFact!.id]);
  });

  it('publishes exactly one erp.payouts message per sent payout, and the books hold', async () => {
    // Payouts of its own, so the test holds on its own or after the others.
    await accrue('flow-5-earn', 'flow-5', '5000');
    await accrue('flow-6-earn', 'flow-6', '7000', 'USD');
    await untilBalances('flow-5', { 'payout/RUB': '5000' });
    await untilBalances('flow-6', { 'payout/USD': '7000' });
    const mine = await Promise.all([requestedAndSent('flow-5', 'k'), requestedAndSent('flow-6', 'k')]).then((all) => all.map((a) => a.payout.id));

    // Every payout this server ever sent (whatever other tests ran before), mine among them.
    const rows = await server.app.orm.em
      .fork()
      .execute<{ id: string }[]>("SELECT id FROM payout WHERE status <> 'CREATED' AND status <> 'CANCELLED'");
    const sentPayouts = rows.map((r) => r.id).sort();
    expect(sentPayouts).toEqual(expect.arrayContaining(mine));
    // The outbox publishes on commit; wait until all of them are on the topic, then read it all.
    await waitFor(
      async () => (await server.app.orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM outbox_message'))[0]!.n,
      (n) => Number(n) === 0,
    );
    const all = await collectAll(server.app.settingsOf(erpModule).TOPIC_ERP_PAYOUTS);
    const byPayout = new Map<string, number>();
    for (const m of all) {
      const id = (m.value as { payoutId: string }).payoutId;
      expect(m.key).toBe(id);
      byPayout.set(id, (byPayout.get(id) ?? 0) + 1);
    }
    expect([...byPayout.keys()].sort()).toEqual(sentPayouts);
    expect([...byPayout.values()].every((n) => n === 1)).toBe(true);
    expect(await server.app.checkLedger()).toEqual([]);
  });
});
