import { describe, expect, it } from 'vitest';
import { formatMajor } from '../platform/money';
import { parseMajorDecimal, parseMinorInteger } from './amounts';

describe('payment-system amounts', () => {
  it('parses decimals in major units into minor units without floats', () => {
    expect(parseMajorDecimal('10.45')).toEqual({ ok: true, minor: 1045n });
    expect(parseMajorDecimal('10.4')).toEqual({ ok: true, minor: 1040n });
    expect(parseMajorDecimal('10')).toEqual({ ok: true, minor: 1000n });
    expect(parseMajorDecimal('0.01')).toEqual({ ok: true, minor: 1n });
    expect(parseMajorDecimal('10.450')).toEqual({ ok: true, minor: 1045n });
    // 0.1 + 0.2 style float traps stay exact.
    expect(parseMajorDecimal('1234567890123456.78')).toEqual({ ok: true, minor: 123456789012345678n });
  });

  it('refuses malformed, signed, zero, over-precise and overflowing decimals with the reason', () => {
    for (const bad of ['', ' 1.00', '1,00', '1e3', '+1.00', '.5', '1.', 'NaN', '0x10', '１.00']) expect(parseMajorDecimal(bad)).toEqual({ ok: false, problem: 'MALFORMED' });
    expect(parseMajorDecimal(undefined)).toEqual({ ok: false, problem: 'MALFORMED' });
    expect(parseMajorDecimal('-1.00')).toEqual({ ok: false, problem: 'NOT_POSITIVE' });
    expect(parseMajorDecimal('0.00')).toEqual({ ok: false, problem: 'NOT_POSITIVE' });
    expect(parseMajorDecimal('1.001')).toEqual({ ok: false, problem: 'TOO_PRECISE' });
    expect(parseMajorDecimal('92233720368547758.08')).toEqual({ ok: false, problem: 'OVERFLOW' });
    expect(parseMajorDecimal('92233720368547758.07')).toEqual({ ok: true, minor: 9_223_372_036_854_775_807n });
  });

  it('parses with the minor digits it is given: 0 (JPY) and 3 (KWD)', () => {
    expect(parseMajorDecimal('10', 0)).toEqual({ ok: true, minor: 10n });
    expect(parseMajorDecimal('10.0', 0)).toEqual({ ok: true, minor: 10n });
    expect(parseMajorDecimal('10.5', 0)).toEqual({ ok: false, problem: 'TOO_PRECISE' });
    expect(parseMajorDecimal('0', 0)).toEqual({ ok: false, problem: 'NOT_POSITIVE' });
    expect(parseMajorDecimal('9223372036854775807', 0)).toEqual({ ok: true, minor: 9_223_372_036_854_775_807n });
    expect(parseMajorDecimal('9223372036854775808', 0)).toEqual({ ok: false, problem: 'OVERFLOW' });
    expect(parseMajorDecimal('10.45', 3)).toEqual({ ok: true, minor: 10450n });
    expect(parseMajorDecimal('10.045', 3)).toEqual({ ok: true, minor: 10045n });
    expect(parseMajorDecimal('10', 3)).toEqual({ ok: true, minor: 10000n });
    expect(parseMajorDecimal('0.001', 3)).toEqual({ ok: true, minor: 1n });
    expect(parseMajorDecimal('10.0450', 3)).toEqual({ ok: true, minor: 10045n });
    expect(parseMajorDecimal('10.0455', 3)).toEqual({ ok: false, problem: 'TOO_PRECISE' });
  });

  it('parses integer minor units', () => {
    expect(parseMinorInteger('50000')).toEqual({ ok: true, minor: 50000n });
    expect(parseMinorInteger(50000)).toEqual({ ok: true, minor: 50000n });
    expect(parseMinorInteger(500.5)).toEqual({ ok: false, problem: 'TOO_PRECISE' });
    expect(parseMinorInteger('5.00')).toEqual({ ok: false, problem: 'MALFORMED' });
    expect(parseMinorInteger('0')).toEqual({ ok: false, problem: 'NOT_POSITIVE' });
    expect(parseMinorInteger('9223372036854775808')).toEqual({ ok: false, problem: 'OVERFLOW' });
  });

  it('formats minor units back as the protocol echoes them', () => {
    expect(formatMajor(1045n, 'RUB')).toBe('10.45');
    expect(formatMajor(5n, 'UZS')).toBe('0.05');
    expect(formatMajor(100n, 'JPY')).toBe('100');
    expect(formatMajor(10045n, 'KWD')).toBe('10.045');
  });
});
