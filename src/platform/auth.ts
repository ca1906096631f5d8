import { createSigner, createVerifier } from 'fast-jwt';
import { parseDuration } from './config';
import { ForbiddenError, InvalidInputError, UnauthenticatedError } from './errors';

/**
 * Who is calling, from a verified token: a subject, a role and the scopes it may see (the
 * `payees` claim). What roles and scopes mean is the access module's business, not the kernel's.
 */
export interface Principal {
  subject: string;
  role: string;
  scopes: ReadonlySet<string>;
}

/** What a token may claim: the roles there are, and how a scope is checked and written. */
export interface ClaimsPolicy {
  roles: readonly string[];
  /** The scope in its one canonical form; throws for a malformed one. */
  normalizeScope(scope: string): string;
}

/** HS256 tokens: `sub`, `role` and `payees` (the scopes, e.g. `CLIENT:c1`). */
export class TokenService {
  private readonly verify: (token: string) => Record<string, unknown>;

  constructor(
    private readonly secret: string,
    private readonly policy: ClaimsPolicy,
  ) {
    this.verify = createVerifier({ key: secret, algorithms: ['HS256'], cache: 1000 });
  }

  sign(input: { subject: string; role: string; scopes?: readonly string[]; ttl?: string }): string {
    if (!this.policy.roles.includes(input.role)) {
      throw new InvalidInputError(`role must be one of ${this.policy.roles.join(', ')}`);
    }
    const sign = createSigner({ key: this.secret, algorithm: 'HS256', expiresIn: parseDuration(input.ttl ?? '12h') });
    return sign({ sub: input.subject, role: input.role, payees: (input.scopes ?? []).map((s) => this.policy.normalizeScope(s)) });
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
    const role = claims.role;
    if (typeof claims.sub !== 'string' || typeof role !== 'string' || !this.policy.roles.includes(role)) {
      throw new UnauthenticatedError('The bearer token lacks a subject or a known role');
    }
    const scopes = new Set<string>();
    for (const scope of Array.isArray(claims.payees) ? claims.payees : []) {
      try {
        scopes.add(this.policy.normalizeScope(String(scope)));
      } catch {
        throw new UnauthenticatedError('The bearer token names a malformed payee');
      }
    }
    return { subject: claims.sub, role, scopes };
  }
}

/**
 * Who may call one GraphQL operation, declared on it with `@Authorized(rule)`. `check` throws a
 * FORBIDDEN error saying why when the caller may not; it may read the operation's arguments.
 */
export interface AccessRule {
  readonly description: string;
  check(principal: Principal, args: Record<string, any>): void;
}

/**
 * The one auth checker: every rule declared on the operation must let the caller through. An
 * arrow function on purpose: type-graphql takes anything with a prototype for a checker class.
 */
export const authChecker = (
  { context, args }: { context: { principal: Principal }; args: Record<string, any> },
  rules: readonly AccessRule[],
): boolean => {
  if (rules.length === 0) throw new ForbiddenError('This operation declares no access rule');
  for (const rule of rules) rule.check(context.principal, args);
  return true;
};
