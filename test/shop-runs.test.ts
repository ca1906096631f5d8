import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../src/platform/errors';
import type { InboundMessage } from '../src/platform/kafka/inbound';
import { createTestApp, type TestApp } from './helpers/app';
import { asMessages, dailyAt, HOUR, MINUTE, minuteAgo, scheduledSince, invoicing as operationEvent, party as partyEvent, type ShopRef } from './helpers/shops';
import { shopsModule } from '../src/shops/module';
import { shopRunsModule } from '../src/shop-runs/module';
import { schedulesModule } from '../src/schedules/module';
import { payoutsModule } from '../src/payouts/module';
import { operationsModule } from '../src/operations/module';
import type { PayoutStatus } from '../src/payouts/lifecycle';

/**
 * Shops and their scheduled runs at the service level: party and invoicing events applied
 * through the inbound processor (as from Kafka), runs fired directly with a schedule whose
 * cut-offs are already due.
 */
let t: TestApp;
let offset = 0;

function message(topic: string, value: Record<string, unknown>): InboundMessage {
  return { topic, partition: 0, offset: String(offset++), key: null, value: JSON.stringify(value) };
}

async function party(...events: Record<string, unknown>[]) {
  return t.app.inbound.processBatch(events.map((e) => message(t.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, e)), 'KAFKA');
}

async function invoicing(...events: Record<string, unknown>[]) {
  return t.app.inbound.processBatch(events.map((e) => message(t.app.settingsOf(operationsModule).TOPIC_INVOICING, e)), 'KAFKA');
}

async function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
  return t.app.orm.em.fork().execute<T[]>(text, params);
}

beforeAll(async () => {
  t = await createTestApp();
  const em = t.app.orm.em.fork();
  await em.transactional(async (tx) => {
    await t.app.use(schedulesModule).schedules.upsertCalendar(tx, { id: 'ru', timezone: 'Europe/Moscow', holidays: [], weekendDays: [6, 7] });
    await t.app.use(schedulesModule).schedules.upsertSchedule(tx, { id: 'minutely', cron: '* * * * *', calendarId: 'ru', delayDays: 0 });
  });
});

afterAll(async () => {
  await t?.close();
});

describe('scheduled shop payouts', () => {
  it('pays a shop the sum of its unpaid operations before the cut-off, once', async () => {
    const first = await party({ eventId: 'pm-1', occurredAt: '2026-11-01T00:00:00Z', type: 'ShopCreated', partyId: 'p1', shopId: 's1', currency: 'RUB', payoutToolId: 'tool-1', payoutScheduleId: 'minutely' });
    expect(await sql('SELECT reason FROM dead_letter')).toEqual([]);
    expect(first).toEqual(['applied']);
    const [job] = await sql<{ key: string; run_at: Date }>(`SELECT key, run_at FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout'`);
    expect(job?.key).toBe('shop__payout:p1/s1');

    const outcomes = await invoicing(
      { eventId: 'in-1', occurredAt: '2026-11-02T10:00:00Z', type: 'PaymentCaptured', partyId: 'p1', shopId: 's1', invoiceId: 'inv-1', paymentId: '1', amount: '100000', fee: '2500', currency: 'RUB' },
      { eventId: 'in-2', occurredAt: '2026-11-02T11:00:00Z', type: 'RefundSucceeded', partyId: 'p1', shopId: 's1', invoiceId: 'inv-1', paymentId: '1', refundId: '1', amount: '30000', fee: '0', currency: 'RUB' },
      { eventId: 'in-3', occurredAt: '2026-11-02T12:00:00Z', type: 'AdjustmentCaptured', partyId: 'p1', shopId: 's1', invoiceId: 'inv-1', paymentId: '1', adjustmentId: '1', amount: '-500', currency: 'RUB' },
      { eventId: 'in-3b', occurredAt: '2026-11-02T12:00:00Z', type: 'AdjustmentCaptured', partyId: 'p1', shopId: 's1', invoiceId: 'inv-1', paymentId: '1', adjustmentId: '1', amount: '-500', currency: 'RUB' },
      { eventId: 'in-3', occurredAt: '2026-11-02T12:00:00Z', type: 'AdjustmentCaptured', partyId: 'p1', shopId: 's1', invoiceId: 'inv-1', paymentId: '1', adjustmentId: '1', amount: '-500', currency: 'RUB' },
      { eventId: 'in-4', occurredAt: '2026-11-02T12:00:00Z', type: 'PaymentCaptured', partyId: 'p1', shopId: 'nope', invoiceId: 'inv-9', paymentId: '1', amount: '100', currency: 'RUB' },
    );
    expect(outcomes).toEqual(['applied', 'applied', 'applied', 'applied', 'duplicate', 'dead-lettered']);
    const [op] = await sql<{ n: string; sum: string }>('SELECT count(*) AS n, sum(payable) AS sum FROM shop_operation');
    expect(op).toEqual({ n: '3', sum: '67000' });

    await sql(`UPDATE shop SET schedule_since = now() - interval '1 hour'`);
    const run = await t.app.use(shopRunsModule).runner.run({ partyId: 'p1', shopId: 's1' });
    expect(run?.result).toBe('PAID');
    expect(run?.amount).toBe('67000');
    const [payout] = await sql<{ amount: string; source: string; status: string }>('SELECT amount, source, status FROM payout');
    expect(payout).toEqual({ amount: '67000', source: 'SCHEDULE', status: 'CREATED' });
    const again = await t.app.use(shopRunsModule).runner.run({ partyId: 'p1', shopId: 's1' });
    expect(again).toBeNull();
    const counted = await t.app.metrics.registry.getSingleMetricAsString('payouts_shop_runs_total');
    expect(counted).toContain('payouts_shop_runs_total{result="PAID"} 1');
    expect((await sql('SELECT 1 FROM payout')).length).toBe(1);
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('makes one payout when the same shop run fires several times at once', async () => {
    const shop = { partyId: 'p2', shopId: 'raced' };
    await t.app.inbound.processBatch(asMessages(t.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, [partyEvent.created(shop, { payoutScheduleId: 'minutely' })]), 'KAFKA');
    const hourAgo = new Date(Date.now() - HOUR);
    await t.app.inbound.processBatch(
      asMessages(t.app.settingsOf(operationsModule).TOPIC_INVOICING, [
        operationEvent.payment(shop, { invoiceId: 'inv-1', amount: 5000, fee: 100, occurredAt: hourAgo }),
        operationEvent.payment(shop, { invoiceId: 'inv-2', amount: 3000, occurredAt: hourAgo }),
      ]),
      'KAFKA',
    );
    await sql(`UPDATE shop SET schedule_since = now() - interval '2 hours' WHERE party_id = 'p2'`);

    const runs = await Promise.all(Array.from({ length: 6 }, () => t.app.use(shopRunsModule).runner.run(shop)));
    const paid = runs.filter((run) => run?.result === 'PAID');
    expect(paid).toHaveLength(1);
    // The others find the cut-off settled. On a slow machine the minutely schedule's next cut-off
    // may come due while they wait their turn: that run records NOTHING_TO_PAY, later, and pays nothing.
    const others = runs.filter((run) => run?.result !== 'PAID');
    expect(others).toHaveLength(5);
    for (const run of others) {
      if (run !== null) expect({ result: run.result, later: run.cutoff > paid[0]!.cutoff }).toEqual({ result: 'NOTHING_TO_PAY', later: true });
    }
    expect(paid[0]!.amount).toBe('7900');
    const payouts = await sql<{ id: string; amount: string }>(`SELECT id, amount FROM payout WHERE party_id = 'p2'`);
    expect(payouts).toEqual([{ id: paid[0]!.payout_id, amount: '7900' }]);
    const operations = await sql<{ payout_id: string | null }>(`SELECT payout_id FROM shop_operation WHERE party_id = 'p2'`);
    expect(operations.map((o) => o.payout_id)).toEqual([payouts[0]!.id, payouts[0]!.id]);
    expect(await t.app.checkLedger()).toEqual([]);
  });

  it('refuses to mark operations that changed after they were summed: a late operation fails the run, not the sum', async () => {
    const shop = { partyId: 'p3', shopId: 'late' };
    await t.app.inbound.processBatch(asMessages(t.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, [partyEvent.created(shop)]), 'KAFKA');
    const hourAgo = new Date(Date.now() - HOUR);
    const record = (invoiceId: string, amount: number) =>
      t.app.inbound.processBatch(asMessages(t.app.settingsOf(operationsModule).TOPIC_INVOICING, [operationEvent.payment(shop, { invoiceId, amount, occurredAt: hourAgo })]), 'KAFKA');
    await record('inv-1', 1000);
    const cutoff = new Date();
    const em = t.app.orm.em.fork();
    await em.begin();
    try {
      const unpaid = await t.app.use(operationsModule).operations.unpaidBefore(em, shop, cutoff);
      expect(unpaid).toEqual({ count: 1, total: 1000n });
      await record('inv-2', 500); // arrives, committed, while the run is between its sum and its marking
      const { payout } = await t.app.use(payoutsModule).lifecycle.create(em, {
        payee: { kind: 'SHOP', ...shop },
        amount: unpaid.total,
        currency: 'RUB',
        source: 'SCHEDULE',
        idempotencyKey: `late-test:${randomUUID()}`,
      });
      await expect(t.app.use(operationsModule).operations.markPaid(em, shop, cutoff, payout.id, unpaid)).rejects.toBeInstanceOf(ConflictError);
    } finally {
      await em.rollback();
    }
    const [left] = await sql<{ n: string }>(`SELECT count(*) AS n FROM shop_operation WHERE party_id = 'p3' AND payout_id IS NULL`);
    expect(left!.n).toBe('2');
  });
});

describe('money coming back from a scheduled payout, without Kafka', () => {
  const later = (time: Date, ms: number) => new Date(time.getTime() + ms);
  const runner = () => t.app.use(shopRunsModule).runner;
  const lifecycle = () => t.app.use(payoutsModule).lifecycle;
  const step = (payoutId: string, status: PayoutStatus) =>
    t.app.orm.em.fork().transactional((tx) => lifecycle().transition(tx, payoutId, status, { actor: 'test', reason: 'test' }));

  async function dailySchedule(cutoff: Date) {
    await t.app.orm.em.fork().transactional(async (tx) => {
      await t.app.use(schedulesModule).schedules.upsertCalendar(tx, { id: 'every-day', timezone: 'UTC', holidays: [], weekendDays: [] });
      await t.app.use(schedulesModule).schedules.upsertSchedule(tx, { id: 'back', cron: dailyAt(cutoff), calendarId: 'every-day', delayDays: 0 });
    });
  }

  const operationsOf = (shop: ShopRef) =>
    sql<{ business_id: string; payout_id: string | null; released_from: string[] }>(
      'SELECT business_id, payout_id, released_from FROM shop_operation WHERE party_id = ? AND shop_id = ? ORDER BY business_id',
      [shop.partyId, shop.shopId],
    );

  it('makes the operations of a cancelled, rejected or returned scheduled payout unpaid, and the next run pays them', async () => {
    const first = minuteAgo(3 * HOUR);
    const second = later(first, HOUR);
    await dailySchedule(first);
    const cancelled = { partyId: 'back', shopId: 'cancelled' };
    const rejected = { partyId: 'back', shopId: 'rejected' };
    const returned = { partyId: 'back', shopId: 'returned' };
    const returnedEarly = { partyId: 'back', shopId: 'returned-before-paid' };
    const shops = [cancelled, rejected, returned, returnedEarly];
    await t.app.inbound.processBatch(
      asMessages(t.app.settingsOf(shopsModule).TOPIC_PARTY_MANAGEMENT, shops.map((shop) => partyEvent.created(shop, { payoutScheduleId: 'back' }))),
      'KAFKA',
    );
    for (const shop of shops) await scheduledSince(t.app, shop, later(first, -2 * HOUR));
    await t.app.inbound.processBatch(
      asMessages(
        t.app.settingsOf(operationsModule).TOPIC_INVOICING,
        shops.flatMap((shop, i) => [
          operationEvent.payment(shop, { invoiceId: 'i1', amount: 1000 * (i + 1), occurredAt: later(first, -HOUR) }),
          operationEvent.payment(shop, { invoiceId: 'i2', amount: 100 * (i + 1), occurredAt: later(first, -30 * MINUTE) }),
        ]),
      ),
      'KAFKA',
    );

    const firstRuns = await Promise.all(shops.map((shop) => runner().run(shop)));
    expect(firstRuns.map((run) => [run?.result, run?.amount])).toEqual(shops.map((_, i) => ['PAID', String(1100 * (i + 1))]));
    const [toCancel, toReject, toReturn, toReturnEarly] = firstRuns.map((run) => run!.payout_id!);
    for (const [i, shop] of shops.entries()) {
      expect((await operationsOf(shop)).map((o) => o.payout_id)).toEqual([firstRuns[i]!.payout_id, firstRuns[i]!.payout_id]);
    }

    await t.app.orm.em.fork().transactional((tx) => lifecycle().cancel(tx, toCancel!, { actor: 'test' }));
    for (const id of [toReject, toReturn, toReturnEarly]) await step(id!, 'SENT');
    await step(toReject!, 'REJECTED');
    await step(toReturn!, 'PAID');
    await step(toReturn!, 'RETURNED');
    await step(toReturnEarly!, 'RETURNED'); // the money feed's RETURNED before its PAID

    // Each payout's operations are unpaid again and remember the payout that gave them back.
    for (const [i, shop] of shops.entries()) {
      const ops = await operationsOf(shop);
      expect(ops.map((o) => [o.payout_id, o.released_from])).toEqual([
        [null, [firstRuns[i]!.payout_id]],
        [null, [firstRuns[i]!.payout_id]],
      ]);
    }
    expect(await t.app.checkLedger()).toEqual([]);

    // The next cut-off pays them again, in one new payout per shop.
    await dailySchedule(second);
    const secondRuns = await Promise.all(shops.map((shop) => runner().run(shop)));
    for (const [i, shop] of shops.entries()) {
      const run = secondRuns[i]!;
      expect(run).toMatchObject({ result: 'PAID', amount: String(1100 * (i + 1)), operation_count: 2 });
      expect(run.cutoff.toISOString()).toBe(second.toISOString());
      expect(run.payout_id).not.toBe(firstRuns[i]!.payout_id);
      expect((await operationsOf(shop)).map((o) => o.payout_id)).toEqual([run.payout_id, run.payout_id]);
    }
    expect(await t.app.checkLedger()).toEqual([]);
  });
});
