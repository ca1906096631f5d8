import { describe, expect, it } from 'vitest';
import { childrenOf, elements, parseXml, textOf, xmlText } from './xml';

describe('callback XML', () => {
  it('keeps values as the strings they were, without namespace prefixes, with entities decoded', () => {
    const doc = parseXml(
      Buffer.from(
        '<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><n:A xmlns:n="y"><id>9223372036854775807</id><p>a&amp;b&#65;</p><q>0012</q><e/>' +
          '<r><k>1</k></r><r><k>2</k></r></n:A></s:Body></s:Envelope>',
      ),
    );
    const a = (doc!.Envelope as any).Body.A;
    expect(textOf(a, 'id')).toBe('9223372036854775807');
    expect(textOf(a, 'p')).toBe('a&bA');
    expect(textOf(a, 'q')).toBe('0012');
    expect(textOf(a, 'e')).toBe('');
    expect(textOf(a, 'r')).toBeUndefined();
    expect(childrenOf(a, 'r').map((r) => textOf(r, 'k'))).toEqual(['1', '2']);
  });

  it('refuses what is not well-formed UTF-8 XML, DOCTYPEs and entity declarations, and prototype keys', () => {
    for (const bad of ['', 'garbage', '<a><b></a>', '{"a":1}', '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', '<a><__proto__>1</__proto__></a>']) {
      expect(parseXml(Buffer.from(bad))).toBeNull();
    }
    expect(parseXml(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e]))).toBeNull();
  });

  it('renders elements with their text escaped, leaving out unset ones', () => {
    expect(elements([['a', '<&>'], ['b', undefined], ['c', 5n]])).toBe('<a>&lt;&amp;&gt;</a><c>5</c>');
    expect(xmlText('a\u0000b')).toBe('ab');
  });
});
