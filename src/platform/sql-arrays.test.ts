import { describe, expect, it } from 'vitest';
import { plainArray, textArray } from './sql-arrays';

describe('PostgreSQL array literals', () => {
  it('quotes every text value and escapes quotes and backslashes, NULL unquoted', () => {
    expect(textArray(['plain', 'a "quoted" word', 'back\\slash', '{"json":"\\u0041"}', '', null])).toBe(
      '{"plain","a \\"quoted\\" word","back\\\\slash","{\\"json\\":\\"\\\\u0041\\"}","",NULL}',
    );
    expect(textArray([])).toBe('{}');
    // Nothing to escape: the one-join form, the same literal.
    expect(textArray(['cam-1', '', 'park 2'])).toBe('{"cam-1","","park 2"}');
    expect(textArray(['cam-1', null])).toBe('{"cam-1",NULL}');
  });

  it('writes numbers, bigints and booleans as they are', () => {
    expect(plainArray([1, 9007199254740993n, true, '2026-11-28T10:00:00.000Z'])).toBe('{1,9007199254740993,true,2026-11-28T10:00:00.000Z}');
  });

  it('writes a null as NULL, not as nothing', () => {
    expect(plainArray([1n, null, 3n])).toBe('{1,NULL,3}');
  });
});
