import { checkReference } from '../access/payee';
import { InvalidInputError } from '../platform/errors';
import { parseCurrency } from '../platform/money';
import { parseInstant } from '../platform/time';
import { validateTimezone } from '../schedules/schedule-rules';
import { PARK_STATUSES, type ParkStatus, type ParkUpsert } from './park';

/** A `fleet.parks` message (contracts.md): only `ParkUpserted` exists. */
export type ParkEvent = ParkUpsert & { eventId: string; type: 'ParkUpserted' };

export function parseParkEvent(eventId: string, json: Record<string, unknown>): ParkEvent {
  if (json.type !== 'ParkUpserted') throw new InvalidInputError('type must be ParkUpserted', { field: 'type' });
  return { eventId, type: 'ParkUpserted', ...parseParkUpsert({ ...json, occurredAt: parseInstant(json.occurredAt) }) };
}

/** Validates the fields of a park, whoever sends them (the topic or an admin's mutation). */
export function parseParkUpsert(input: Record<string, unknown> & { occurredAt: Date }): ParkUpsert {
  return {
    parkId: checkReference(input.parkId, 'parkId'),
    name: text(input.name, 'name', 300),
    currency: parseCurrency(input.currency),
    email: input.email === undefined || input.email === null ? null : email(input.email),
    timezone: validateTimezone(text(input.timezone, 'timezone', 64)),
    status: status(input.status),
    occurredAt: input.occurredAt,
  };
}

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new InvalidInputError(`${field} must be a non-empty string of at most ${max} characters`, { field });
  }
  return value.trim();
}

function email(value: unknown): string {
  const address = text(value, 'email', 320);
  if (!/^[^\s@]+@[^\s@]+$/.test(address)) throw new InvalidInputError('email must be an e-mail address', { field: 'email' });
  return address;
}

function status(value: unknown): ParkStatus {
  if (!PARK_STATUSES.includes(value as ParkStatus)) {
    throw new InvalidInputError(`status must be one of ${PARK_STATUSES.join(', ')}`, { field: 'status' });
  }
  return value as ParkStatus;
}
