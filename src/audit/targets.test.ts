import { describe, expect, it } from 'vitest';
import { deriveTargets, operationSubject } from './targets';

describe('deriveTargets', () => {
  it('reads payees, ids and <thing>Id arguments at any depth', () => {
    expect(deriveTargets('recordAccrual', { input: { payee: { kind: 'PARK', id: 'p1' }, reference: 'r' } })).toEqual(['PARK:p1']);
    expect(deriveTargets('requestPayout', { input: { clientId: 'c1', idempotencyKey: 'k' } })).toEqual(['CLIENT:c1']);
    expect(deriveTargets('cancelPayout', { id: 'u-1' })).toEqual(['PAYOUT:u-1']);
    expect(deriveTargets('retryPayoutRequest', { id: 'u-2' }, ['CLIENT:c9'])).toEqual(['CLIENT:c9', 'PAYOUT_REQUEST:u-2']);
    expect(deriveTargets('discardDeadLetter', { id: '17', reason: 'r' })).toEqual(['DEAD_LETTER:17']);
    expect(deriveTargets('upsertPayoutSchedule', { input: { id: 's1', calendarId: 'cal', cron: '0 10 * * *' } })).toEqual([
      'CALENDAR:cal',
      'PAYOUT_SCHEDULE:s1',
    ]);
    expect(deriveTargets('issueCallbackLink', { walletId: 'w1' })).toEqual(['WALLET:w1']);
  });

  it('names a shop by party and shop, a driver by park and driver, and a driver’s entry is its park’s too', () => {
    expect(deriveTargets('x', { payee: { kind: 'SHOP', partyId: 'pa', shopId: 'sh' } })).toEqual(['SHOP:pa/sh']);
    expect(deriveTargets('x', { filter: { partyId: 'pa', shopId: 'sh' } })).toEqual(['SHOP:pa/sh']);
    expect(deriveTargets('x', { input: { parkId: 'p1', driverId: 'd1' } })).toEqual(['DRIVER:p1/d1', 'PARK:p1']);
    expect(deriveTargets('x', {}, ['DRIVER:p2/d2'])).toEqual(['DRIVER:p2/d2', 'PARK:p2']);
    expect(deriveTargets('requestInstantPayout', { input: { parkId: 'p1', amount: '100' } })).toEqual(['PARK:p1']);
  });

  it('ignores empty and non-text values, and repeats nothing', () => {
    expect(deriveTargets('x', { parkId: '', other: { parkId: 'p1' }, list: [{ parkId: 'p1' }], n: 5, clientId: null })).toEqual(['PARK:p1']);
  });
});

describe('operationSubject', () => {
  it('is the operation without its verb, in upper snake case', () => {
    expect(operationSubject('cancelPayout')).toBe('PAYOUT');
    expect(operationSubject('retryPayoutRequest')).toBe('PAYOUT_REQUEST');
    expect(operationSubject('ingest')).toBeNull();
  });
});
