import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, DEVELOPMENT_JWT_SECRET, jwtSecret, loadKernelSettings, loadSettings } from './config';

describe('settings', () => {
  it('refuses a bad value, naming the variable', () => {
    expect(() => loadKernelSettings({ WORKER_CONCURRENCY: 'many' })).toThrow(/WORKER_CONCURRENCY/);
  });

  it('needs two database connections at least: the outbox publisher flushes the WAL on a second one', () => {
    expect(() => loadKernelSettings({ DATABASE_POOL_MAX: '1' })).toThrow(ConfigError);
    expect(() => loadKernelSettings({ DATABASE_POOL_MAX: '1' })).toThrow(/DATABASE_POOL_MAX/);
    expect(loadKernelSettings({ DATABASE_POOL_MAX: '2' }).DATABASE_POOL_MAX).toBe(2);
  });

  it('bounds the database reads behind /metrics to one per METRICS_REFRESH_MIN_INTERVAL, 5s unless set', () => {
    expect(loadKernelSettings({}).METRICS_REFRESH_MIN_INTERVAL).toBe(5000);
    expect(loadKernelSettings({ METRICS_REFRESH_MIN_INTERVAL: '30s' }).METRICS_REFRESH_MIN_INTERVAL).toBe(30_000);
    expect(loadKernelSettings({ METRICS_REFRESH_MIN_INTERVAL: '0' }).METRICS_REFRESH_MIN_INTERVAL).toBe(0);
    expect(() => loadKernelSettings({ METRICS_REFRESH_MIN_INTERVAL: 'often' })).toThrow(/METRICS_REFRESH_MIN_INTERVAL/);
  });

  it('validates every module’s slice with the kernel’s, naming every bad variable in one message', () => {
    const slices = [
      { name: 'a', schema: z.object({ A_LIMIT: z.coerce.number().int().positive().default(5) }) },
      { name: 'b', schema: z.object({ B_TOPIC: z.string().default('b') }) },
    ];
    const error = (() => {
      try {
        loadSettings({ A_LIMIT: '-1', PORT: 'eighty' }, slices);
      } catch (caught) {
        return caught as Error;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toMatch(/A_LIMIT/);
    expect(error!.message).toMatch(/PORT/);
    const { slices: parsed } = loadSettings({ A_LIMIT: '7' }, slices);
    expect(parsed.get('a')).toEqual({ A_LIMIT: 7 });
    expect(parsed.get('b')).toEqual({ B_TOPIC: 'b' });
  });

  describe('the JWT secret', () => {
    it('is the public development secret only in development and test', () => {
      expect(loadKernelSettings({ NODE_ENV: 'development' }).JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
      expect(loadKernelSettings({ NODE_ENV: 'test' }).JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
    });

    it('is not there by default: what signs or checks tokens refuses to start, the rest runs', () => {
      const settings = loadKernelSettings({});
      expect(settings.JWT_SECRET).toBeNull();
      expect(() => jwtSecret(settings)).toThrow(ConfigError);
      expect(() => jwtSecret(settings)).toThrow(/JWT_SECRET/);
    });

    it('is required in production, and the development secret is refused there and by default', () => {
      expect(() => loadKernelSettings({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: required/);
      expect(() => loadKernelSettings({ NODE_ENV: 'production', JWT_SECRET: DEVELOPMENT_JWT_SECRET })).toThrow(/development secret/);
      expect(() => loadKernelSettings({ JWT_SECRET: DEVELOPMENT_JWT_SECRET })).toThrow(/development secret/);
    });

    it('is used as given when set, if it is long enough', () => {
      const secret = 'a-real-secret-of-more-than-32-characters';
      expect(jwtSecret(loadKernelSettings({ NODE_ENV: 'production', JWT_SECRET: secret }))).toBe(secret);
      expect(() => loadKernelSettings({ JWT_SECRET: 'short' })).toThrow(/at least 32/);
    });
  });

  describe('introspection and the GraphiQL explorer', () => {
    const secret = 'a-real-secret-of-more-than-32-characters';
    const surface = (env: Record<string, string>) => {
      const settings = loadKernelSettings({ JWT_SECRET: secret, ...env });
      return { introspection: settings.GRAPHQL_INTROSPECTION, explorer: settings.GRAPHQL_EXPLORER };
    };

    it('are on in development and test, off in production and when NODE_ENV is unset', () => {
      expect(surface({ NODE_ENV: 'development' })).toEqual({ introspection: true, explorer: true });
      expect(surface({ NODE_ENV: 'test' })).toEqual({ introspection: true, explorer: true });
      expect(surface({ NODE_ENV: 'production' })).toEqual({ introspection: false, explorer: false });
      expect(surface({})).toEqual({ introspection: false, explorer: false });
    });

    it('follow their settings when set', () => {
      expect(surface({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true', GRAPHQL_EXPLORER: '1' })).toEqual({ introspection: true, explorer: true });
      expect(surface({ NODE_ENV: 'development', GRAPHQL_INTROSPECTION: 'false', GRAPHQL_EXPLORER: '0' })).toEqual({ introspection: false, explorer: false });
      expect(() => surface({ GRAPHQL_EXPLORER: 'yes' })).toThrow(/GRAPHQL_EXPLORER/);
    });
  });
});
