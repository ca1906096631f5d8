import 'reflect-metadata';
import { Authorized, Query, Resolver } from 'type-graphql';
import { describe, expect, it } from 'vitest';
import { parsePayeeRef } from '../src/access/payee';
import { canSee, claimsPolicy, scopedPayees, type Principal } from '../src/access/principals';
import { Access } from '../src/access/rules';
import { MODULES } from '../src/app/modules';
import { TokenService, authChecker } from '../src/platform/auth';
import { DomainError } from '../src/platform/errors';
import { accessTable, buildGraphqlSchema } from '../src/platform/graphql/schema';
import { TEST_JWT_SECRET } from './helpers/app';

const resolvers = MODULES.flatMap((module) => module.resolvers ?? []);

const principal = (role: string, ...scopes: string[]): Principal => ({ subject: `test-${role}`, role, scopes: new Set(scopes) });

/** The error code an access check throws, or null when it lets the caller through. */
function refusal(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

describe('who may call what', () => {
  it('is declared on every operation, and this is the whole table', () => {
    // A new operation shows up here: its rule is chosen on purpose, not by default.
    expect(accessTable(resolvers).map(({ operation, access }) => [operation, access])).toEqual([
      ['Mutation.cancelPayout', 'any caller, within the payees it sees'],
      ['Mutation.discardDeadLetter', 'role admin'],
      ['Mutation.recordAccrual', 'role admin'],
      ['Mutation.requestInstantPayout', 'role admin or dispatcher and a caller that sees the payee'],
      ['Mutation.requestPayout', 'a caller that sees the payee'],
      ['Mutation.retryDeadLetter', 'role admin'],
      ['Mutation.retryPayoutRequest', 'role admin'],
      ['Mutation.runFleetPeriodicPayouts', 'role admin'],
      ['Mutation.runSignalqBilling', 'role admin'],
      ['Mutation.setParkInstantPayouts', 'role admin'],
      ['Mutation.updateFleetPayoutSettings', 'role admin'],
      ['Mutation.upsertCalendar', 'role admin'],
      ['Mutation.upsertPark', 'role admin'],
      ['Mutation.upsertPayoutSchedule', 'role admin'],
      ['Mutation.upsertSignalqConfig', 'role admin'],
      ['Query.balances', 'a caller that sees the payee'],
      ['Query.calendar', 'any authenticated caller'],
      ['Query.calendars', 'any authenticated caller'],
      ['Query.deadLetters', 'role admin'],
      ['Query.fleetPayoutSettings', 'role admin or service or dispatcher'],
      ['Query.park', 'a caller that sees the payee'],
      ['Query.parks', 'any caller, within the payees it sees'],
      ['Query.payout', 'any caller, within the payees it sees'],
      ['Query.payoutRequest', 'any caller, within the payees it sees'],
      ['Query.payoutRequests', 'any caller, within the payees it sees'],
      ['Query.payouts', 'any caller, within the payees it sees'],
      ['Query.payoutSchedule', 'any authenticated caller'],
      ['Query.payoutSchedules', 'any authenticated caller'],
      ['Query.shop', 'a caller that sees the payee'],
      ['Query.shops', 'any caller, within the payees it sees'],
      ['Query.signalqConfig', 'a caller that sees the payee'],
      ['Query.signalqPayments', 'any caller, within the payees it sees'],
    ]);
  });

  it('refuses to build a schema with an operation that declares nothing (deny by default)', async () => {
    @Resolver()
    class Forgetful {
      @Authorized(Access.anyRole)
      @Query(() => String)
      declared(): string {
        return 'ok';
      }

      @Query(() => String)
      forgotten(): string {
        return 'no one decided who may read this';
      }
    }
    await expect(buildGraphqlSchema({ resolvers: [Forgetful] })).rejects.toThrow(/without an access declaration.*Query\.forgotten/);
  });

  it('builds one where every operation declares its rule', async () => {
    @Resolver()
    class Careful {
      @Authorized(Access.roles('admin'))
      @Query(() => String)
      careful(): string {
        return 'ok';
      }
    }
    await expect(buildGraphqlSchema({ resolvers: [Careful] })).resolves.toBeDefined();
  });
});

describe('the access rules', () => {
  const check = (rules: Parameters<typeof authChecker>[1], who: Principal, args: Record<string, unknown> = {}) =>
    refusal(() => authChecker({ context: { principal: who }, args }, rules));

  it('lets only the named roles through', () => {
    const adminOnly = [Access.roles('admin')];
    expect(check(adminOnly, principal('admin'))).toBeNull();
    for (const role of ['service', 'dispatcher', 'driver']) expect(check(adminOnly, principal(role, 'CLIENT:c1'))).toBe('FORBIDDEN');
  });

  it('checks the payee the arguments name, after validating it', () => {
    const seesClient = [Access.seesPayee((args: { clientId: string }) => parsePayeeRef(`CLIENT:${args.clientId}`))];
    expect(check(seesClient, principal('dispatcher', 'CLIENT:c1'), { clientId: 'c1' })).toBeNull();
    expect(check(seesClient, principal('dispatcher', 'CLIENT:c1'), { clientId: 'c2' })).toBe('FORBIDDEN');
    expect(check(seesClient, principal('service'), { clientId: 'c2' })).toBeNull();
    // A malformed payee is the caller's input error, whoever asks.
    expect(check(seesClient, principal('admin'), { clientId: 'not a payee' })).toBe('BAD_USER_INPUT');
    expect(check(seesClient, principal('driver'), { clientId: 'not a payee' })).toBe('BAD_USER_INPUT');
  });

  it('refuses when no rule is given', () => {
    expect(check([], principal('admin'))).toBe('FORBIDDEN');
  });
});

describe('scopes', () => {
  const driver = parsePayeeRef('DRIVER:park-1/d-7');

  it('cover what lies within them: a park’s dispatcher sees the park’s drivers, not another park’s', () => {
    const dispatcher = principal('dispatcher', 'PARK:park-1');
    expect(canSee(dispatcher, parsePayeeRef('PARK:park-1'))).toBe(true);
    expect(canSee(dispatcher, driver)).toBe(true);
    expect(canSee(dispatcher, parsePayeeRef('DRIVER:park-2/d-7'))).toBe(false);
    expect(canSee(dispatcher, parsePayeeRef('PARK:park-2'))).toBe(false);
  });

  it('do not reach upwards: a driver sees itself, not its park nor the park’s other drivers', () => {
    const self = principal('driver', 'DRIVER:park-1/d-7');
    expect(canSee(self, driver)).toBe(true);
    expect(canSee(self, parsePayeeRef('PARK:park-1'))).toBe(false);
    expect(canSee(self, parsePayeeRef('DRIVER:park-1/d-8'))).toBe(false);
  });

  it('match exactly, kind and id: a client scope sees neither a park nor a shop of the same id', () => {
    const client = principal('driver', 'CLIENT:x');
    expect(canSee(client, parsePayeeRef('PARK:x'))).toBe(false);
    expect(canSee(client, parsePayeeRef('CLIENT:x'))).toBe(true);
    expect(scopedPayees(principal('dispatcher', 'CLIENT:a', 'SHOP:p/s', 'PARK:k'), 'SHOP')).toEqual([{ kind: 'SHOP', partyId: 'p', shopId: 's' }]);
  });

  it('give admins and services every payee', () => {
    for (const role of ['admin', 'service']) expect(canSee(principal(role), driver)).toBe(true);
  });

  it('travel in tokens in one canonical form; a malformed one is refused when signing and when reading', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, claimsPolicy);
    const token = tokens.sign({ subject: 'd', role: 'dispatcher', scopes: ['PARK:park-1', 'DRIVER:park-1/d-7'] });
    expect([...tokens.authenticate(`Bearer ${token}`).scopes]).toEqual(['PARK:park-1', 'DRIVER:park-1/d-7']);
    expect(() => tokens.sign({ subject: 'd', role: 'driver', scopes: ['DRIVER:park-1'] })).toThrow(/parkId\/driverId/);
    expect(() => tokens.sign({ subject: 'd', role: 'driver', scopes: ['DRIVER:park-1/d/7'] })).toThrow(/parkId\/driverId/);
    expect(() => tokens.sign({ subject: 'd', role: 'root' })).toThrow(/role must be one of/);
  });
});
