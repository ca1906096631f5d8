import { createSigner, createVerifier } from 'fast-jwt';
import { DEFAULT_JWT_MAX_TTL, parseDuration } from './config';
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

/**
 * HS256 tokens: `sub`, `role` and `payees` (the scopes, e.g. `CLIENT:c1`). Every token expires:
 * one without `exp`, or living longer than `maxTtl` (ms, `JWT_MAX_TTL`), is refused, so a leaked
 * token is not good forever.
 */
export class TokenService {
  private readonly verify: (token: string) => Record<string, unknown>;
  private readonly maxTtl: number;

  constructor(
    private readonly secret: string,
    private readonly policy: ClaimsPolicy,
    options: { maxTtl?: number } = {},
  ) {
    this.maxTtl = options.maxTtl ?? DEFAULT_JWT_MAX_TTL;
    this.verify = createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['exp'], cache: 1000 });
  }

  sign(input: { subject: string; role: string; scopes?: readonly string[]; ttl?: string }): string {
    if (!this.policy.roles.includes(input.role)) {
      throw new InvalidInputError(`role must be one of ${this.policy.roles.join(', ')}`);
    }
    const ttl = parseDuration(input.ttl ?? '12h');
    // A zero lifetime would make the signer leave `exp` out: a token that never expires.
    if (ttl < 1000) throw new InvalidInputError('ttl must be at least 1s');
    if (ttl > this.maxTtl) throw new InvalidInputError(`ttl must be at most ${formatDuration(this.maxTtl)} (JWT_MAX_TTL)`);
    const sign = createSigner({ key: this.secret, algorithm: 'HS256', expiresIn: ttl });
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
    if (this.livesTooLong(claims)) throw new UnauthenticatedError('The bearer token lives longer than this service accepts');
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

  /** From its issue (or from now, when it names none) to its expiry: longer than `maxTtl` is refused. */
  private livesTooLong(claims: Record<string, unknown>): boolean {
    const expiresAt = Number(claims.exp) * 1000;
    const now = Date.now();
    const issuedAt = typeof claims.iat === 'number' ? Math.min(claims.iat * 1000, now) : now;
    return !Number.isFinite(expiresAt) || expiresAt - issuedAt > this.maxTtl;
  }
}

/** `7d`, `12h`, `90m` or `45s`: the largest whole unit, for messages. */
function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
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
