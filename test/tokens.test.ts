import { createSigner } from 'fast-jwt';
import { describe, expect, it } from 'vitest';
import { claimsPolicy } from '../src/access/principals';
import { TokenService } from '../src/platform/auth';
import { DEFAULT_JWT_MAX_TTL, loadKernelSettings } from '../src/platform/config';
import { TEST_JWT_SECRET } from './helpers/app';

const HOUR = 3_600_000;
const claims = { sub: 'someone', role: 'admin', payees: [] };
const bearer = (token: string) => `Bearer ${token}`;

describe('token lifetimes', () => {
  it('are at most 7 days unless JWT_MAX_TTL says otherwise, and at least a second', () => {
    expect(DEFAULT_JWT_MAX_TTL).toBe(7 * 24 * HOUR);
    expect(loadKernelSettings({}).JWT_MAX_TTL).toBe(7 * 24 * HOUR);
    expect(loadKernelSettings({ JWT_MAX_TTL: '1h' }).JWT_MAX_TTL).toBe(HOUR);
    expect(() => loadKernelSettings({ JWT_MAX_TTL: '0s' })).toThrow(/JWT_MAX_TTL/);
    expect(() => loadKernelSettings({ JWT_MAX_TTL: 'forever' })).toThrow(/JWT_MAX_TTL/);
  });

  it('are refused when signing if zero (the token would never expire) or above the maximum', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, claimsPolicy, { maxTtl: 24 * HOUR });
    expect(() => tokens.sign({ subject: 's', role: 'admin', ttl: '0s' })).toThrow(/at least 1s/);
    expect(() => tokens.sign({ subject: 's', role: 'admin', ttl: '0' })).toThrow(/at least 1s/);
    expect(() => tokens.sign({ subject: 's', role: 'admin', ttl: '25h' })).toThrow(/at most 1d \(JWT_MAX_TTL\)/);
    const token = tokens.sign({ subject: 's', role: 'admin', ttl: '24h' });
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(payload.exp - payload.iat).toBe(24 * 3600);
    expect(tokens.authenticate(bearer(token)).subject).toBe('s');
  });

  it('are required when reading: a token without exp is refused, though correctly signed', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, claimsPolicy);
    const forever = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })(claims);
    expect(() => tokens.authenticate(bearer(forever))).toThrow(/invalid or expired/);
  });

  it('are held to the maximum when reading, however the token was issued', () => {
    const tokens = new TokenService(TEST_JWT_SECRET, claimsPolicy, { maxTtl: 24 * HOUR });
    const sign = (expiresIn: number, extra: object = {}) => createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', expiresIn })({ ...claims, ...extra });
    expect(tokens.authenticate(bearer(sign(24 * HOUR))).subject).toBe('someone');
    expect(() => tokens.authenticate(bearer(sign(25 * HOUR)))).toThrow(/lives longer/);
    // Without iat the lifetime counts from now; an iat in the future does not shorten it.
    const exp = Math.floor((Date.now() + 30 * HOUR) / 1000);
    const noIat = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', noTimestamp: true })({ ...claims, exp });
    expect(() => tokens.authenticate(bearer(noIat))).toThrow(/lives longer/);
    const lateIat = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', noTimestamp: true })({ ...claims, exp, iat: exp - 3600 });
    expect(() => tokens.authenticate(bearer(lateIat))).toThrow(/lives longer/);
  });
});
