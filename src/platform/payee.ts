import { InvalidInputError } from './errors';

export const PAYEE_KINDS = ['SHOP', 'CLIENT', 'PARK'] as const;
export type PayeeKind = (typeof PAYEE_KINDS)[number];

/** Who is owed money. A shop is named by its party and shop ids; other payees by one id. */
export type Payee = { kind: 'SHOP'; partyId: string; shopId: string } | { kind: 'CLIENT' | 'PARK'; id: string };

const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** An id other systems give us (party, shop, tool, schedule): short, printable, no spaces. */
export function checkReference(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new InvalidInputError(`${field} must be 1–128 characters of letters, digits and . _ : @ -`, { field });
  }
  return value;
}

export function parsePayee(value: unknown, allowed: readonly PayeeKind[] = PAYEE_KINDS): Payee {
  const input = (value ?? {}) as Record<string, unknown>;
  const kind = input.kind as PayeeKind;
  if (!allowed.includes(kind)) {
    throw new InvalidInputError(`payee.kind must be one of ${allowed.join(', ')}`, { field: 'payee.kind' });
  }
  if (kind === 'SHOP') {
    return { kind, partyId: checkReference(input.partyId, 'payee.partyId'), shopId: checkReference(input.shopId, 'payee.shopId') };
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

export function payeeFromStored(kind: string, id: string): Payee {
  if (kind === 'SHOP') {
    const slash = id.indexOf('/');
    return { kind, partyId: id.slice(0, slash), shopId: id.slice(slash + 1) };
  }
  return { kind: kind as 'CLIENT' | 'PARK', id };
}

export function parsePayeeRef(ref: string): Payee {
  const colon = ref.indexOf(':');
  const kind = ref.slice(0, colon);
  const id = ref.slice(colon + 1);
  if (colon < 1) throw new InvalidInputError(`"${ref}" is not a payee (use KIND:id, e.g. CLIENT:c1 or SHOP:party/shop)`);
  if (kind === 'SHOP') {
    const slash = id.indexOf('/');
    if (slash < 1) throw new InvalidInputError(`"${ref}" is not a shop payee (use SHOP:partyId/shopId)`);
    return parsePayee({ kind, partyId: id.slice(0, slash), shopId: id.slice(slash + 1) });
  }
  return parsePayee({ kind, id });
}
