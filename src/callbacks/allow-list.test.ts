import { describe, expect, it } from 'vitest';
import { AllowList, parseCidrList, plainAddress } from './allow-list';

describe('AllowList', () => {
  const qiwi = new AllowList('79.142.16.0/20, 91.232.230.0/23,2001:db8::/32, 10.1.2.3');

  it("allows the blocks' addresses, IPv4 seen through a dual-stack socket too, and nothing else", () => {
    expect(qiwi.allows('79.142.16.0')).toBe(true);
    expect(qiwi.allows('79.142.31.255')).toBe(true);
    expect(qiwi.allows('::ffff:91.232.231.7')).toBe(true);
    expect(qiwi.allows('2001:db8::1')).toBe(true);
    expect(qiwi.allows('10.1.2.3')).toBe(true);
    expect(qiwi.allows('79.142.32.0')).toBe(false);
    expect(qiwi.allows('91.232.232.0')).toBe(false);
    expect(qiwi.allows('10.1.2.4')).toBe(false);
    expect(qiwi.allows('127.0.0.1')).toBe(false);
    expect(qiwi.allows('not an address')).toBe(false);
    expect(qiwi.allows('')).toBe(false);
  });

  it('names what is wrong with a bad list', () => {
    expect(parseCidrList('79.142.16.0/33').problems).toEqual(['"79.142.16.0/33" is not an address or CIDR block']);
    expect(parseCidrList('example.com').problems).toHaveLength(1);
    expect(parseCidrList('1.2.3.4/x').problems).toHaveLength(1);
    expect(parseCidrList('1.2.3.4/24/x').problems).toEqual(['"1.2.3.4/24/x" is not an address or CIDR block']);
    expect(parseCidrList(' , ').problems).toEqual(['lists no address']);
    expect(() => new AllowList('1.2.3.4/99')).toThrow(/not an address/);
  });

  it('reads ::ffff:a.b.c.d as a.b.c.d and leaves real IPv6 alone', () => {
    expect(plainAddress('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(plainAddress('::ffff:abcd')).toBe('::ffff:abcd');
    expect(plainAddress('1.2.3.4')).toBe('1.2.3.4');
  });
});
