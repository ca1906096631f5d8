import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { checkReference } from '../access/payee';
import { queryBound } from '../platform/bound-query';
import { InvalidInputError } from '../platform/errors';
import { textArray } from '../platform/sql-arrays';
import { parseInstant } from '../platform/time';

export const DEVICE_STATUSES = ['ONLINE', 'OFFLINE'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** A `signalq.device-status` message (contracts.md): a camera went online or offline. */
export interface DeviceStatusEvent {
  eventId: string;
  occurredAt: Date;
  /** `occurredAt` as the message wrote it (checked by `parseInstant`), for the database to read. */
  occurredAtText: string;
  parkId: string;
  deviceId: string;
  status: DeviceStatus;
}

export function parseDeviceStatus(eventId: string, json: Record<string, unknown>): DeviceStatusEvent {
  if (!DEVICE_STATUSES.includes(json.status as DeviceStatus)) {
    throw new InvalidInputError(`status must be one of ${DEVICE_STATUSES.join(', ')}`, { field: 'status' });
  }
  return {
    eventId,
    occurredAt: parseInstant(json.occurredAt),
    occurredAtText: json.occurredAt as string,
    parkId: checkReference(json.parkId, 'parkId'),
    deviceId: checkReference(json.deviceId, 'deviceId'),
    status: json.status as DeviceStatus,
  };
}

/**
 * The cameras' status history. Rows are stored as they come, whatever the order: readers order
 * them by `occurred_at`, so a late event takes its place in the history. Each row keeps its
 * eventId, unique in its month's partition: a redelivered event is dropped by the insert itself.
 */
export class DeviceStatusHistory {
  /** Months whose partition exists (made and committed; partitions are never dropped under a running service). */
  private readonly knownMonths = new Set<string>();

  constructor(private readonly pool: Pool) {}

  /**
   * Records the events not seen before, in one statement; returns the eventIds of the copies it
   * dropped as seen before (usually none, so a batch's answer is usually empty).
   */
  async record(em: EntityManager, events: readonly DeviceStatusEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    await this.ensurePartitions(events);
    const dropped = await queryBound<{ event_id: string }>(
      em,
      `WITH input AS (
         SELECT * FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::boolean[], ?::text[]) AS i(park_id, device_id, occurred_at, online, event_id)),
       stored AS (
         INSERT INTO signalq_device_status (park_id, device_id, occurred_at, online, event_id) SELECT * FROM input
         ON CONFLICT DO NOTHING
         RETURNING park_id, device_id, occurred_at, event_id),
       devices AS (
         INSERT INTO signalq_device AS d (park_id, device_id, first_seen_at)
         SELECT park_id, device_id, min(occurred_at) FROM stored GROUP BY park_id, device_id
         ON CONFLICT (park_id, device_id) DO UPDATE SET first_seen_at = EXCLUDED.first_seen_at
          WHERE d.first_seen_at > EXCLUDED.first_seen_at)
       SELECT event_id FROM input EXCEPT ALL SELECT event_id FROM stored`,
      [
        textArray(events.map((event) => event.parkId)),
        textArray(events.map((event) => event.deviceId)),
        textArray(events.map((event) => event.occurredAtText)),
        `{${events.map((event) => (event.status === 'ONLINE' ? 't' : 'f')).join(',')}}`,
        textArray(events.map((event) => event.eventId)),
      ],
      { name: 'signalq_status_record_once' },
    );
    return dropped.map((row) => row.event_id);
  }

  /**
   * Makes the partitions of the events' months that are missing, in a transaction of its own
   * (committed before the batch's insert): creating a partition locks the whole table, which a
   * batch's transaction must not hold while it inserts. A batch rolled back leaves an empty one.
   */
  private async ensurePartitions(events: readonly DeviceStatusEvent[]): Promise<void> {
    const months = [...new Set(events.map((event) => monthOf(event.occurredAt)))].filter((m) => !this.knownMonths.has(m));
    if (months.length === 0) return;
    const client = await this.pool.connect();
    try {
      // Bounded: a caller's own open transaction holding the table would otherwise be waited for forever.
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = '10s'`);
      await client.query('SELECT signalq_status_partition(m) FROM unnest($1::date[]) AS m', [months]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    for (const month of months) this.knownMonths.add(month);
  }
}

/** The first day of the time's UTC month (`2026-11-01`), the partition it goes to. */
function monthOf(time: Date): string {
  const month = time.getUTCMonth() + 1;
  return `${time.getUTCFullYear()}-${month < 10 ? '0' : ''}${month}-01`;
}
