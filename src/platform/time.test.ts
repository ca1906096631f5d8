import { describe, expect, it } from 'vitest';
import { InvalidInputError } from './errors';
import { parseInstant, parseInstantMs } from './time';

describe('parseInstant', () => {
  it('reads an ISO 8601 time with an offset', () => {
    expect(parseInstant('2026-11-02T10:00:00Z').toISOString()).toBe('2026-11-02T10:00:00.000Z');
    expect(parseInstant('2026-11-02T10:00:00.25+03:00').toISOString()).toBe('2026-11-02T07:00:00.250Z');
    expect(parseInstant('2028-02-29T00:00:00-05:00').toISOString()).toBe('2028-02-29T05:00:00.000Z');
  });

  it('gives the same instant as milliseconds, with no Date made (parseInstantMs)', () => {
    expect(parseInstantMs('2026-11-02T10:00:00.25+03:00')).toBe(Date.UTC(2026, 10, 2, 7, 0, 0, 250));
    expect(() => parseInstantMs('2026-02-30T10:00:00Z', 'occurredAt')).toThrow(/occurredAt must be an ISO 8601 time/);
  });

  it.each([
    '2026-01-01',
    '2026-01-01T10:00:00',
    '2026-01-01 10:00:00Z',
    'Thu, 01 Jan 2026 10:00:00 GMT',
    '2026-02-30T10:00:00Z',
    '2027-02-29T10:00:00Z',
    '2026-04-31T10:00:00+03:00',
    '2026-13-01T10:00:00Z',
    '2026-01-01T10:61:00Z',
    '',
    1767225600000,
    null,
    undefined,
  ])('refuses %j, naming the field', (value) => {
    expect(() => parseInstant(value, 'when')).toThrow(InvalidInputError);
    expect(() => parseInstant(value, 'when')).toThrow(/when must be an ISO 8601 time with an offset/);
    expect(() => parseInstantMs(value, 'when')).toThrow(InvalidInputError);
  });
});
