import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../src/platform/errors';
import type { InboundMessage } from '../src/platform/kafka/inbound';
import { createTestApp, type TestApp } from './helpers/app';
import { asMessages, HOUR, invoicing as operationEvent, party as partyEvent } from './helpers/shops';
import { shopsModule } from '../src/shops/module';
import { shopRunsModule } from '../src/shop-runs/module';
import { schedulesModule } from '../src/schedules/module';
import { payoutsModule } from '../src/payouts/module';
import { operationsModule } from '../src/operations/module';

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
    expect(runs.filter((run) => run === null)).toHaveLength(5);
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
