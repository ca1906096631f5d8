import { createSigner, createVerifier } from 'fast-jwt';
import { ForbiddenError, InvalidInputError, UnauthenticatedError } from './errors';
import { parseDuration } from './config';
import { parsePayeeRef, payeeRef, type Payee } from './payee';

export const ROLES = ['admin', 'service', 'dispatcher', 'driver'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: from a verified token. Admins and services see every payee; others only theirs. */
export interface Principal {
  subject: string;
  role: Role;
  /** Payee refs (`KIND:id`) the subject may see; ignored for admin and service. */
  payees: ReadonlySet<string>;
}

export function seesEverything(principal: Principal): boolean {
  return principal.role === 'admin' || principal.role === 'service';
}

export function canSee(principal: Principal, payee: Payee): boolean {
  return seesEverything(principal) || principal.payees.has(payeeRef(payee));
}

export function assertCanSee(principal: Principal, payee: Payee): void {
  if (!canSee(principal, payee)) throw new ForbiddenError(`Not allowed to see payee ${payeeRef(payee)}`);
}

export function assertRole(principal: Principal, ...roles: Role[]): void {
  if (!roles.includes(principal.role)) throw new ForbiddenError(`This operation needs the role ${roles.join(' or ')}`);
}

/** HS256 tokens: `sub`, `role` and `payees` (a list of `KIND:id`). */
export class TokenService {
  private readonly verify: (token: string) => Record<string, unknown>;

  constructor(private readonly secret: string) {
    this.verify = createVerifier({ key: secret, algorithms: ['HS256'], cache: 1000 });
  }

  sign(input: { subject: string; role: Role; payees?: readonly Payee[]; ttl?: string }): string {
    if (!ROLES.includes(input.role)) throw new InvalidInputError(`role must be one of ${ROLES.join(', ')}`);
    const sign = createSigner({ key: this.secret, algorithm: 'HS256', expiresIn: parseDuration(input.ttl ?? '12h') });
    return sign({ sub: input.subject, role: input.role, payees: (input.payees ?? []).map(payeeRef) });
  }

  /** Reads `Authorization: Bearer <jwt>`; anything missing, expired or forged is UNAUTHENTICATED. */
  authenticate(authorization: string | undefined): Principal {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) throw new UnauthenticatedError();
    let claims: Record<string, unknown>;
    try {
      claims = this.verify(match[1]!);
    } catch {
      throw new UnauthenticatedError('The bearer token is invalid or expired');
    }
    const role = claims.role as Role;
    if (typeof claims.sub !== 'string' || !ROLES.includes(role)) {
      throw new UnauthenticatedError('The bearer token lacks a subject or a known role');
    }
    const payees = Array.isArray(claims.payees) ? claims.payees : [];
    const refs = new Set<string>();
    for (const ref of payees) {
      try {
        refs.add(payeeRef(parsePayeeRef(String(ref))));
      } catch {
        throw new UnauthenticatedError('The bearer token names a malformed payee');
      }
    }
    return { subject: claims.sub, role, payees: refs };
  }
}
