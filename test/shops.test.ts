import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayoutStatus } from '../src/payouts/lifecycle';
import {
  CalendarsDocument,
  CancelPayoutDocument,
  DeadLettersDocument,
  PayoutDocument,
  PayoutSchedulesDocument,
  ShopDocument,
  ShopOperationsDocument,
  ShopPayoutsDocument,
  ShopRunsDocument,
  ShopsDocument,
  UpsertCalendarDocument,
  UpsertPayoutScheduleDocument,
  type CalendarInput,
  type PayoutScheduleInput,
  type ShopFilter,
} from './generated/graphql';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { disconnectProducer, produce, waitFor } from './helpers/kafka';
import {
  HOUR,
  MINUTE,
  dailyAt,
  fireNow,
  invoicing,
  minuteAgo,
  party,
  scheduledSince,
  send,
  shopJobs,
  type Event,
  type ShopRef,
} from './helpers/shops';
import { shopsModule } from '../src/shops/module';
import { operationsModule } from '../src/operations/module';
import { erpModule } from '../src/erp/module';

/**
 * Shops and their scheduled payouts from outside: party-management and invoicing events through
 * a real broker, runs fired by the real worker, everything checked over GraphQL. Runs are made
 * due without waiting: a shop's schedule is moved into the past and its job is booked for now.
 * Schedules are daily crons at past times of day in a UTC calendar, so nothing fires by itself.
 */
const brokers = kafkaBrokers();
const admin = tokenFor('admin');
let server: TestServer;

const shopOf = (partyId: string, shopId: string): ShopRef => ({ partyId, shopId });
const iso = (time: Date) => time.toISOString();
const later = (time: Date, ms: number) => new Date(time.getTime() + ms);

const toParty = (...events: Event[]) => send(server.app, server.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, events);
const toInvoicing = (...events: Event[]) => send(server.app, server.app.settingsOf(operationsModule).TOPIC_INVOICING, events);

async function ask<R, V>(document: TypedDocumentNode<R, V>, variables: V, token: string | null = admin): Promise<R> {
  const response = await graphql(server.url, document, variables, token);
  expect(response.errors).toBeUndefined();
  return response.data!;
}

const shop = async (ref: ShopRef) => (await ask(ShopDocument, ref)).shop;
const shops = async (filter: ShopFilter, first?: number) => (await ask(ShopsDocument, { filter, first })).shops;
const operations = async (ref: ShopRef, unpaidOnly = false) => (await ask(ShopOperationsDocument, { ...ref, unpaidOnly })).shop!.operations;
const runs = async (ref: ShopRef) => (await ask(ShopRunsDocument, ref)).shop!.runs;
const payoutsOf = async (ref: ShopRef) => (await ask(ShopPayoutsDocument, { filter: ref })).payouts;
const payout = async (id: string) => (await ask(PayoutDocument, { id })).payout!;
const schedule = async (id: string, count = 3) => (await ask(PayoutSchedulesDocument, { count })).payoutSchedules.find((s) => s.id === id)!;

/** Waits until the shop has `count` runs; returns them, latest cut-off first. */
async function untilRuns(ref: ShopRef, count: number) {
  // Nodes and totalCount are two reads: a run committing between them shows in one only.
  const seen = await waitFor(() => runs(ref), (r) => r.totalCount >= count && r.nodes.length >= count);
  expect(seen.totalCount).toBe(count);
  return seen.nodes;
}

async function untilPayoutStatus(id: string, status: PayoutStatus) {
  const seen = await waitFor(() => payout(id), (p) => p.status === status);
  expect(seen.status).toBe(status);
  return seen;
}

/** Operation ids (sorted) as GraphQL lists them. */
const idsOf = (connection: { nodes: { id: string }[] }) => connection.nodes.map((n) => n.id).sort();

async function upsertCalendar(input: CalendarInput) {
  return (await ask(UpsertCalendarDocument, { input })).upsertCalendar;
}

async function upsertSchedule(input: PayoutScheduleInput) {
  return (await ask(UpsertPayoutScheduleDocument, { input })).upsertPayoutSchedule;
}

/** A schedule on the UTC calendar whose only cut-off each day is at the time of day of `cutoff`. */
const dailySchedule = (id: string, cutoff: Date, delayDays = 0) => upsertSchedule({ id, cron: dailyAt(cutoff), calendarId: 'utc', delayDays });

/** The shop's one pending job and the next fire time GraphQL shows for it. */
async function booking(ref: ShopRef) {
  const [jobs, seen] = await Promise.all([shopJobs(server.app, ref), shop(ref)]);
  return { jobs: jobs.map((j) => j.run_at), nextFireAt: seen!.nextFireAt };
}

/** Creates scheduled shops whose schedule has applied since `since`, so cut-offs after it are due. */
async function scheduledShops(refs: ShopRef[], scheduleId: string, since: Date) {
  await toParty(...refs.map((ref) => party.created(ref, { payoutScheduleId: scheduleId })));
  for (const ref of refs) await scheduledSince(server.app, ref, since);
}

/** Fires the shops' jobs now and waits until each has `count` runs; returns each one's latest run. */
async function runNow(refs: ShopRef[], count: number) {
  await fireNow(server.app, refs);
  return Promise.all(refs.map(async (ref) => (await untilRuns(ref, count))[0]!));
}

async function deadLetters(topic: string) {
  return (await ask(DeadLettersDocument, { topic, first: 100 })).deadLetters.nodes;
}

describe.skipIf(!brokers)('shops and scheduled payouts, over Kafka and GraphQL', () => {
  beforeAll(async () => {
    server = await startTestServer(
      { worker: true, consumers: true },
      // The gates are only run when a test books them.
      { kafka: true, env: { PAYOUT_REQ_GATE_INTERVAL: '1h', PAYOUT_OEBS_GATE_INTERVAL: '1h' } },
    );
    await upsertCalendar({ id: 'utc', timezone: 'UTC', holidays: [], weekendDays: [6, 7] });
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  describe('shops from party-management', () => {
    it('creates a shop and keeps its status, payout tool and schedule', async () => {
      await upsertSchedule({ id: 'pm-weekly', cron: '0 10 * * 1', calendarId: 'utc' });
      const ref = shopOf('pm-party', 'pm-1');
      await toParty(party.created(ref, { currency: 'USD', payoutToolId: 'tool-1', payoutScheduleId: 'pm-weekly' }));
      expect(await shop(ref)).toMatchObject({
        status: 'ACTIVE',
        blockedReason: null,
        currency: 'USD',
        payoutToolId: 'tool-1',
        payoutScheduleId: 'pm-weekly',
        payoutSchedule: { id: 'pm-weekly', cron: '0 10 * * 1' },
        balance: { minor: '0', amount: '0.00', currency: 'USD' },
      });

      await toParty(party.toolChanged(ref, 'tool-2'), party.blocked(ref, 'fraud check'));
      expect(await shop(ref)).toMatchObject({ status: 'BLOCKED', blockedReason: 'fraud check', payoutToolId: 'tool-2' });
      // Blocking and suspension are separate switches: lifting one leaves the other.
      await toParty(party.suspended(ref), party.unblocked(ref));
      expect(await shop(ref)).toMatchObject({ status: 'SUSPENDED', blockedReason: null });
      await toParty(party.blocked(ref, 'again'), party.activated(ref));
      expect(await shop(ref)).toMatchObject({ status: 'BLOCKED', blockedReason: 'again' });
      await toParty(party.unblocked(ref));
      expect((await shop(ref))!.status).toBe('ACTIVE');
    });

    it('applies a repeated eventId once, and dead-letters events it cannot apply', async () => {
      const ref = shopOf('pm-party', 'pm-2');
      await toParty(party.created(ref));
      const block = party.blocked(ref, 'first');
      await toParty(block, party.unblocked(ref));
      // The same block again (at-least-once delivery) has no further effect; the event after it on
      // the same partition shows it has been consumed.
      await toParty(block, party.toolChanged(ref, 'tool-after'));
      expect(await shop(ref)).toMatchObject({ status: 'ACTIVE', payoutToolId: 'tool-after' });

      const ghost = shopOf('pm-party', 'no-such-shop');
      const forGhost = party.blocked(ghost, 'who?');
      const otherCurrency = party.created(ref, { currency: 'EUR' });
      await toParty(forGhost, otherCurrency);
      const letters = await deadLetters(server.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT);
      expect(letters.map((l) => [JSON.parse(l.value!).eventId, l.errorCode])).toEqual([
        [forGhost.eventId, 'NOT_FOUND'],
        [otherCurrency.eventId, 'CONFLICT'],
      ]);
      expect(letters[0]!.reason).toContain('pm-party/no-such-shop does not exist');
      expect(await shop(ghost)).toBeNull();
      expect((await shop(ref))!.currency).toBe('RUB');
    });

    it('lists shops by party, status and schedule, and shows a shop only to who may see it', async () => {
      const refs = ['a', 'b', 'c'].map((id) => shopOf('list-party', id));
      await toParty(
        party.created(refs[0]!, { payoutScheduleId: 'list-x' }),
        party.created(refs[1]!, { payoutScheduleId: 'list-y' }),
        party.created(refs[2]!, { payoutScheduleId: 'list-x' }),
        party.suspended(refs[2]!),
        party.created(shopOf('list-other', 'a'), { payoutScheduleId: 'list-x' }),
      );
      const names = (page: { nodes: { partyId: string; shopId: string }[] }) => page.nodes.map((s) => `${s.partyId}/${s.shopId}`);
      expect(names(await shops({ partyId: 'list-party' }))).toEqual(['list-party/a', 'list-party/b', 'list-party/c']);
      expect(names(await shops({ payoutScheduleId: 'list-x' }))).toEqual(['list-other/a', 'list-party/a', 'list-party/c']);
      expect(names(await shops({ partyId: 'list-party', status: ['SUSPENDED', 'BLOCKED'] }))).toEqual(['list-party/c']);
      const firstPage = await shops({ partyId: 'list-party' }, 2);
      expect(firstPage).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
      const rest = (await ask(ShopsDocument, { filter: { partyId: 'list-party' }, first: 2, after: firstPage.pageInfo.endCursor })).shops;
      expect(names(rest)).toEqual(['list-party/c']);

      const merchant = tokenFor('dispatcher', [{ kind: 'SHOP', ...refs[1]! }]);
      expect((await ask(ShopDocument, refs[1]!, merchant)).shop?.shopId).toBe('b');
      expect(names((await ask(ShopsDocument, {}, merchant)).shops)).toEqual(['list-party/b']);
      expect(errorCodes(await graphql(server.url, ShopDocument, refs[0]!, merchant))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(server.url, ShopDocument, refs[0]!, null))).toEqual(['UNAUTHENTICATED']);
    });
  });

  describe('operations from invoicing', () => {
    it('records each operation once whatever carries it, and dead-letters unknown shops and other currencies', async () => {
      const ref = shopOf('op-party', 'op-1');
      await toParty(party.created(ref));
      const at = '2026-11-02T10:00:00Z';
      const payment = invoicing.payment(ref, { invoiceId: 'inv-1', amount: '100000', fee: '2500', occurredAt: at });
      const refund = invoicing.refund(ref, { invoiceId: 'inv-1', refundId: 'r1', amount: '30000', fee: '0', occurredAt: at });
      const adjustment = invoicing.adjustment(ref, { invoiceId: 'inv-1', adjustmentId: 'a1', amount: '-500', occurredAt: at });
      const chargeback = invoicing.chargeback(ref, { invoiceId: 'inv-2', chargebackId: 'c1', amount: '1000', fee: '100', occurredAt: at });
      const unknownShop = invoicing.payment(shopOf('op-party', 'nowhere'), { invoiceId: 'inv-3', amount: '100', occurredAt: at });
      const otherCurrency = invoicing.payment(ref, { invoiceId: 'inv-4', amount: '100', currency: 'USD', occurredAt: at });
      await toInvoicing(
        payment,
        refund,
        adjustment,
        chargeback,
        payment, // the same eventId again
        { ...refund, eventId: 'op-refund-again' }, // the same refund under another eventId
        unknownShop,
        otherCurrency,
      );

      const recorded = await operations(ref);
      expect(recorded.totalCount).toBe(4);
      const byKind = Object.fromEntries(recorded.nodes.map((o) => [o.kind, { payable: o.payable.minor, subId: o.subId, payoutId: o.payoutId }]));
      expect(byKind).toEqual({
        PAYMENT: { payable: '97500', subId: null, payoutId: null },
        REFUND: { payable: '-30000', subId: 'r1', payoutId: null },
        ADJUSTMENT: { payable: '-500', subId: 'a1', payoutId: null },
        CHARGEBACK: { payable: '-1100', subId: 'c1', payoutId: null },
      });
      expect((await shop(ref))!.balance).toEqual({ minor: '65900', amount: '659.00', currency: 'RUB' });
      const firstPage = (await ask(ShopOperationsDocument, { ...ref, first: 3 })).shop!.operations;
      expect(firstPage.pageInfo.hasNextPage).toBe(true);
      const lastPage = (await ask(ShopOperationsDocument, { ...ref, first: 3, after: firstPage.pageInfo.endCursor })).shop!.operations;
      expect(lastPage.pageInfo.hasNextPage).toBe(false);
      expect([...idsOf(firstPage), ...idsOf(lastPage)].sort()).toEqual(idsOf(recorded));

      const letters = await deadLetters(server.app.settingsOf(operationsModule).TOPIC_INVOICING);
      expect(letters.map((l) => [JSON.parse(l.value!).eventId, l.errorCode])).toEqual([
        [unknownShop.eventId, 'NOT_FOUND'],
        [otherCurrency.eventId, 'BAD_USER_INPUT'],
      ]);
      expect(letters[0]!.reason).toContain('op-party/nowhere does not exist');
      expect(letters[1]!.reason).toMatch(/USD.*RUB/);
    });
  });

  describe('scheduled runs', () => {
    it('pays every unpaid operation before the cut-off, however old, in one payout', async () => {
      const cutoff = minuteAgo(2 * HOUR);
      await dailySchedule('run-paid', cutoff);
      const ref = shopOf('run-party', 'paid');
      await scheduledShops([ref], 'run-paid', later(cutoff, -3 * HOUR));
      const ancient = invoicing.payment(ref, { invoiceId: 'old', amount: 5000, occurredAt: '2020-01-01T00:00:00Z' });
      await toInvoicing(
        ancient,
        invoicing.payment(ref, { invoiceId: 'i1', amount: 10000, fee: 300, occurredAt: later(cutoff, -HOUR) }),
        invoicing.refund(ref, { invoiceId: 'i1', amount: 2000, occurredAt: later(cutoff, -MINUTE) }),
        invoicing.payment(ref, { invoiceId: 'after-cutoff', amount: 7000, occurredAt: cutoff }),
      );

      const [run] = await runNow([ref], 1);
      expect(run).toMatchObject({
        cutoff: iso(cutoff),
        fireAt: iso(cutoff),
        result: 'PAID',
        reason: null,
        amount: { minor: '12700', currency: 'RUB' },
        operationCount: 3,
        payout: { status: 'CREATED' },
      });

      const payouts = await payoutsOf(ref);
      expect(payouts.totalCount).toBe(1);
      const [made] = payouts.nodes;
      expect(made).toMatchObject({
        id: run!.payoutId,
        source: 'SCHEDULE',
        cutoff: iso(cutoff),
        payoutToolId: 'tool-1',
        amount: { minor: '12700', currency: 'RUB' },
        payee: { kind: 'SHOP', ...ref },
      });
      const unpaid = await operations(ref, true);
      expect(unpaid.nodes.map((o) => o.invoiceId)).toEqual(['after-cutoff']);
      const all = await operations(ref);
      expect(idsOf(made!.operations)).toEqual(all.nodes.filter((o) => o.invoiceId !== 'after-cutoff').map((o) => o.id).sort());
      expect(all.nodes.filter((o) => o.payoutId === made!.id)).toHaveLength(3);
      // What is left for the next run: the operation after the cut-off; the payout holds the rest.
      expect((await shop(ref))!.balance.minor).toBe('7000');

      const nextCutoff = later(cutoff, 24 * HOUR);
      expect(await shop(ref)).toMatchObject({ lastCutoff: iso(cutoff), nextCutoff: iso(nextCutoff), nextFireAt: iso(nextCutoff) });
      expect(await booking(ref)).toEqual({ jobs: [iso(nextCutoff)], nextFireAt: iso(nextCutoff) });

      // The job fires again (a retry, a doubled booking): the cut-off is settled, nothing more is paid.
      await fireNow(server.app, [ref]);
      const rebooked = await waitFor(() => booking(ref), (b) => b.jobs[0] === iso(nextCutoff));
      expect(rebooked.jobs).toEqual([iso(nextCutoff)]);
      expect((await runs(ref)).totalCount).toBe(1);
      expect((await payoutsOf(ref)).totalCount).toBe(1);
    });

    it('skips a blocked or suspended shop with the reason, and pays it in a run after it is active again', async () => {
      const first = minuteAgo(3 * HOUR);
      const second = later(first, HOUR);
      await dailySchedule('run-skip', first);
      const blocked = shopOf('run-party', 'blocked');
      const suspended = shopOf('run-party', 'suspended');
      await scheduledShops([blocked, suspended], 'run-skip', later(first, -2 * HOUR));
      await toParty(party.blocked(blocked, 'fraud check'), party.suspended(suspended));
      await toInvoicing(
        invoicing.payment(blocked, { invoiceId: 'i1', amount: 4000, occurredAt: later(first, -HOUR) }),
        invoicing.payment(suspended, { invoiceId: 'i1', amount: 6000, occurredAt: later(first, -HOUR) }),
      );

      const [blockedRun, suspendedRun] = await runNow([blocked, suspended], 1);
      expect(blockedRun).toMatchObject({ cutoff: iso(first), result: 'SKIPPED', payoutId: null, payout: null });
      expect(blockedRun!.reason).toContain('blocked');
      expect(blockedRun!.reason).toContain('fraud check');
      expect(suspendedRun).toMatchObject({ cutoff: iso(first), result: 'SKIPPED', payoutId: null });
      expect(suspendedRun!.reason).toContain('suspended');
      for (const ref of [blocked, suspended]) {
        expect((await payoutsOf(ref)).totalCount).toBe(0);
        expect((await operations(ref, true)).totalCount).toBe(1);
      }

      await toParty(party.unblocked(blocked), party.activated(suspended));
      await dailySchedule('run-skip', second);
      const paid = await runNow([blocked, suspended], 2);
      expect(paid.map((r) => [r.cutoff, r.result, r.amount.minor])).toEqual([
        [iso(second), 'PAID', '4000'],
        [iso(second), 'PAID', '6000'],
      ]);
      for (const ref of [blocked, suspended]) expect((await operations(ref, true)).totalCount).toBe(0);
    });

    it('creates nothing when the sum is not positive; the operations wait for a later run, as does one that arrives late', async () => {
      const first = minuteAgo(3 * HOUR);
      const second = later(first, HOUR);
      await dailySchedule('run-nothing', first);
      const owing = shopOf('run-party', 'owing');
      const idle = shopOf('run-party', 'idle');
      await scheduledShops([owing, idle], 'run-nothing', later(first, -3 * HOUR));
      await toInvoicing(
        invoicing.payment(owing, { invoiceId: 'i1', amount: 1000, occurredAt: later(first, -2 * HOUR) }),
        invoicing.refund(owing, { invoiceId: 'i1', amount: 1500, occurredAt: later(first, -HOUR) }),
      );

      const [owingRun, idleRun] = await runNow([owing, idle], 1);
      expect(owingRun).toMatchObject({ cutoff: iso(first), result: 'NOTHING_TO_PAY', amount: { minor: '-500' }, operationCount: 2, payout: null });
      expect(idleRun).toMatchObject({ cutoff: iso(first), result: 'NOTHING_TO_PAY', amount: { minor: '0' }, operationCount: 0 });
      expect((await payoutsOf(owing)).totalCount).toBe(0);
      expect((await operations(owing, true)).totalCount).toBe(2);
      expect((await shop(owing))!.balance.minor).toBe('-500');

      // A new payment, and one that happened before the first cut-off but arrives only now.
      await toInvoicing(
        invoicing.payment(owing, { invoiceId: 'i2', amount: 2000, occurredAt: later(first, 10 * MINUTE) }),
        invoicing.payment(owing, { invoiceId: 'late', amount: 700, occurredAt: later(first, -5 * HOUR) }),
      );
      await dailySchedule('run-nothing', second);
      const [paid] = await runNow([owing], 2);
      expect(paid).toMatchObject({ cutoff: iso(second), result: 'PAID', amount: { minor: '2200' }, operationCount: 4 });
      expect((await operations(owing, true)).totalCount).toBe(0);
      expect((await payoutsOf(owing)).nodes.map((p) => p.amount.minor)).toEqual(['2200']);

      // The run history pages latest cut-off first.
      const page = (await ask(ShopRunsDocument, { ...owing, first: 1 })).shop!.runs;
      expect(page).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true }, nodes: [{ cutoff: iso(second) }] });
      const rest = (await ask(ShopRunsDocument, { ...owing, first: 1, after: page.pageInfo.endCursor })).shop!.runs;
      expect(rest).toMatchObject({ pageInfo: { hasNextPage: false }, nodes: [{ cutoff: iso(first), result: 'NOTHING_TO_PAY' }] });
    });

    it('catches up after downtime with one run for the latest missed cut-off, and books the next one ahead', async () => {
      // Hourly cut-offs at a minute half an hour away: the shop has missed five of them.
      const minute = new Date(Date.now() + 30 * MINUTE).getUTCMinutes();
      await upsertSchedule({ id: 'catch-up', cron: `${minute} * * * *`, calendarId: 'utc' });
      const latestMissed = minuteAgo(0);
      while (latestMissed.getUTCMinutes() !== minute) latestMissed.setTime(latestMissed.getTime() - MINUTE);
      const ref = shopOf('run-party', 'catch-up');
      await scheduledShops([ref], 'catch-up', later(latestMissed, -4 * HOUR - 30 * MINUTE));
      await toInvoicing(
        invoicing.payment(ref, { invoiceId: 'early', amount: 100, occurredAt: later(latestMissed, -4 * HOUR) }),
        invoicing.payment(ref, { invoiceId: 'middle', amount: 200, occurredAt: later(latestMissed, -2 * HOUR) }),
        invoicing.payment(ref, { invoiceId: 'late', amount: 400, occurredAt: later(latestMissed, -MINUTE) }),
        invoicing.payment(ref, { invoiceId: 'next', amount: 800, occurredAt: later(latestMissed, MINUTE) }),
      );

      const [run] = await runNow([ref], 1);
      expect(run).toMatchObject({ cutoff: iso(latestMissed), result: 'PAID', amount: { minor: '700' }, operationCount: 3 });
      expect((await payoutsOf(ref)).nodes.map((p) => [p.cutoff, p.amount.minor])).toEqual([[iso(latestMissed), '700']]);
      const next = later(latestMissed, HOUR);
      expect(next.getTime()).toBeGreaterThan(Date.now());
      expect(await shop(ref)).toMatchObject({ lastCutoff: iso(latestMissed), nextCutoff: iso(next), nextFireAt: iso(next) });
      expect(await booking(ref)).toEqual({ jobs: [iso(next)], nextFireAt: iso(next) });
      expect((await operations(ref, true)).nodes.map((o) => o.invoiceId)).toEqual(['next']);
    });
  });

  describe('money coming back', () => {
    it('makes the operations of a cancelled, rejected or returned scheduled payout unpaid, and the next run pays them', async () => {
      const first = minuteAgo(3 * HOUR);
      const second = later(first, HOUR);
      await dailySchedule('money-back', first);
      const cancelled = shopOf('back-party', 'cancelled');
      const rejected = shopOf('back-party', 'rejected');
      const returned = shopOf('back-party', 'returned');
      const refs = [cancelled, rejected, returned];
      await scheduledShops(refs, 'money-back', later(first, -2 * HOUR));
      await toInvoicing(
        ...refs.flatMap((ref, i) => [
          invoicing.payment(ref, { invoiceId: 'i1', amount: 1000 * (i + 1), occurredAt: later(first, -HOUR) }),
          invoicing.payment(ref, { invoiceId: 'i2', amount: 100 * (i + 1), occurredAt: later(first, -30 * MINUTE) }),
        ]),
      );
      const firstRuns = await runNow(refs, 1);
      expect(firstRuns.map((r) => r.result)).toEqual(['PAID', 'PAID', 'PAID']);
      const [toCancel, toReject, toReturn] = firstRuns.map((r) => r.payoutId!);
      const paidOps = await Promise.all(refs.map(async (ref) => idsOf(await operations(ref))));

      // A user cancels one while it is CREATED.
      const cancel = await graphql(server.url, CancelPayoutDocument, { id: toCancel! }, admin);
      expect(cancel.data?.cancelPayout.status).toBe('CANCELLED');
      // The send gate hands the others to the ERP, which rejects one and returns the other.
      await server.app.orm.em
        .fork()
        .execute(`SELECT graphile_worker.add_job('payout__send', '{}', run_at => now(), job_key => 'payout__send', job_key_mode => 'replace')`);
      await untilPayoutStatus(toReject!, 'SENT');
      await untilPayoutStatus(toReturn!, 'SENT');
      const status = (eventId: string, payoutId: string, value: string, reason?: string) => ({
        key: payoutId,
        value: { eventId, occurredAt: new Date().toISOString(), payoutId, status: value, ...(reason ? { reason } : {}) },
      });
      await produce(server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_ARD, [status('back-ard-1', toReject!, 'REJECTED', 'bad requisites')]);
      await produce(server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_OEBS, [
        status('back-oebs-1', toReturn!, 'PAID'),
        status('back-oebs-2', toReturn!, 'RETURNED', 'account closed'),
      ]);
      await untilPayoutStatus(toReject!, 'REJECTED');
      await untilPayoutStatus(toReturn!, 'RETURNED');

      for (const [i, ref] of refs.entries()) {
        expect(idsOf(await operations(ref, true))).toEqual(paidOps[i]);
        expect((await shop(ref))!.balance.minor).toBe(String(1100 * (i + 1)));
      }

      await dailySchedule('money-back', second);
      const secondRuns = await runNow(refs, 2);
      for (const [i, ref] of refs.entries()) {
        expect(secondRuns[i]).toMatchObject({ cutoff: iso(second), result: 'PAID', amount: { minor: String(1100 * (i + 1)) }, operationCount: 2 });
        const again = await payout(secondRuns[i]!.payoutId!);
        expect(again.status).toBe('CREATED');
        expect((await payoutsOf(ref)).totalCount).toBe(2);
        expect(idsOf((await ask(ShopPayoutsDocument, { filter: ref })).payouts.nodes.find((p) => p.id === again.id)!.operations)).toEqual(paidOps[i]);
        expect((await operations(ref, true)).totalCount).toBe(0);
        // The payout that gave the money back still lists what it held.
        const first = (await ask(ShopPayoutsDocument, { filter: ref })).payouts.nodes.find((p) => p.id === firstRuns[i]!.payoutId)!;
        expect(idsOf(first.operations)).toEqual(paidOps[i]);
      }
      const held = await operations(cancelled);
      expect(held.nodes.every((o) => o.payoutId !== toCancel && o.releasedFrom.includes(toCancel!))).toBe(true);
    });
  });

  describe('registration', () => {
    it('gives a shop one job at its next fire time, moves it with its schedule, and removes it with the schedule', async () => {
      await upsertSchedule({ id: 'reg-a', cron: '0 10 * * *', calendarId: 'utc' });
      await upsertSchedule({ id: 'reg-b', cron: '30 14 * * *', calendarId: 'utc', delayDays: 1 });
      const ref = shopOf('reg-party', 'moving');
      await toParty(party.created(ref, { payoutScheduleId: 'reg-a' }));
      const onA = await booking(ref);
      expect(onA.jobs).toEqual([onA.nextFireAt]);
      expect(onA.nextFireAt).toBe((await schedule('reg-a')).upcoming[0]!.fireAt);

      await toParty(party.scheduleChanged(ref, 'reg-b'));
      const onB = await booking(ref);
      expect(onB.jobs).toEqual([onB.nextFireAt]);
      expect(onB.nextFireAt).toBe((await schedule('reg-b')).upcoming[0]!.fireAt);
      expect(onB.nextFireAt).not.toBe(onA.nextFireAt);

      await toParty(party.scheduleChanged(ref, null));
      expect(await booking(ref)).toEqual({ jobs: [], nextFireAt: null });

      const unscheduled = shopOf('reg-party', 'unscheduled');
      await toParty(party.created(unscheduled));
      expect(await booking(unscheduled)).toEqual({ jobs: [], nextFireAt: null });
    });

    it('books a shop whose schedule party-management named before an admin defined it, once it is defined', async () => {
      const ref = shopOf('reg-party', 'early');
      await toParty(party.created(ref, { payoutScheduleId: 'reg-not-yet' }));
      expect(await booking(ref)).toEqual({ jobs: [], nextFireAt: null });
      expect((await shop(ref))!.payoutSchedule).toBeNull();
      await upsertSchedule({ id: 'reg-not-yet', cron: '15 8 * * *', calendarId: 'utc' });
      const booked = await booking(ref);
      expect(booked.jobs).toEqual([booked.nextFireAt]);
      expect(booked.nextFireAt).toBe((await schedule('reg-not-yet')).upcoming[0]!.fireAt);
    });

    it('moves the job of every shop on a schedule or calendar an admin changes', async () => {
      await upsertCalendar({ id: 'reg-cal', timezone: 'UTC', holidays: [], weekendDays: [6, 7] });
      await upsertSchedule({ id: 'reg-c', cron: '0 9 * * *', calendarId: 'reg-cal', delayDays: 1 });
      const refs = ['x', 'y', 'z'].map((id) => shopOf('reg-many', id));
      await toParty(...refs.map((ref) => party.created(ref, { payoutScheduleId: 'reg-c' })));
      const bookings = () => Promise.all(refs.map(booking));
      const expectBookedAt = async (fireAt: string) => {
        for (const b of await bookings()) expect(b).toEqual({ jobs: [fireAt], nextFireAt: fireAt });
      };
      const at9 = (await schedule('reg-c')).upcoming[0]!.fireAt;
      await expectBookedAt(at9);

      await upsertSchedule({ id: 'reg-c', cron: '0 15 * * *', calendarId: 'reg-cal', delayDays: 1 });
      const at15 = (await schedule('reg-c')).upcoming[0]!;
      expect(at15.fireAt).not.toBe(at9);
      await expectBookedAt(at15.fireAt);

      // The day the next run would fire becomes a holiday: it fires a business day later.
      const holiday = at15.fireAt.slice(0, 10);
      await upsertCalendar({ id: 'reg-cal', timezone: 'UTC', holidays: [holiday], weekendDays: [6, 7] });
      const moved = (await schedule('reg-c')).upcoming[0]!;
      expect(moved.cutoff).toBe(at15.cutoff);
      expect(moved.fireAt > at15.fireAt).toBe(true);
      expect(moved.fireAt.slice(0, 10)).not.toBe(holiday);
      await expectBookedAt(moved.fireAt);
      expect((await ask(CalendarsDocument, {})).calendars.find((c) => c.id === 'reg-cal')).toMatchObject({
        holidays: [holiday],
        schedules: [{ id: 'reg-c' }],
      });
    });
  });

  describe('calendars and schedules over GraphQL', () => {
    it('shows schedules with their next cut-offs and fire times, business-day delays included', async () => {
      await upsertSchedule({ id: 'gql-daily', cron: '0 12 * * *', calendarId: 'utc', delayDays: 0, description: 'noon' });
      await upsertSchedule({ id: 'gql-delayed', cron: '0 12 * * *', calendarId: 'utc', delayDays: 2 });
      const daily = await schedule('gql-daily', 5);
      expect(daily).toMatchObject({ cron: '0 12 * * *', calendarId: 'utc', delayDays: 0, description: 'noon', calendar: { timezone: 'UTC' } });
      expect(daily.upcoming).toHaveLength(5);
      for (const [i, fire] of daily.upcoming.entries()) {
        expect(fire.cutoff).toMatch(/T12:00:00\.000Z$/);
        expect(fire.fireAt).toBe(fire.cutoff);
        expect(new Date(fire.cutoff).getTime()).toBeGreaterThan(Date.now());
        if (i > 0) expect(new Date(fire.cutoff).getTime() - new Date(daily.upcoming[i - 1]!.cutoff).getTime()).toBe(24 * HOUR);
      }
      const delayed = await schedule('gql-delayed', 7);
      for (const fire of delayed.upcoming) {
        expect(fire.fireAt > fire.cutoff).toBe(true);
        expect([0, 6]).not.toContain(new Date(fire.fireAt).getUTCDay()); // never on a weekend
        expect(fire.fireAt.slice(11)).toBe('12:00:00.000Z');
      }
    });

    it('lets only admins change calendars and schedules', async () => {
      const calendar = { id: 'gql-denied', timezone: 'UTC', holidays: [] };
      const schedule = { id: 'gql-denied', cron: '0 0 * * *', calendarId: 'utc' };
      for (const role of ['service', 'dispatcher', 'driver'] as const) {
        expect(errorCodes(await graphql(server.url, UpsertCalendarDocument, { input: calendar }, tokenFor(role)))).toEqual(['FORBIDDEN']);
        expect(errorCodes(await graphql(server.url, UpsertPayoutScheduleDocument, { input: schedule }, tokenFor(role)))).toEqual(['FORBIDDEN']);
      }
      expect(errorCodes(await graphql(server.url, UpsertCalendarDocument, { input: calendar }, null))).toEqual(['UNAUTHENTICATED']);
      const { calendars } = await ask(CalendarsDocument, {});
      expect(calendars.map((c) => c.id)).not.toContain('gql-denied');
    });

    it('refuses a bad cron, time zone, holiday or delay, and a schedule on an unknown calendar', async () => {
      const refused = async (input: { calendar?: CalendarInput; schedule?: PayoutScheduleInput }) =>
        errorCodes(
          input.calendar
            ? await graphql(server.url, UpsertCalendarDocument, { input: input.calendar }, admin)
            : await graphql(server.url, UpsertPayoutScheduleDocument, { input: input.schedule! }, admin),
        );
      const schedule = { id: 'gql-bad', calendarId: 'utc', cron: '0 0 * * *' };
      for (const cron of ['every day', '61 * * * *', '0 0 * *', '0 0 30 2 *']) {
        expect(await refused({ schedule: { ...schedule, cron } }), cron).toEqual(['BAD_USER_INPUT']);
      }
      expect(await refused({ schedule: { ...schedule, delayDays: -1 } })).toEqual(['BAD_USER_INPUT']);
      expect(await refused({ schedule: { ...schedule, calendarId: 'no-such-calendar' } })).toEqual(['NOT_FOUND']);
      const calendar = { id: 'gql-bad', timezone: 'UTC', holidays: [] as string[] };
      expect(await refused({ calendar: { ...calendar, timezone: 'Mars/Olympus_Mons' } })).toEqual(['BAD_USER_INPUT']);
      expect(await refused({ calendar: { ...calendar, holidays: ['2026-02-30'] } })).toEqual(['BAD_USER_INPUT']);
      expect(await refused({ calendar: { ...calendar, weekendDays: [1, 2, 3, 4, 5, 6, 7] } })).toEqual(['BAD_USER_INPUT']);

      expect((await ask(CalendarsDocument, {})).calendars.map((c) => c.id)).not.toContain('gql-bad');
      expect((await ask(PayoutSchedulesDocument, {})).payoutSchedules.map((s) => s.id)).not.toContain('gql-bad');
    });
  });

  it('keeps the books: the ledger invariants hold after all of it', async () => {
    expect(await server.app.checkLedger()).toEqual([]);
    // No operation is in a payout that did not pay it, and every paid one is in exactly one live payout.
    const [row] = await server.app.orm.em.fork().execute<{ n: string }[]>(
      `SELECT count(*) AS n FROM shop_operation o JOIN payout p ON p.id = o.payout_id
        WHERE p.status IN ('CANCELLED', 'REJECTED', 'RETURNED') OR p.party_id <> o.party_id OR p.shop_id <> o.shop_id`,
    );
    expect(Number(row!.n)).toBe(0);
  });
});
