import { describe, expect, it } from 'vitest';
import { isSecretName, redact, REDACTED } from './redaction';

describe('redact', () => {
  it('replaces every value under a secret’s name, at any depth and in lists, and keeps the rest', () => {
    const args = {
      input: {
        parkId: 'p1',
        idempotencyKey: 'k-1',
        wallet: { title: 'Main', credentials: { secretKey: 'sk', expiresAt: '2027-01-01' } },
        systems: [{ name: 'QIWI', apiToken: 't1' }, { name: 'PAYSTACK', settings: { client_secret: 's2', password: 'p' } }],
        key: 'raw',
        when: new Date('2026-12-03T10:00:00Z'),
        amount: 10n,
      },
    };
    expect(redact(args)).toEqual({
      input: {
        parkId: 'p1',
        idempotencyKey: 'k-1',
        wallet: { title: 'Main', credentials: REDACTED },
        systems: [{ name: 'QIWI', apiToken: REDACTED }, { name: 'PAYSTACK', settings: { client_secret: REDACTED, password: REDACTED } }],
        key: REDACTED,
        when: '2026-12-03T10:00:00.000Z',
        amount: '10',
      },
    });
  });

  it('leaves the input untouched and survives deep nesting', () => {
    const args = { secret: 's', nested: { token: 't' } };
    redact(args);
    expect(args).toEqual({ secret: 's', nested: { token: 't' } });
    let deep: Record<string, unknown> = { password: 'x' };
    for (let i = 0; i < 20_000; i += 1) deep = { next: deep };
    let copy = redact(deep) as Record<string, unknown>;
    for (let i = 0; i < 20_000; i += 1) copy = copy.next as Record<string, unknown>;
    expect(copy).toEqual({ password: REDACTED });
  });

  it('knows secrets by name, in any case or style', () => {
    for (const name of ['secret', 'secretKey', 'PASSWORD', 'passwd', 'apiToken', 'refresh_token', 'credentials', 'privateKey', 'key', 'authorization', 'cookie']) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ['parkId', 'reason', 'amount', 'idempotencyKey', 'title', 'payee']) expect(isSecretName(name), name).toBe(false);
  });
});
