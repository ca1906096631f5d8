import { checkReference } from '../access/payee';
import { InvalidInputError } from '../platform/errors';
import { parseInstant } from '../platform/time';
import { DRIVER_STATUSES, normalizePhone, type DriverStatus, type DriverUpsert } from './driver';

/** A `fleet.drivers` message (contracts.md): only `DriverUpserted` exists. */
export type DriverEvent = DriverUpsert & { eventId: string; type: 'DriverUpserted' };

export function parseDriverEvent(eventId: string, json: Record<string, unknown>): DriverEvent {
  if (json.type !== 'DriverUpserted') throw new InvalidInputError('type must be DriverUpserted', { field: 'type' });
  const name = json.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 300) {
    throw new InvalidInputError('name must be a non-empty string of at most 300 characters', { field: 'name' });
  }
  let phone: string | null = null;
  if (json.phone !== undefined && json.phone !== null) {
    phone = typeof json.phone === 'string' ? normalizePhone(json.phone) : null;
    if (phone === null) throw new InvalidInputError('phone must be 8–15 digits with the country code', { field: 'phone' });
  }
  if (!DRIVER_STATUSES.includes(json.status as DriverStatus)) {
    throw new InvalidInputError(`status must be one of ${DRIVER_STATUSES.join(', ')}`, { field: 'status' });
  }
  return {
    eventId,
    type: 'DriverUpserted',
    parkId: checkReference(json.parkId, 'parkId'),
    driverId: checkReference(json.driverId, 'driverId'),
    name: name.trim(),
    phone,
    status: json.status as DriverStatus,
    occurredAt: parseInstant(json.occurredAt),
  };
}
