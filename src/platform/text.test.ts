import { describe, expect, it } from 'vitest';
import { parseEnvelope } from './kafka/inbound';
import { unstorable, unstorableIn } from './text';

describe('text the database cannot keep as given', () => {
  it('is NUL or a lone UTF-16 surrogate; surrogate pairs are well-formed', () => {
    expect(unstorable('plain Ж 😀')).toBeNull();
    expect(unstorable('a\u0000b')).toMatch(/NUL/);
    for (const lone of ['\ud800', 'x\udbff', '\udc00x', '\udfff', '\ud800\ud800', '\ude00\ud83d']) expect(unstorable(lone)).toMatch(/well-formed Unicode/);
  });

  it('is found anywhere in a value, keys included, however deep', () => {
    let deep: unknown = 'x\ud800';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unstorableIn(deep)).toMatch(/well-formed/);
    expect(unstorableIn({ ok: 'fine', ['k\udc00']: 1 })).toMatch(/well-formed/);
    expect(unstorableIn({ a: ['b', { c: 'd 😀' }] })).toBeNull();
  });

  it('makes an inbound message a dead letter, as NUL does', () => {
    const message = (reference: string) => JSON.stringify({ eventId: 'e-1', reference });
    expect(() => parseEnvelope(message('ref-\ud800'))).toThrow(/well-formed Unicode/);
    expect(() => parseEnvelope(message('ref-\u0000'))).toThrow(/NUL/);
    expect(() => parseEnvelope(message('ref-😀'))).not.toThrow();
    // The key is the same JSON escape whether written by JSON.stringify or by hand.
    expect(() => parseEnvelope('{"eventId":"e-1","reference":"ref-\\uDC00"}')).toThrow(/well-formed Unicode/);
  });
});
