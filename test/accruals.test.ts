import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../src/platform/kafka/inbound';
import { createTestApp, type TestApp } from './helpers/app';
import { accrualEvent } from './helpers/accruals';
import { accrualsModule } from '../src/accruals/module';

/**
 * The `accruals` topic at the service level: messages handed to the inbound processor as the
 * consumer (or `payouts ingest`) hands them, without a broker.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

let offset = 0;
function messages(values: unknown[]): InboundMessage[] {
  const topic = t.app.settingsOf(accrualsModule).TOPIC_ACCRUALS;
  return values.map((value) => ({ topic, partition: 0, offset: String(offset++), key: null, value: JSON.stringify(value) }));
}

describe('accruals: occurredAt', () => {
  it('takes only an ISO 8601 time with an offset, as every other topic does; anything else is a dead letter', async () => {
    const bad = ['2026-01-01', '2026-01-01T10:00:00', '2026-01-01 10:00:00Z', 'January 1, 2026 10:00 UTC', '2026-02-30T10:00:00Z', 1767225600000, null];
    const good = { '2026-11-02T10:00:00+03:00': '2026-11-02T07:00:00.000Z', '2026-11-02T10:00:00.5Z': '2026-11-02T10:00:00.500Z' };
    const outcomes = await t.app.inbound.processBatch(
      messages([
        ...bad.map((occurredAt, i) => accrualEvent(`time-bad-${i}`, 'c-time', '100', `bad-${i}`, { occurredAt })),
        ...Object.keys(good).map((occurredAt, i) => accrualEvent(`time-good-${i}`, 'c-time', '100', `good-${i}`, { occurredAt })),
      ]),
      'KAFKA',
    );
    expect(outcomes).toEqual([...bad.map(() => 'dead-lettered'), 'applied', 'applied']);

    const letters = await t.app.orm.em
      .fork()
      .execute<{ value: string; error_code: string; reason: string }[]>('SELECT value, error_code, reason FROM dead_letter ORDER BY id');
    expect(letters.map((d) => [JSON.parse(d.value).eventId, d.error_code])).toEqual(bad.map((_, i) => [`time-bad-${i}`, 'BAD_USER_INPUT']));
    for (const d of letters) expect(d.reason).toMatch(/occurredAt/);

    const applied = await t.app.orm.em
      .fork()
      .execute<{ reference: string; occurred_at: Date }[]>("SELECT reference, occurred_at FROM accrual WHERE payee_id = 'c-time' ORDER BY reference");
    expect(applied.map((a) => [a.reference, new Date(a.occurred_at).toISOString()])).toEqual(
      Object.values(good).map((iso, i) => [`good-${i}`, iso]),
    );
  });

  it('still requires occurredAt on the topic', async () => {
    const { occurredAt: _omitted, ...withoutTime } = accrualEvent('time-missing', 'c-time-missing', '100', 'missing');
    expect(await t.app.inbound.processBatch(messages([withoutTime]), 'KAFKA')).toEqual(['dead-lettered']);
  });
});
