import type { EntityManager } from '@mikro-orm/postgresql';
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
    parkId: checkReference(json.parkId, 'parkId'),
    deviceId: checkReference(json.deviceId, 'deviceId'),
    status: json.status as DeviceStatus,
  };
}

/**
 * The cameras' status history. Rows are stored as they come, whatever the order: readers order
 * them by `occurred_at`, so a late event takes its place in the history. Duplicates never get here
 * (the kernel's inbox drops a repeated eventId in the same transaction).
 */
export class DeviceStatusHistory {
  async record(em: EntityManager, events: readonly DeviceStatusEvent[]): Promise<void> {
    if (events.length === 0) return;
    // Each month's partition, made when missing (a lookup when it exists; it is made in this
    // transaction, so a rollback takes it away with the rows that needed it).
    const months = [...new Set(events.map((event) => `${event.occurredAt.toISOString().slice(0, 7)}-01`))];
    await queryBound(em, 'SELECT signalq_status_partition(m) FROM unnest(?::date[]) AS m', [textArray(months)]);
    await queryBound(
      em,
      `WITH input AS (
         SELECT * FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::boolean[]) AS i(park_id, device_id, occurred_at, online)),
       stored AS (
         INSERT INTO signalq_device_status (park_id, device_id, occurred_at, online) SELECT * FROM input)
       INSERT INTO signalq_device AS d (park_id, device_id, first_seen_at)
       SELECT park_id, device_id, min(occurred_at) FROM input GROUP BY park_id, device_id
       ON CONFLICT (park_id, device_id) DO UPDATE SET first_seen_at = EXCLUDED.first_seen_at
        WHERE d.first_seen_at > EXCLUDED.first_seen_at`,
      [
        textArray(events.map((event) => event.parkId)),
        textArray(events.map((event) => event.deviceId)),
        textArray(events.map((event) => event.occurredAt.toISOString())),
        `{${events.map((event) => (event.status === 'ONLINE' ? 't' : 'f')).join(',')}}`,
      ],
      { name: 'signalq_status_record' },
    );
  }
}
