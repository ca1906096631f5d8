import type { AccessRule, Principal } from '../platform/auth';
import { ForbiddenError } from '../platform/errors';
import type { Payee } from './payee';
import { assertCanSee, type Role } from './principals';

/**
 * The access rules operations declare with `@Authorized(rule)`: one place to read who may call
 * what. Lists and objects a caller reaches by id are further limited to what its token names, by
 * the read sides (`scopedPayees`, `assertCanSee`).
 */
export const Access = {
  /** Any authenticated caller (configuration every role may read). */
  anyRole: rule('any authenticated caller', () => {}),

  /**
   * Any authenticated caller, answered only with what its scopes cover: the resolver's read side
   * limits lists to them and refuses an object outside them (FORBIDDEN).
   */
  withinScopes: rule('any caller, within the payees it sees', () => {}),

  /** Only these roles. */
  roles(...roles: Role[]): AccessRule {
    return rule(`role ${roles.join(' or ')}`, (principal) => {
      if (!(roles as string[]).includes(principal.role)) throw new ForbiddenError(`This operation needs the role ${roles.join(' or ')}`);
    });
  },

  /** A caller that sees the payee the arguments name (checked, and validated, before the resolver runs). */
  seesPayee<A>(payeeOf: (args: A) => Payee): AccessRule {
    return rule('a caller that sees the payee', (principal, args) => assertCanSee(principal, payeeOf(args as A)));
  },

  /** Every one of these rules (checked in order: the first refusal is the answer). */
  all(...rules: AccessRule[]): AccessRule {
    return rule(rules.map((r) => r.description).join(' and '), (principal, args) => {
      for (const each of rules) each.check(principal, args);
    });
  },
};

function rule(description: string, check: (principal: Principal, args: Record<string, unknown>) => void): AccessRule {
  return { description, check };
}
