import { describe, expect, it } from 'vitest';
import { InvalidInputError } from './errors';
import { formatMajor, minorDigits, parseCurrency, parseMinor, parsePositiveMinor } from './money';

const MAX = 9_223_372_036_854_775_807n;
const MIN = -MAX - 1n;

describe('parseMinor', () => {
  const accepted: [unknown, bigint][] = [
    ['12345', 12345n],
    ['-1', -1n],
    ['0', 0n],
    ['9223372036854775807', MAX],
    ['-9223372036854775808', MIN],
    [9_007_199_254_740_991, 9_007_199_254_740_991n],
    [-42, -42n],
    [0, 0n],
    [7n, 7n],
  ];
  // Titles by hand: vitest's %j cannot print a bigint.
  const label = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`);
  it.each(accepted.map(([input, expected]) => [label(input), input, expected] as const))('accepts %s', (_label, input, expected) => {
    expect(parseMinor(input)).toBe(expected);
  });

  it.each([
    ['a fraction', '1.5'],
    ['an exponent', '1e3'],
    ['a float', 1.5],
    ['an empty string', ''],
    ['a leading space', ' 1'],
    ['a trailing space', '1 '],
    ['a plus sign', '+1'],
    ['a lone minus', '-'],
    ['hex', '0x10'],
    ['a digit group separator', '1,000'],
    ['non-ASCII digits', '١٢٣'],
    ['an unsafe integer number', 2 ** 53],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['an object', { minor: '1' }],
    ['20 digits', '12345678901234567890'],
    ['one above the bigint range', '9223372036854775808'],
    ['one below the bigint range', '-9223372036854775809'],
    ['a bigint above the range', MAX + 1n],
    ['a bigint below the range', MIN - 1n],
  ] as const)('refuses %s', (_what, input) => {
    expect(() => parseMinor(input)).toThrow(InvalidInputError);
  });

  it('names the field in the error, for API and dead-letter messages', () => {
    try {
      parseMinor('1.5', 'fee');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'BAD_USER_INPUT', details: { field: 'fee' } });
      expect((error as Error).message).toMatch(/^fee /);
    }
  });

  it('parsePositiveMinor refuses zero and negatives but keeps positives', () => {
    expect(parsePositiveMinor('1')).toBe(1n);
    expect(() => parsePositiveMinor('0')).toThrow(InvalidInputError);
    expect(() => parsePositiveMinor('-5')).toThrow(InvalidInputError);
  });
});

describe('parseCurrency', () => {
  it.each(['RUB', 'USD', 'JPY', 'KWD', 'KZT'])('accepts %s', (code) => {
    expect(parseCurrency(code)).toBe(code);
  });

  it.each([['rub'], ['ABC'], ['XYZ'], ['RUBL'], ['RU'], [''], [' RUB'], [643], [null], [undefined]])('refuses %j', (value) => {
    expect(() => parseCurrency(value)).toThrow(InvalidInputError);
  });
});

describe('formatMajor', () => {
  it.each([
    [67000n, 'RUB', '670.00'],
    [5n, 'RUB', '0.05'],
    [0n, 'RUB', '0.00'],
    [-1n, 'RUB', '-0.01'],
    [-67005n, 'RUB', '-670.05'],
    [1234n, 'JPY', '1234'],
    [0n, 'JPY', '0'],
    [-5n, 'JPY', '-5'],
    [1234n, 'KWD', '1.234'],
    [5n, 'KWD', '0.005'],
    [-1005n, 'KWD', '-1.005'],
    [MAX, 'RUB', '92233720368547758.07'],
    [MIN, 'RUB', '-92233720368547758.08'],
  ] as const)('%s minor %s is %s', (minor, currency, expected) => {
    expect(formatMajor(minor, currency)).toBe(expected);
  });

  it('knows the minor digits of RUB, JPY and KWD', () => {
    expect([minorDigits('RUB'), minorDigits('JPY'), minorDigits('KWD')]).toEqual([2, 0, 3]);
  });
});
