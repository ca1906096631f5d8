import { describe, expect, it } from 'vitest';
import { erpSettings } from './settings';

describe('ERP settings', () => {
  it('sends on two lanes unless told otherwise', () => {
    expect(erpSettings.parse({}).PAYOUT_SENDER_CONCURRENCY).toBe(2);
  });

  it('reads durations and refuses a negative send rate', () => {
    expect(erpSettings.parse({ PAYOUT_OEBS_GATE_INTERVAL: '2s' }).PAYOUT_OEBS_GATE_INTERVAL).toBe(2000);
    expect(() => erpSettings.parse({ PAYOUT_SEND_RATE: '-1' })).toThrow();
  });
});
