import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../platform/config';
import { walletsModule } from './module';
import { walletSettings, type WalletSettings } from './settings';

const slices = [{ name: 'wallets', schema: walletSettings }];

describe('the QIWI key-expiry check', () => {
  const keyExpiryPattern = (env: Record<string, string>) => {
    const settings = loadSettings(env, slices).slices.get('wallets') as WalletSettings;
    return walletsModule.cron!({ settings }).find((item) => item.task === 'wallet__key_expiry')?.pattern;
  };

  it('runs daily at 06:00 unless WALLET_KEY_EXPIRY_CRON says when', () => {
    expect(keyExpiryPattern({})).toBe('0 6 * * *');
    expect(keyExpiryPattern({ WALLET_KEY_EXPIRY_CRON: '30 8 * * 1-5' })).toBe('30 8 * * 1-5');
  });

  it('refuses a time that is not a 5-field cron expression, naming the variable', () => {
    expect(() => keyExpiryPattern({ WALLET_KEY_EXPIRY_CRON: 'daily' })).toThrow(/WALLET_KEY_EXPIRY_CRON: must be a 5-field cron expression/);
  });
});
