/**
 * Text the database cannot keep as given. PostgreSQL text cannot hold NUL; a string that is not
 * well-formed Unicode (a lone UTF-16 surrogate) becomes U+FFFD on its way there, so two different
 * idempotency keys or references would become one. Input holding either is refused, wherever it is.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why this text cannot be stored as given, or null when it can. */
export function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'Text must not contain NUL characters';
  if (LONE_SURROGATE.test(text)) return 'Text must be well-formed Unicode (it holds a lone UTF-16 surrogate)';
  return null;
}

/** The first reason any string (or object key) in a parsed JSON value cannot be stored; iterative, so deep nesting cannot overflow the stack. */
export function unstorableIn(root: unknown): string | null {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      const reason = unstorable(value);
      if (reason) return reason;
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        const reason = unstorable(key);
        if (reason) return reason;
        pending.push(child);
      }
    }
  }
  return null;
}

/** JSON text can carry NUL or a lone surrogate only escaped (`\u0000`, `\ud800`): without such an escape, its parsed value holds neither. */
export function mayHoldUnstorableEscapes(json: string): boolean {
  return /\\u(?:0000|[dD][89a-fA-F])/.test(json);
}
