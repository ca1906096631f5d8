import { describe, expect, it } from 'vitest';
import { toWireJson } from './outbox';

describe('toWireJson', () => {
  it('writes bigints as strings of digits, wherever they are', () => {
    expect(toWireJson({ amount: 9007199254740993n, legs: [{ fee: -5n }], currency: 'RUB' })).toBe(
      '{"amount":"9007199254740993","legs":[{"fee":"-5"}],"currency":"RUB"}',
    );
  });

  it('writes a message without bigints as plain JSON', () => {
    expect(toWireJson({ payoutId: 'p1', amount: '100', sequence: 2, cutoff: null })).toBe('{"payoutId":"p1","amount":"100","sequence":2,"cutoff":null}');
  });

  it('still refuses what JSON cannot hold', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => toWireJson(circular)).toThrow(TypeError);
  });
});
