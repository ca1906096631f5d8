import { InvalidInputError } from '../platform/errors';

/**
 * Who is owed money, and how each kind is named. A shop is named by its party and shop ids; a
 * driver by its park and driver ids (`parkId/driverId`), and a driver lies within its park: a
 * token naming the park sees the park's drivers. Other payees have one id.
 */
export const PAYEE_KINDS = ['SHOP', 'CLIENT', 'PARK', 'DRIVER'] as const;
export type PayeeKind = (typeof PAYEE_KINDS)[number];

/** The kinds payouts are made to (the GraphQL `PayeeKind`); drivers have balances but are not paid out. */
export const PAYOUT_PAYEE_KINDS = ['SHOP', 'CLIENT', 'PARK'] as const satisfies readonly PayeeKind[];
export type PayoutPayeeKind = (typeof PAYOUT_PAYEE_KINDS)[number];

export type Payee = { kind: 'SHOP'; partyId: string; shopId: string } | { kind: 'CLIENT' | 'PARK' | 'DRIVER'; id: string };

const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** An id other systems give us (party, shop, tool, schedule): short, printable, no spaces. */
export function checkReference(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new InvalidInputError(`${field} must be 1–128 characters of letters, digits and . _ : @ -`, { field });
  }
  return value;
}

export function parsePayee(value: unknown, allowed: readonly PayeeKind[] = PAYOUT_PAYEE_KINDS): Payee {
  const input = (value ?? {}) as Record<string, unknown>;
  const kind = input.kind as PayeeKind;
  if (!allowed.includes(kind)) {
    throw new InvalidInputError(`payee.kind must be one of ${allowed.join(', ')}`, { field: 'payee.kind' });
  }
  if (kind === 'SHOP') {
    return { kind, partyId: checkReference(input.partyId, 'payee.partyId'), shopId: checkReference(input.shopId, 'payee.shopId') };
  }
  if (kind === 'DRIVER') {
    const [parkId, driverId, ...rest] = typeof input.id === 'string' ? input.id.split('/') : [];
    if (rest.length > 0 || driverId === undefined) {
      throw new InvalidInputError('payee.id of a driver must be parkId/driverId', { field: 'payee.id' });
    }
    return { kind, id: `${checkReference(parkId, 'payee.id')}/${checkReference(driverId, 'payee.id')}` };
  }
  return { kind, id: checkReference(input.id, 'payee.id') };
}

/** The single id the ledger and the payouts table store: a shop's is `partyId/shopId`. */
export function payeeId(payee: Payee): string {
  return payee.kind === 'SHOP' ? `${payee.partyId}/${payee.shopId}` : payee.id;
}

/** `KIND:id`, the form used in tokens and on the command line, e.g. `CLIENT:c1`, `SHOP:p1/s1`. */
export function payeeRef(payee: Payee): string {
  return `${payee.kind}:${payeeId(payee)}`;
}

/** The payee a stored (kind, id) pair names, the inverse of `payeeId`. */
export function payeeFromStored(kind: string, id: string): Payee {
  if (kind === 'SHOP') {
    const slash = id.indexOf('/');
    return { kind, partyId: id.slice(0, slash), shopId: id.slice(slash + 1) };
  }
  return { kind: kind as 'CLIENT' | 'PARK' | 'DRIVER', id };
}

export function parsePayeeRef(ref: string): Payee {
  const colon = ref.indexOf(':');
  const kind = ref.slice(0, colon);
  const id = ref.slice(colon + 1);
  if (colon < 1) throw new InvalidInputError(`"${ref}" is not a payee (use KIND:id, e.g. CLIENT:c1 or SHOP:party/shop)`);
  if (kind === 'SHOP') {
    const slash = id.indexOf('/');
    if (slash < 1) throw new InvalidInputError(`"${ref}" is not a shop payee (use SHOP:partyId/shopId)`);
    return parsePayee({ kind, partyId: id.slice(0, slash), shopId: id.slice(slash + 1) }, PAYEE_KINDS);
  }
  return parsePayee({ kind, id }, PAYEE_KINDS);
}

/** The payee this one lies within, if any: a driver's park. */
export function enclosingPayee(payee: Payee): Payee | null {
  return payee.kind === 'DRIVER' ? { kind: 'PARK', id: payee.id.slice(0, payee.id.indexOf('/')) } : null;
}
