import { describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from './config';

describe('settings', () => {
  it('refuses a bad value, naming the variable', () => {
    expect(() => loadSettings({ WORKER_CONCURRENCY: 'many' })).toThrow(/WORKER_CONCURRENCY/);
  });

  it('needs two database connections at least: the outbox publisher flushes the WAL on a second one', () => {
    expect(() => loadSettings({ DATABASE_POOL_MAX: '1' })).toThrow(ConfigError);
    expect(() => loadSettings({ DATABASE_POOL_MAX: '1' })).toThrow(/DATABASE_POOL_MAX/);
    expect(loadSettings({ DATABASE_POOL_MAX: '2' }).DATABASE_POOL_MAX).toBe(2);
  });

  it('sends on two lanes unless told otherwise', () => {
    expect(loadSettings({}).PAYOUT_SENDER_CONCURRENCY).toBe(2);
  });
});
