import type { App } from '../../src/app/app';
import type { InboundMessage } from '../../src/platform/kafka/inbound';
import { textArray } from '../../src/platform/sql-arrays';
import { produce, waitFor } from './kafka';

/**
 * Building `party-management` and `invoicing` events (contracts.md) and driving shops' scheduled
 * runs without waiting for the clock: a shop's schedule is moved into the past and its job is
 * booked to run now.
 */
export interface ShopRef {
  partyId: string;
  shopId: string;
}

export type Event = Record<string, unknown> & { eventId: string; partyId: string };

let sequence = 0;
/** A fresh eventId: unique within the test process. */
export const nextEventId = (prefix: string) => `${prefix}-${process.pid}-${++sequence}`;

const iso = (time: Date | string) => (typeof time === 'string' ? time : time.toISOString());

function partyEvent(type: string, shop: ShopRef, fields: Record<string, unknown> = {}): Event {
  return { eventId: nextEventId('pm'), occurredAt: new Date().toISOString(), type, ...shop, ...fields };
}

/** `party-management` events; `created` defaults to RUB, tool `tool-1` and no schedule. */
export const party = {
  created: (shop: ShopRef, fields: { currency?: string; payoutToolId?: string | null; payoutScheduleId?: string | null } = {}) =>
    partyEvent('ShopCreated', shop, { currency: 'RUB', payoutToolId: 'tool-1', payoutScheduleId: null, ...fields }),
  scheduleChanged: (shop: ShopRef, payoutScheduleId: string | null) => partyEvent('ShopPayoutScheduleChanged', shop, { payoutScheduleId }),
  toolChanged: (shop: ShopRef, payoutToolId: string) => partyEvent('ShopPayoutToolChanged', shop, { payoutToolId }),
  blocked: (shop: ShopRef, reason: string) => partyEvent('ShopBlocked', shop, { reason }),
  unblocked: (shop: ShopRef) => partyEvent('ShopUnblocked', shop),
  suspended: (shop: ShopRef) => partyEvent('ShopSuspended', shop),
  activated: (shop: ShopRef) => partyEvent('ShopActivated', shop),
};

export interface OperationFields {
  invoiceId: string;
  paymentId?: string;
  /** Minor units; an adjustment's is signed. */
  amount: string | number;
  fee?: string | number;
  currency?: string;
  occurredAt: Date | string;
}

function operation(type: string, shop: ShopRef, fields: OperationFields, extra: Record<string, unknown> = {}): Event {
  const { invoiceId, paymentId = '1', amount, fee, currency = 'RUB', occurredAt } = fields;
  return {
    eventId: nextEventId('in'),
    occurredAt: iso(occurredAt),
    type,
    ...shop,
    invoiceId,
    paymentId,
    ...extra,
    amount: String(amount),
    ...(fee === undefined ? {} : { fee: String(fee) }),
    currency,
  };
}

/** `invoicing` events; what each adds to the shop's payout is in contracts.md. */
export const invoicing = {
  payment: (shop: ShopRef, fields: OperationFields) => operation('PaymentCaptured', shop, fields),
  refund: (shop: ShopRef, fields: OperationFields & { refundId?: string }) =>
    operation('RefundSucceeded', shop, fields, { refundId: fields.refundId ?? '1' }),
  adjustment: (shop: ShopRef, fields: OperationFields & { adjustmentId?: string }) =>
    operation('AdjustmentCaptured', shop, fields, { adjustmentId: fields.adjustmentId ?? '1' }),
  chargeback: (shop: ShopRef, fields: OperationFields & { chargebackId?: string }) =>
    operation('ChargebackSucceeded', shop, fields, { chargebackId: fields.chargebackId ?? '1' }),
};

let offset = 0;
/** Events as the consumer hands them to the inbound processor: for service-level tests. */
export function asMessages(topic: string, events: readonly Event[]): InboundMessage[] {
  return events.map((e) => ({ topic, partition: 0, offset: String(offset++), key: e.partyId, value: JSON.stringify(e) }));
}

async function sql<T>(app: App, text: string, params: unknown[] = []): Promise<T[]> {
  return app.orm.em.fork().execute<T[]>(text, params);
}

/**
 * Waits until the app has taken in every given event: applied or found a duplicate (its eventId
 * is in the inbox), or set aside as a dead letter. Returns how many it has taken in.
 */
export function untilTakenIn(app: App, topic: string, events: readonly Event[]): Promise<number> {
  const ids = [...new Set(events.map((e) => e.eventId))];
  return waitFor(
    async () => {
      const [row] = await sql<{ n: string }>(
        app,
        `SELECT count(*) AS n FROM unnest(?::text[]) AS wanted(id)
          WHERE EXISTS (SELECT 1 FROM inbox_event i WHERE i.topic = ? AND i.event_id = wanted.id)
             OR EXISTS (SELECT 1 FROM dead_letter d WHERE d.topic = ? AND position('"eventId":' || to_json(wanted.id) IN d.value) > 0)`,
        [textArray(ids), topic, topic],
      );
      return Number(row!.n);
    },
    (n) => n === ids.length,
  );
}

/** Produces events to the topic, keyed by party as party-management does, and waits until all are taken in. */
export async function send(app: App, topic: string, events: readonly Event[]): Promise<void> {
  await produce(
    topic,
    events.map((e) => ({ key: e.partyId, value: e })),
  );
  const taken = await untilTakenIn(app, topic, events);
  if (taken !== new Set(events.map((e) => e.eventId)).size) throw new Error(`only ${taken} of the events to ${topic} were taken in`);
}

/** The shop has had its schedule since `since`, as if party-management had set it then: cut-offs after it count. */
export async function scheduledSince(app: App, shop: ShopRef, since: Date): Promise<void> {
  await sql(app, 'UPDATE shop SET schedule_since = ? WHERE party_id = ? AND shop_id = ?', [since, shop.partyId, shop.shopId]);
}

/** Books the shop's one job (by its key) to run now: the worker picks it up as if its fire time had come. */
export async function fireNow(app: App, shops: readonly ShopRef[]): Promise<void> {
  await sql(
    app,
    `SELECT graphile_worker.add_job('shop__payout', json_build_object('partyId', p, 'shopId', s), run_at => now(),
              job_key => 'shop__payout:' || p || '/' || s, job_key_mode => 'replace')
       FROM unnest(?::text[], ?::text[]) AS shop(p, s)`,
    [textArray(shops.map((s) => s.partyId)), textArray(shops.map((s) => s.shopId))],
  );
}

export interface PendingJob {
  key: string;
  run_at: string;
  locked_at: string | null;
  attempts: number;
}

/** The shop's jobs in graphile-worker (the `jobs` view), by its job key. */
export async function shopJobs(app: App, shop: ShopRef): Promise<PendingJob[]> {
  const rows = await sql<PendingJob>(
    app,
    `SELECT key, run_at, locked_at, attempts FROM graphile_worker.jobs WHERE task_identifier = 'shop__payout' AND key = ?`,
    [`shop__payout:${shop.partyId}/${shop.shopId}`],
  );
  return rows.map((r) => ({ ...r, run_at: new Date(r.run_at).toISOString() }));
}

/** The minute `ms` milliseconds before now: a past cron time. */
export function minuteAgo(ms: number): Date {
  return new Date(Math.floor((Date.now() - ms) / 60_000) * 60_000);
}

/** A cron (in a UTC calendar) that fires once a day, at the time of day of `time`. */
export function dailyAt(time: Date): string {
  return `${time.getUTCMinutes()} ${time.getUTCHours()} * * *`;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
