import type { CallbackAnswer } from './adapter';

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
