import type { ClaimsPolicy, Principal } from '../platform/auth';
import { ForbiddenError } from '../platform/errors';
import { enclosingPayee, parsePayeeRef, payeeRef, type Payee, type PayeeKind } from './payee';

export type { Principal };

export const ROLES = ['admin', 'service', 'dispatcher', 'driver'] as const;
export type Role = (typeof ROLES)[number];

/** What a token may claim here: these roles, and payees (`KIND:id`) as its scopes. */
export const claimsPolicy: ClaimsPolicy = {
  roles: ROLES,
  normalizeScope: (scope) => payeeRef(parsePayeeRef(scope)),
};

/** Admins and services see every payee; dispatchers and drivers only those their token names. */
export function seesEverything(principal: Principal): boolean {
  return principal.role === 'admin' || principal.role === 'service';
}

/** A payee is visible when the token names it or a payee it lies within (a park for its drivers). */
export function canSee(principal: Principal, payee: Payee): boolean {
  if (seesEverything(principal)) return true;
  for (let scope: Payee | null = payee; scope; scope = enclosingPayee(scope)) {
    if (principal.scopes.has(payeeRef(scope))) return true;
  }
  return false;
}

export function assertCanSee(principal: Principal, payee: Payee): void {
  if (!canSee(principal, payee)) throw new ForbiddenError(`Not allowed to see payee ${payeeRef(payee)}`);
}

/** The payees a token names, of one kind or all: what a list is limited to for a caller who does not see everything. */
export function scopedPayees(principal: Principal, kind?: PayeeKind): Payee[] {
  const payees = [...principal.scopes].map(parsePayeeRef);
  return kind ? payees.filter((payee) => payee.kind === kind) : payees;
}

/** How the history names who did something: `role:subject`. */
export function actorOf(principal: Principal): string {
  return `${principal.role}:${principal.subject}`;
}
