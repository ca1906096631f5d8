import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app/app';
import type { InboundMessage } from '../src/platform/kafka/inbound';
import { parksModule } from '../src/parks/module';
import { signalqModule } from '../src/signalq/module';
import type { SignalqConfigChange } from '../src/signalq/config';
import { ParkSignalqDocument, RunSignalqBillingDocument, SignalqConfigDocument, SignalqPaymentsDocument, UpsertSignalqConfigDocument } from './generated/graphql';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';
import { disconnectProducer, produce, untilSeen, waitFor } from './helpers/kafka';
import { statementsDuring } from './helpers/statements';

const admin = tokenFor('admin');
const RATE = 10_000n;

/** Moscow is UTC+3 all year: local midnight is 21:00Z the day before. */
const MSK = 'Europe/Moscow';

let eventCounter = 0;
const statusEvent = (parkId: string, deviceId: string, occurredAt: string, status: 'ONLINE' | 'OFFLINE', eventId = `sq-${++eventCounter}`) => ({
  eventId,
  occurredAt,
  parkId,
  deviceId,
  status,
});

/** Feeds messages through the topic's handler, as the consumer does (one batch, one transaction). */
async function deliver(app: App, events: readonly object[]) {
  const topic = app.settingsOf(signalqModule).TOPIC_SIGNALQ_DEVICE_STATUS;
  const messages: InboundMessage[] = events.map((event, i) => ({ topic, partition: 0, offset: String(i), key: null, value: JSON.stringify(event) }));
  return app.inbound.processBatch(messages, 'KAFKA');
}

const config = (parkId: string, fields: Partial<SignalqConfigChange> = {}): SignalqConfigChange => ({
  parkId,
  currency: 'RUB',
  dailyRate: RATE,
  minActiveMinutes: 60,
  periodDays: 7,
  periodStart: '2026-11-01',
  timezone: MSK,
  enabled: true,
  reason: null,
  ...fields,
});

async function configure(app: App, change: SignalqConfigChange, at: string) {
  return app.orm.em.fork().transactional((em) => app.use(signalqModule).configs.upsert(em, change, 'test', new Date(at)));
}

interface Line {
  device_id: string;
  period_start: string;
  active_days: number;
  amount: string;
  payment_progress: string;
  payout_id: string | null;
  error: string | null;
}

async function lines(app: App, parkId: string): Promise<Line[]> {
  return app.orm.em.fork().execute<Line[]>(
    `SELECT device_id, period_start::text, active_days, amount::text, payment_progress, payout_id::text, error
       FROM signalq_payment WHERE park_id = ? ORDER BY period_start, device_id`,
    [parkId],
  );
}

const byDevice = (rows: Line[], periodStart: string) =>
  Object.fromEntries(rows.filter((row) => row.period_start === periodStart).map((row) => [row.device_id, row.active_days]));

async function payoutsOf(app: App, parkId: string) {
  return app.orm.em
    .fork()
    .execute<{ amount: string; source: string; idempotency_key: string; status: string }[]>(
      `SELECT amount::text, source, idempotency_key, status FROM payout WHERE payee_kind = 'PARK' AND payee_id = ? ORDER BY idempotency_key`,
      [parkId],
    );
}

async function rentPaid(app: App, parkId: string): Promise<bigint> {
  const [row] = await app.orm.em.fork().execute<{ total: string | null }[]>(
    `SELECT sum(t.amount)::text AS total FROM ledger_transfer t JOIN ledger_account a ON a.id = t.debit_account_id
      WHERE a.owner_kind = 'SYSTEM' AND a.type = 'signalq-rent' AND t.reference LIKE ?`,
    [`signalq:${parkId}:%`],
  );
  return BigInt(row!.total ?? '0');
}

describe('camera billing', () => {
  let server: TestServer;
  let app: App;
  beforeAll(async () => {
    server = await startTestServer();
    app = server.app;
  });
  afterAll(async () => server?.close());

  const run = (asOf: string, options: { parkId?: string; manual?: boolean } = {}) =>
    app.use(signalqModule).billing.run({ ...options, asOf: new Date(asOf) });

  it('counts active local days per camera, pays each line once, and applies a config change from the next period on', async () => {
    const park = 'sq-a';
    const e = (device: string, at: string, status: 'ONLINE' | 'OFFLINE', id?: string) => statusEvent(park, device, at, status, id);
    await configure(app, config(park), '2026-11-03T12:00:00Z');
    const outcomes = await deliver(app, [
      // 23:00–01:30 Moscow across the night of 2–3 Nov: 60 min on the 2nd, 90 on the 3rd: both days count
      // (in UTC it would all be one day, 2 Nov, 150 minutes: one day).
      e('cam-midnight', '2026-11-02T20:00:00Z', 'ONLINE'),
      e('cam-midnight', '2026-11-02T22:30:00Z', 'OFFLINE'),
      // Flapping on 4 Nov: 20 + 20 + 25 = 65 minutes, a day; on 5 Nov 20 + 29 = 49 minutes, not one.
      e('cam-flap', '2026-11-04T06:00:00Z', 'ONLINE'),
      e('cam-flap', '2026-11-04T06:20:00Z', 'OFFLINE'),
      e('cam-flap', '2026-11-04T06:30:00Z', 'ONLINE'),
      e('cam-flap', '2026-11-04T06:50:00Z', 'OFFLINE'),
      e('cam-flap', '2026-11-04T07:00:00Z', 'ONLINE'),
      e('cam-flap', '2026-11-04T07:25:00Z', 'OFFLINE'),
      e('cam-flap', '2026-11-05T06:00:00Z', 'ONLINE'),
      e('cam-flap', '2026-11-05T06:20:00Z', 'OFFLINE'),
      e('cam-flap', '2026-11-05T06:30:00Z', 'ONLINE'),
      e('cam-flap', '2026-11-05T06:59:00Z', 'OFFLINE'),
      // Out of order: the OFFLINE first, then its ONLINE, then the ONLINE again under the same eventId
      // claiming another time (a duplicate: no effect, or 05:00–05:30 would be cut out) — 120 minutes on 6 Nov.
      e('cam-order', '2026-11-06T07:00:00Z', 'OFFLINE'),
      e('cam-order', '2026-11-06T05:00:00Z', 'ONLINE', 'order-on'),
      e('cam-order', '2026-11-06T05:30:00Z', 'OFFLINE', 'order-on'),
      // Online since October (another month's partition) and never offline: every day of every period.
      e('cam-always', '2026-10-20T00:00:00Z', 'ONLINE'),
      // 23:00 on the period's last day to 02:00 on the next period's first: one day in each.
      e('cam-boundary', '2026-11-07T20:00:00Z', 'ONLINE'),
      e('cam-boundary', '2026-11-07T23:00:00Z', 'OFFLINE'),
      // 30 minutes: a line of zero days, amount 0.
      e('cam-zero', '2026-11-03T10:00:00Z', 'ONLINE'),
      e('cam-zero', '2026-11-03T10:30:00Z', 'OFFLINE'),
    ]);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(1);
    // Of the two copies of `order-on` (the 14th and 15th events) the first is kept, the second is the duplicate.
    expect(outcomes.indexOf('duplicate')).toBe(14);

    // Mid second period (8–15 Nov) the rate doubles: it applies from 15 Nov.
    const changed = await configure(app, config(park, { dailyRate: 2n * RATE }), '2026-11-10T09:00:00Z');
    expect(changed.effective_from).toBe('2026-11-15');

    // On 23 Nov the periods of 1, 8 and 15 Nov have ended (the one of 22 Nov has not).
    const first = await run('2026-11-23T00:00:00Z');
    expect(first).toMatchObject({ periodsRecorded: 3, linesRecorded: 18 });
    const recorded = await lines(app, park);
    expect(byDevice(recorded, '2026-11-01')).toEqual({
      'cam-always': 7,
      'cam-boundary': 1,
      'cam-flap': 1,
      'cam-midnight': 2,
      'cam-order': 1,
      'cam-zero': 0,
    });
    expect(byDevice(recorded, '2026-11-08')).toEqual({
      'cam-always': 7,
      'cam-boundary': 1,
      'cam-flap': 0,
      'cam-midnight': 0,
      'cam-order': 0,
      'cam-zero': 0,
    });
    expect(byDevice(recorded, '2026-11-15')['cam-always']).toBe(7);
    // Period 1: (7+1+1+2+1) × 100.00; period 2: (7+1) × 100.00; period 3 at the new rate: 7 × 200.00.
    const amounts = Object.fromEntries(recorded.filter((l) => l.amount !== '0').map((l) => [`${l.period_start} ${l.device_id}`, l.amount]));
    expect(amounts).toEqual({
      '2026-11-01 cam-always': '70000',
      '2026-11-01 cam-boundary': '10000',
      '2026-11-01 cam-flap': '10000',
      '2026-11-01 cam-midnight': '20000',
      '2026-11-01 cam-order': '10000',
      '2026-11-08 cam-always': '70000',
      '2026-11-08 cam-boundary': '10000',
      '2026-11-15 cam-always': '140000',
    });
    expect(first!.payoutsCreated).toBe(8);
    expect(first!.totals.get('RUB')).toBe(340_000n);
    for (const line of recorded) {
      expect(line.payment_progress).toBe('CREATED');
      expect(line.payout_id === null).toBe(line.amount === '0');
    }
    const paid = await payoutsOf(app, park);
    expect(paid.map((p) => [p.idempotency_key, p.amount, p.source])).toContainEqual(['signalq:sq-a:cam-always:2026-11-15', '140000', 'SIGNALQ']);
    expect(paid).toHaveLength(8);
    expect(await rentPaid(app, park)).toBe(340_000n);

    // Run again, and later: nothing twice; the next period when it has ended.
    expect(await run('2026-11-23T00:00:00Z')).toMatchObject({ periodsRecorded: 0, linesRecorded: 0, payoutsCreated: 0 });
    const later = await run('2026-11-30T00:00:00Z');
    expect(later).toMatchObject({ periodsRecorded: 1, payoutsCreated: 1 });
    expect(later!.totals.get('RUB')).toBe(140_000n);
    expect(await payoutsOf(app, park)).toHaveLength(9);
    expect(await app.checkLedger()).toEqual([]);
  });

  it('makes a new month’s partition once when batches of that month arrive at the same time', async () => {
    const batches = Array.from({ length: 4 }, (_, i) =>
      Array.from({ length: 50 }, (_, j) => statusEvent(`sq-month-${i}`, `cam-${j}`, `2025-0${(j % 3) + 1}-1${i}T10:00:00Z`, 'ONLINE')),
    );
    const outcomes = await Promise.all(batches.map((batch) => deliver(app, batch)));
    expect(outcomes.flat().every((o) => o === 'applied')).toBe(true);
    const [row] = await app.orm.em.fork().execute<{ rows: string; partitions: string }[]>(
      `SELECT (SELECT count(*) FROM signalq_device_status WHERE park_id LIKE 'sq-month-%') AS rows,
              (SELECT count(*) FROM pg_inherits WHERE inhparent = 'signalq_device_status'::regclass
                  AND inhrelid::regclass::text LIKE 'signalq_device_status_2025_%') AS partitions`,
    );
    expect(row).toEqual({ rows: '200', partitions: '3' });
  });

  it('drops only the copies of a batch that repeats some events of an earlier one, and keeps each camera’s first sighting', async () => {
    const park = 'sq-redelivered';
    const first = [
      statusEvent(park, 'cam-a', '2026-09-10T10:00:00Z', 'ONLINE', 'redelivered-1'),
      statusEvent(park, 'cam-a', '2026-09-10T12:00:00Z', 'OFFLINE', 'redelivered-2'),
    ];
    expect(await deliver(app, first)).toEqual(['applied', 'applied']);
    // The same month again: a redelivered copy among new events, one of them earlier than cam-a was first seen.
    const second = [
      statusEvent(park, 'cam-a', '2026-09-05T08:00:00Z', 'ONLINE', 'redelivered-3'),
      first[1]!,
      statusEvent(park, 'cam-b', '2026-09-11T09:00:00Z', 'ONLINE', 'redelivered-4'),
    ];
    expect(await deliver(app, second)).toEqual(['applied', 'duplicate', 'applied']);
    // A batch of fresh events only, the cameras already known as early or earlier.
    const third = [statusEvent(park, 'cam-a', '2026-09-20T08:00:00Z', 'OFFLINE', 'redelivered-5'), statusEvent(park, 'cam-b', '2026-09-21T08:00:00Z', 'OFFLINE', 'redelivered-6')];
    expect(await deliver(app, third)).toEqual(['applied', 'applied']);

    const em = app.orm.em.fork();
    const rows = await em.execute<{ event_id: string }[]>(`SELECT event_id FROM signalq_device_status WHERE park_id = ? ORDER BY occurred_at`, [park]);
    expect(rows.map((row) => row.event_id)).toEqual(['redelivered-3', 'redelivered-1', 'redelivered-2', 'redelivered-4', 'redelivered-5', 'redelivered-6']);
    const devices = await em.execute<{ device_id: string; first_seen_at: Date }[]>(
      `SELECT device_id, first_seen_at FROM signalq_device WHERE park_id = ? ORDER BY device_id`,
      [park],
    );
    expect(devices.map((d) => [d.device_id, new Date(d.first_seen_at).toISOString()])).toEqual([
      ['cam-a', '2026-09-05T08:00:00.000Z'],
      ['cam-b', '2026-09-11T09:00:00.000Z'],
    ]);
  });

  it('applies a clean batch as its one statement, and a batch with a malformed message in one transaction with its dead letter', async () => {
    const park = 'sq-paths';
    const topic = app.settingsOf(signalqModule).TOPIC_SIGNALQ_DEVICE_STATUS;
    const firstWords = (statements: string[]) => statements.map((sql) => sql.trim().split(/\s+/)[0]!.toUpperCase());
    const clean = [statusEvent(park, 'cam-a', '2026-09-10T10:00:00Z', 'ONLINE', 'paths-1'), statusEvent(park, 'cam-a', '2026-09-10T11:00:00Z', 'OFFLINE', 'paths-2')];
    const alone = await statementsDuring(app.orm, () => deliver(app, clean));
    expect(alone.result).toEqual(['applied', 'applied']);
    // No BEGIN, SAVEPOINT or COMMIT: the insert is atomic by itself.
    expect(firstWords(alone.statements)).toEqual(['WITH']);

    const messages: InboundMessage[] = [
      { topic, partition: 7, offset: '41', key: null, value: JSON.stringify(statusEvent(park, 'cam-a', '2026-09-10T12:00:00Z', 'ONLINE', 'paths-3')) },
      { topic, partition: 7, offset: '42', key: null, value: '{"eventId":"paths-4","status":"ONLINE"' },
      { topic, partition: 7, offset: '43', key: null, value: JSON.stringify(clean[1]) },
    ];
    const mixed = await statementsDuring(app.orm, () => app.inbound.processBatch(messages, 'KAFKA'));
    expect(mixed.result).toEqual(['applied', 'dead-lettered', 'duplicate']);
    expect(firstWords(mixed.statements)[0]).toMatch(/^BEGIN/);
    expect(firstWords(mixed.statements).at(-1)).toMatch(/^COMMIT/);
    const em = app.orm.em.fork();
    const rows = await em.execute<{ event_id: string }[]>(`SELECT event_id FROM signalq_device_status WHERE park_id = ? ORDER BY occurred_at`, [park]);
    expect(rows.map((row) => row.event_id)).toEqual(['paths-1', 'paths-2', 'paths-3']);
    const letters = await em.execute<{ offset: string; error_code: string }[]>(`SELECT "offset", error_code FROM dead_letter WHERE topic = ? AND "partition" = 7`, [topic]);
    expect(letters).toEqual([{ offset: '42', error_code: 'BAD_USER_INPUT' }]);
  });

  it('records a disabled park’s lines and pays them once it is enabled again', async () => {
    const park = 'sq-off';
    await configure(app, config(park, { enabled: false }), '2026-11-02T00:00:00Z');
    await deliver(app, [statusEvent(park, 'cam-1', '2026-10-30T00:00:00Z', 'ONLINE')]);
    expect(await run('2026-11-09T00:00:00Z', { parkId: park })).toMatchObject({ periodsRecorded: 1, linesRecorded: 1, payoutsCreated: 0 });
    expect(await lines(app, park)).toMatchObject([{ device_id: 'cam-1', active_days: 7, amount: '70000', payment_progress: 'NOT_CREATED' }]);
    expect(await payoutsOf(app, park)).toEqual([]);

    await configure(app, config(park, { enabled: true }), '2026-11-09T00:00:00Z');
    expect(await run('2026-11-09T00:00:00Z', { parkId: park })).toMatchObject({ periodsRecorded: 0, payoutsCreated: 1 });
    expect(await lines(app, park)).toMatchObject([{ payment_progress: 'CREATED' }]);
    expect(await app.checkLedger()).toEqual([]);
  });

  it('keeps a park whose payout step fails for the next run, pays the others, and pays it once when it works again', async () => {
    const parks = ['sq-f1', 'sq-f2', 'sq-f3'];
    for (const park of parks) {
      await configure(app, config(park), '2026-11-02T00:00:00Z');
      await deliver(app, [statusEvent(park, 'cam-1', '2026-10-30T00:00:00Z', 'ONLINE'), statusEvent(park, 'cam-2', '2026-11-03T00:00:00Z', 'ONLINE')]);
    }
    // The payouts module refuses sq-f2's payouts (as a failing dependency would), nobody else's.
    await app.orm.em.fork().execute(`
      CREATE FUNCTION test_refuse_sq_f2() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.payee_id = 'sq-f2' THEN RAISE EXCEPTION 'billing is down for sq-f2'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_refuse_sq_f2 BEFORE INSERT ON payout FOR EACH ROW EXECUTE FUNCTION test_refuse_sq_f2();`);
    const first = await app.use(signalqModule).billing.run({ asOf: new Date('2026-11-09T00:00:00Z') });
    expect(first).toMatchObject({ linesFailed: 2 });
    expect((await payoutsOf(app, 'sq-f1')).map((p) => p.amount)).toEqual(['70000', '50000']);
    expect(await payoutsOf(app, 'sq-f2')).toEqual([]);
    expect(await rentPaid(app, 'sq-f2')).toBe(0n);
    expect((await lines(app, 'sq-f2')).map((l) => [l.payment_progress, l.error])).toEqual([
      ['IN_PROGRESS', expect.stringContaining('billing is down for sq-f2')],
      ['IN_PROGRESS', expect.stringContaining('billing is down for sq-f2')],
    ]);
    expect(await app.checkLedger()).toEqual([]);

    await app.orm.em.fork().execute('DROP TRIGGER test_refuse_sq_f2 ON payout; DROP FUNCTION test_refuse_sq_f2();');
    const second = await app.use(signalqModule).billing.run({ asOf: new Date('2026-11-09T00:00:00Z') });
    expect(second).toMatchObject({ linesFailed: 0, payoutsCreated: 2 });
    for (const park of parks) {
      expect((await payoutsOf(app, park)).map((p) => p.amount), park).toEqual(['70000', '50000']);
      expect(await rentPaid(app, park)).toBe(120_000n);
      expect((await lines(app, park)).map((l) => [l.payment_progress, l.error])).toEqual([
        ['CREATED', null],
        ['CREATED', null],
      ]);
    }
    expect(await app.use(signalqModule).billing.run({ asOf: new Date('2026-11-09T00:00:00Z') })).toMatchObject({ payoutsCreated: 0 });
    expect(await app.checkLedger()).toEqual([]);
  });

  it('leaves a line failing for a day to an admin’s run of its park', async () => {
    const park = 'sq-manual';
    await configure(app, config(park), '2026-11-02T00:00:00Z');
    await deliver(app, [statusEvent(park, 'cam-1', '2026-10-30T00:00:00Z', 'ONLINE')]);
    await app.orm.em.fork().execute(`
      CREATE FUNCTION test_refuse_manual() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.payee_id = 'sq-manual' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_refuse_manual BEFORE INSERT ON payout FOR EACH ROW EXECUTE FUNCTION test_refuse_manual();`);
    expect(await run('2026-11-09T00:00:00Z', { parkId: park })).toMatchObject({ linesFailed: 1 });
    await app.orm.em.fork().execute('DROP TRIGGER test_refuse_manual ON payout; DROP FUNCTION test_refuse_manual();');
    // The first failure was a day and more ago.
    await app.orm.em.fork().execute(`UPDATE signalq_payment SET failing_since = now() - interval '25 hours' WHERE park_id = ?`, [park]);

    const listed = await graphql(server.url, SignalqPaymentsDocument, { filter: { parkId: park } }, admin);
    expect(listed.data!.signalqPayments.nodes[0]).toMatchObject({ paymentProgress: 'IN_PROGRESS', needsManualAction: true, error: 'refused (SQLSTATE P0001)' });
    expect(await run('2026-11-09T00:00:00Z')).toMatchObject({ payoutsCreated: 0 });
    expect(await payoutsOf(app, park)).toEqual([]);
    // The gauge, read from the database at the scrape: this line is failing and waits for an admin.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^payouts_signalq_open_lines\{state="manual"\} 1$/m);
    expect(metrics).toMatch(/^payouts_signalq_open_lines\{state="failing"\} [1-9]/m);
    expect(metrics).toMatch(/^payouts_signalq_payouts_created_total [1-9]/m);
    expect(metrics).toMatch(/^payouts_signalq_paid_minor_total\{currency="RUB"\} [1-9]/m);

    const byHand = await graphql(server.url, RunSignalqBillingDocument, { parkId: park }, admin);
    expect(byHand.errors).toBeUndefined();
    // It also records the periods ended since (the admin's run goes by the real clock): one more line each, paid.
    const done = byHand.data!.runSignalqBilling;
    expect(done.linesFailed).toBe(0);
    expect(done.linesPaid).toBe(1 + done.periodsRecorded);
    expect(done.totals).toEqual([{ minor: String(70_000 * (1 + done.periodsRecorded)), currency: 'RUB' }]);
    const paid = await payoutsOf(app, park);
    expect(paid).toHaveLength(1 + done.periodsRecorded);
    expect(paid[0]).toMatchObject({ idempotency_key: 'signalq:sq-manual:cam-1:2026-11-01', amount: '70000' });
    expect(await app.checkLedger()).toEqual([]);
  });

  it('shows configs and lines over GraphQL, a dispatcher only its parks’', async () => {
    const park = 'sq-gql';
    const upserted = await graphql(
      server.url,
      UpsertSignalqConfigDocument,
      {
        input: { parkId: park, currency: 'RUB', dailyRate: '5000', minActiveMinutes: 30, periodDays: 1, periodStart: '2026-11-01', timezone: MSK, enabled: true, reason: 'launch' },
      },
      admin,
    );
    expect(upserted.errors).toBeUndefined();
    expect(upserted.data!.upsertSignalqConfig).toMatchObject({ parkId: park, effectiveFrom: '2026-11-01', dailyRate: { minor: '5000' }, reason: 'launch' });
    // The change is in the audit log, about the park, with its arguments.
    const [entry] = await app.orm.em
      .fork()
      .execute<{ targets: string[]; outcome: string; arguments: { input: { reason: string } } }[]>(
        `SELECT targets, outcome, arguments FROM audit_entry WHERE operation = 'upsertSignalqConfig' AND 'PARK:sq-gql' = ANY (targets)`,
      );
    expect(entry).toMatchObject({ targets: ['PARK:sq-gql'], outcome: 'OK', arguments: { input: { reason: 'launch' } } });
    const bad = await graphql(
      server.url,
      UpsertSignalqConfigDocument,
      { input: { parkId: park, currency: 'RUB', dailyRate: '1.5', minActiveMinutes: 30, periodDays: 1, periodStart: '2026-11-01', timezone: MSK, enabled: true } },
      admin,
    );
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    const badZone = await graphql(
      server.url,
      UpsertSignalqConfigDocument,
      { input: { parkId: park, currency: 'RUB', dailyRate: '1', minActiveMinutes: 30, periodDays: 1, periodStart: '2026-02-30', timezone: 'Mars/Base', enabled: true } },
      admin,
    );
    expect(errorCodes(badZone)).toEqual(['BAD_USER_INPUT']);

    await deliver(app, [statusEvent(park, 'cam-1', '2026-11-01T00:00:00Z', 'ONLINE'), statusEvent(park, 'cam-2', '2026-11-02T00:00:00Z', 'ONLINE')]);
    await run('2026-11-04T00:00:00Z', { parkId: park });
    const dispatcher = tokenFor('dispatcher', [{ kind: 'PARK', id: park }]);
    const page1 = await graphql(server.url, SignalqPaymentsDocument, { filter: { parkId: park }, first: 2 }, dispatcher);
    expect(page1.errors).toBeUndefined();
    expect(page1.data!.signalqPayments.totalCount).toBe(5);
    expect(page1.data!.signalqPayments.nodes.map((n) => [n.periodStart, n.deviceId, n.activeDays, n.amount.minor])).toEqual([
      ['2026-11-03', 'cam-2', 1, '5000'],
      ['2026-11-03', 'cam-1', 1, '5000'],
    ]);
    expect(page1.data!.signalqPayments.nodes[0]!.payout).toMatchObject({ source: 'SIGNALQ', status: 'CREATED', amount: { minor: '5000' } });
    const page2 = await graphql(
      server.url,
      SignalqPaymentsDocument,
      { filter: { parkId: park }, first: 10, after: page1.data!.signalqPayments.pageInfo.endCursor },
      dispatcher,
    );
    expect(page2.data!.signalqPayments.nodes.map((n) => [n.periodStart, n.deviceId])).toEqual([
      ['2026-11-02', 'cam-2'],
      ['2026-11-02', 'cam-1'],
      ['2026-11-01', 'cam-1'],
    ]);
    // cam-2 came online at 03:00 Moscow on 2 Nov: 21 hours that day.
    const zero = await graphql(server.url, SignalqPaymentsDocument, { filter: { parkId: park, progress: 'CREATED', periodStart: '2026-11-01' } }, dispatcher);
    expect(zero.data!.signalqPayments.nodes).toHaveLength(1);

    const other = tokenFor('dispatcher', [{ kind: 'PARK', id: 'sq-other' }]);
    expect(errorCodes(await graphql(server.url, SignalqPaymentsDocument, { filter: { parkId: park } }, other))).toEqual(['FORBIDDEN']);
    const own = await graphql(server.url, SignalqPaymentsDocument, {}, other);
    expect(own.data!.signalqPayments.totalCount).toBe(0);
    expect(errorCodes(await graphql(server.url, SignalqConfigDocument, { parkId: park }, other))).toEqual(['FORBIDDEN']);
    expect((await graphql(server.url, SignalqConfigDocument, { parkId: park }, dispatcher)).data!.signalqConfig).toMatchObject({ periodDays: 1 });
    expect(errorCodes(await graphql(server.url, RunSignalqBillingDocument, { parkId: park }, dispatcher))).toEqual(['FORBIDDEN']);

    // The park's page: its config and latest periods, newest first.
    await app.orm.em.fork().transactional((em) =>
      app.use(parksModule).parks.upsert(
        em,
        { parkId: park, name: 'Cameras', currency: 'RUB', email: null, timezone: MSK, status: 'ACTIVE', occurredAt: new Date() },
        'test',
      ),
    );
    const page = await graphql(server.url, ParkSignalqDocument, { id: park }, dispatcher);
    expect(page.errors).toBeUndefined();
    expect(page.data!.park!.signalqConfig).toEqual({ dailyRate: { minor: '5000', currency: 'RUB' }, effectiveFrom: '2026-11-01', enabled: true });
    expect(page.data!.park!.signalqPeriods).toEqual([
      { periodStart: '2026-11-03', periodEnd: '2026-11-04', lines: 2, activeDays: 2, amount: { minor: '10000' }, paid: { minor: '10000' }, openLines: 0 },
      { periodStart: '2026-11-02', periodEnd: '2026-11-03', lines: 2, activeDays: 2, amount: { minor: '10000' }, paid: { minor: '10000' }, openLines: 0 },
      { periodStart: '2026-11-01', periodEnd: '2026-11-02', lines: 1, activeDays: 1, amount: { minor: '5000' }, paid: { minor: '5000' }, openLines: 0 },
    ]);
    expect(await app.checkLedger()).toEqual([]);
  });
});

const brokers = kafkaBrokers();

describe.skipIf(!brokers)('camera status over Kafka', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ consumers: true }, { kafka: true });
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  it('stores the history from signalq.device-status, duplicates once and late events in their place, and bills from it', async () => {
    const { app } = server;
    const topic = app.settingsOf(signalqModule).TOPIC_SIGNALQ_DEVICE_STATUS;
    const events = [
      statusEvent('sq-k', 'cam-1', '2026-11-02T10:00:00Z', 'OFFLINE', 'k-2'),
      statusEvent('sq-k', 'cam-1', '2026-11-02T08:00:00Z', 'ONLINE', 'k-1'),
      statusEvent('sq-k', 'cam-1', '2026-11-02T08:00:00Z', 'ONLINE', 'k-1'),
    ];
    await produce(topic, [...events.map((value) => ({ key: 'sq-k', value })), { key: 'sq-k', value: 'not json' }]);
    await untilSeen(app, topic, ['k-1', 'k-2']);
    await waitFor(
      async () => (await app.orm.em.fork().execute<{ n: string }[]>(`SELECT count(*) AS n FROM dead_letter WHERE topic = ?`, [topic]))[0]!.n,
      (n) => n === '1',
    );
    const stored = await app.orm.em
      .fork()
      .execute<{ occurred_at: string; online: boolean }[]>(`SELECT occurred_at, online FROM signalq_device_status WHERE park_id = 'sq-k' ORDER BY occurred_at`);
    expect(stored.map((row) => [new Date(row.occurred_at).toISOString(), row.online])).toEqual([
      ['2026-11-02T08:00:00.000Z', true],
      ['2026-11-02T10:00:00.000Z', false],
    ]);
    await app.orm.em.fork().transactional((em) => app.use(signalqModule).configs.upsert(em, config('sq-k', { periodDays: 1, minActiveMinutes: 120 }), 'test', new Date('2026-11-01T00:00:00Z')));
    await app.use(signalqModule).billing.run({ parkId: 'sq-k', asOf: new Date('2026-11-03T00:00:00Z') });
    expect(await lines(app, 'sq-k')).toMatchObject([
      { period_start: '2026-11-02', active_days: 1, amount: '10000', payment_progress: 'CREATED' },
    ]);
  });
});
