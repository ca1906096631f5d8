import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CallbackAnswer } from './adapter';

/**
 * XML as the callback protocols send it, read safely: well-formed UTF-8 only, no DOCTYPE (so no
 * entity of ours or anyone's is ever expanded, external or not), namespace prefixes dropped
 * (SOAP's `soapenv:` and `ns1:` vary by sender), every value kept as the string it was (a
 * transaction id of 19 digits must not become a float).
 */
export type XmlElement = { [name: string]: XmlValue };
export type XmlValue = string | XmlElement | XmlValue[];

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  // Numeric character references (`&#1040;`) are only decoded with this on.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The document's elements, or null for anything that is not well-formed XML we accept. */
export function parseXml(body: Buffer): XmlElement | null {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return null;
  }
  if (text.trim() === '' || /<!DOCTYPE|<!ENTITY/i.test(text)) return null;
  if (XMLValidator.validate(text) !== true) return null;
  try {
    const parsed: unknown = parser.parse(text);
    return isElement(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function isElement(value: unknown): value is XmlElement {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A child element, when there is exactly one of that name. */
export function childOf(parent: XmlValue | undefined, name: string): XmlValue | undefined {
  if (!isElement(parent) || !Object.hasOwn(parent, name)) return undefined;
  const value = parent[name];
  return Array.isArray(value) ? undefined : value;
}

/** Every child element of that name (SOAP's repeated `parameters`). */
export function childrenOf(parent: XmlValue | undefined, name: string): XmlValue[] {
  if (!isElement(parent) || !Object.hasOwn(parent, name)) return [];
  const value = parent[name]!;
  return Array.isArray(value) ? value : [value];
}

/** The text of a child element with no children of its own (`<a></a>` is ''), else undefined. */
export function textOf(parent: XmlValue | undefined, name: string): string | undefined {
  const child = childOf(parent, name);
  return typeof child === 'string' ? child : undefined;
}

/** The names of an element's children, in document order. */
export function childNames(parent: XmlValue | undefined): string[] {
  return isElement(parent) ? Object.keys(parent) : [];
}

/** `<name>escaped text</name>` for each entry whose value is set, in the given order. */
export function elements(entries: ReadonlyArray<readonly [string, string | number | bigint | null | undefined]>): string {
  return entries
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([name, value]) => `<${name}>${xmlText(String(value))}</${name}>`)
    .join('');
}

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text for an XML element, escaped; characters XML 1.0 cannot carry are dropped. */
export function xmlText(value: string): string {
  return value.replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** `<root><name>value</name>…</root>` in UTF-8, as HTTP 200: the answer of the XML protocols. */
export function xmlAnswer(root: string, fields: Record<string, string>): CallbackAnswer {
  const body = Object.entries(fields)
    .map(([name, value]) => `<${name}>${xmlText(value)}</${name}>`)
    .join('');
  return { status: 200, contentType: 'text/xml; charset=utf-8', body: `<?xml version="1.0" encoding="UTF-8"?>\n<${root}>${body}</${root}>` };
}
