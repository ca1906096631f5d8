import { InvalidInputError } from '../platform/errors';
import { parseCurrency } from '../platform/money';
import { checkReference, parsePayee } from '../access/payee';
import { parseInstant } from '../platform/time';
import type { ShopKey } from './shop';

/** The `party-management` events this service acts on (contracts.md). */
export type PartyEvent = ShopKey & { eventId: string; occurredAt: Date } & (
    | { type: 'ShopCreated'; currency: string; payoutToolId: string | null; payoutScheduleId: string | null }
    | { type: 'ShopPayoutScheduleChanged'; payoutScheduleId: string | null }
    | { type: 'ShopPayoutToolChanged'; payoutToolId: string }
    | { type: 'ShopBlocked'; reason: string | null }
    | { type: 'ShopUnblocked' }
    | { type: 'ShopSuspended' }
    | { type: 'ShopActivated' }
  );

const TYPES = [
  'ShopCreated',
  'ShopPayoutScheduleChanged',
  'ShopPayoutToolChanged',
  'ShopBlocked',
  'ShopUnblocked',
  'ShopSuspended',
  'ShopActivated',
] as const;

export function parsePartyEvent(eventId: string, json: Record<string, unknown>): PartyEvent {
  const type = json.type as (typeof TYPES)[number];
  if (!TYPES.includes(type)) throw new InvalidInputError(`type must be one of ${TYPES.join(', ')}`, { field: 'type' });
  const shop = parsePayee({ kind: 'SHOP', partyId: json.partyId, shopId: json.shopId });
  if (shop.kind !== 'SHOP') throw new InvalidInputError('not a shop');
  const base = { eventId, partyId: shop.partyId, shopId: shop.shopId, occurredAt: parseInstant(json.occurredAt) };
  switch (type) {
    case 'ShopCreated':
      return {
        ...base,
        type,
        currency: parseCurrency(json.currency),
        payoutToolId: optionalReference(json.payoutToolId, 'payoutToolId'),
        payoutScheduleId: optionalReference(json.payoutScheduleId, 'payoutScheduleId'),
      };
    case 'ShopPayoutScheduleChanged':
      if (!('payoutScheduleId' in json)) {
        throw new InvalidInputError('payoutScheduleId is required (null removes the schedule)', { field: 'payoutScheduleId' });
      }
      return { ...base, type, payoutScheduleId: optionalReference(json.payoutScheduleId, 'payoutScheduleId') };
    case 'ShopPayoutToolChanged': {
      const payoutToolId = optionalReference(json.payoutToolId, 'payoutToolId');
      if (!payoutToolId) throw new InvalidInputError('payoutToolId is required', { field: 'payoutToolId' });
      return { ...base, type, payoutToolId };
    }
    case 'ShopBlocked':
      return { ...base, type, reason: optionalText(json.reason, 'reason') };
    default:
      return { ...base, type };
  }
}

function optionalReference(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  return checkReference(value, field);
}

function optionalText(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 1000) {
    throw new InvalidInputError(`${field} must be a string of at most 1000 characters`, { field });
  }
  return value;
}
