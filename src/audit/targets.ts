import { PAYEE_KINDS, type PayeeKind } from '../access/payee';

/**
 * What an audit entry is about, as scope strings (`PARK:p1`, `CLIENT:c1`, `SHOP:party/shop`,
 * `PAYOUT:<id>`), read from a mutation's arguments whatever the mutation:
 * - a payee object (`{kind, id}`, a shop `{kind: 'SHOP', partyId, shopId}`) is that payee;
 * - `partyId` with `shopId` is the shop; `parkId` with `driverId` the driver;
 * - any other `<thing>Id` is `<THING>:<value>` (`parkId` → `PARK`, `walletId` → `WALLET`);
 * - a bare `id` is the thing the operation names after its verb: `cancelPayout(id)` →
 *   `PAYOUT:<id>`, `retryDeadLetter(id)` → `DEAD_LETTER:<id>`, `upsertCalendar({id})` → `CALENDAR:<id>`.
 * A driver's entry is also its park's (`PARK:<parkId>`), so the park's dispatcher sees it.
 */
export function deriveTargets(operation: string, args: unknown, added: readonly string[] = []): string[] {
  const targets = new Set<string>();
  const subject = operationSubject(operation);
  const pending: unknown[] = [args];
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) {
      pending.push(...value);
      continue;
    }
    if (value === null || typeof value !== 'object' || value instanceof Date) continue;
    const object = value as Record<string, unknown>;
    const payee = payeeTarget(object);
    if (payee) {
      targets.add(payee);
      continue;
    }
    const text = (key: string) => (typeof object[key] === 'string' && object[key] !== '' ? (object[key] as string) : null);
    const partyId = text('partyId');
    const shopId = text('shopId');
    const parkId = text('parkId');
    const driverId = text('driverId');
    if (partyId && shopId) targets.add(`SHOP:${partyId}/${shopId}`);
    if (parkId && driverId) targets.add(`DRIVER:${parkId}/${driverId}`);
    for (const [key, item] of Object.entries(object)) {
      if (typeof item === 'string' && item !== '') {
        if (key === 'id' && subject) targets.add(`${subject}:${item}`);
        else if (/^[a-z][A-Za-z0-9]*Id$/.test(key) && !(key === 'partyId' || key === 'shopId' || key === 'driverId')) {
          targets.add(`${upperSnake(key.slice(0, -2))}:${item}`);
        }
      } else if (item !== null && typeof item === 'object') pending.push(item);
    }
  }
  for (const target of added) targets.add(target);
  for (const target of [...targets]) {
    const driver = /^DRIVER:([^/]+)\//.exec(target);
    if (driver) targets.add(`PARK:${driver[1]}`);
  }
  return [...targets].sort();
}

function payeeTarget(object: Record<string, unknown>): string | null {
  const kind = object.kind;
  if (typeof kind !== 'string' || !(PAYEE_KINDS as readonly string[]).includes(kind)) return null;
  if ((kind as PayeeKind) === 'SHOP') {
    if (typeof object.partyId === 'string' && typeof object.shopId === 'string') return `SHOP:${object.partyId}/${object.shopId}`;
    return typeof object.id === 'string' ? `SHOP:${object.id}` : null;
  }
  return typeof object.id === 'string' && object.id !== '' ? `${kind}:${object.id}` : null;
}

/** `cancelPayout` → `PAYOUT`, `retryPayoutRequest` → `PAYOUT_REQUEST`: the operation without its verb. */
export function operationSubject(operation: string): string | null {
  const match = /^[a-z]+([A-Z].*)$/.exec(operation);
  return match ? upperSnake(match[1]!) : null;
}

function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
