import { describe, expect, it } from 'vitest';
import { isAccount, isExternalId, isPositiveLong } from './identifiers';
import { sameSecret } from './secrets';

describe('secrets and identifiers of callbacks', () => {
  it('matches a secret only when both are set and equal', () => {
    expect(sameSecret('pass-word', 'pass-word')).toBe(true);
    expect(sameSecret('pass-word', 'pass-wore')).toBe(false);
    expect(sameSecret('pass-word', 'pass-word-longer')).toBe(false);
    expect(sameSecret(undefined, 'pass-word')).toBe(false);
    // A wallet without the secret set matches nothing, not even an empty one.
    expect(sameSecret('', '')).toBe(false);
    expect(sameSecret('', undefined)).toBe(false);
  });

  it('takes transaction ids, accounts and longs the core and the protocols accept', () => {
    expect(isExternalId('3130401334')).toBe(true);
    expect(isExternalId('a b')).toBe(false);
    expect(isExternalId('x'.repeat(201))).toBe(false);
    expect(isAccount('drv-1')).toBe(true);
    expect(isAccount('+7 (999) 000-11-22')).toBe(true);
    expect(isAccount('Иван_1')).toBe(true);
    for (const bad of ['', '<script>', 'a\nb', 'x'.repeat(101), undefined]) expect(isAccount(bad)).toBe(false);
    expect(isPositiveLong('9223372036854775807')).toBe(true);
    for (const bad of ['0', '-1', '9223372036854775808', '1.0', '12345678901234567890', '']) expect(isPositiveLong(bad)).toBe(false);
  });
});
