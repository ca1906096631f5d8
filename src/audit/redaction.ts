/**
 * Argument names that hold secrets or credentials: never written to the audit log. Matched on the
 * key's words, in any case, at any depth: `secretKey`, `password`, `apiToken`, `credentials`,
 * `privateKey`, `client_secret`, `key`…
 */
const SECRET_NAME = /secret|passw|pwd|token|credential|key|auth|cookie|signature|private|cvv|cvc|pin$|^pin/i;

/** Keys that look like secrets by name but are the record's business: an idempotency key names a request. */
const NOT_SECRET = new Set(['idempotencyKey']);

export const REDACTED = '[REDACTED]';

export function isSecretName(key: string): boolean {
  return !NOT_SECRET.has(key) && SECRET_NAME.test(key);
}

/**
 * A copy of a mutation's arguments fit for the audit log: every value under a secret's name is
 * replaced, whatever it holds (an object of credentials goes whole). Dates become ISO strings,
 * bigints strings; iterative, so deep input cannot overflow the stack.
 */
export function redact(value: unknown): unknown {
  const root: { value?: unknown } = {};
  const pending: { from: unknown; into: Record<string, unknown> | unknown[]; key: string | number }[] = [
    { from: value, into: root as Record<string, unknown>, key: 'value' },
  ];
  while (pending.length > 0) {
    const { from, into, key } = pending.pop()!;
    let copy: unknown;
    if (from instanceof Date) copy = from.toISOString();
    else if (typeof from === 'bigint') copy = from.toString();
    else if (Array.isArray(from)) {
      const list: unknown[] = new Array(from.length);
      from.forEach((item, index) => pending.push({ from: item, into: list, key: index }));
      copy = list;
    } else if (from !== null && typeof from === 'object') {
      const object: Record<string, unknown> = {};
      for (const [name, item] of Object.entries(from)) {
        if (item === undefined) continue;
        if (isSecretName(name)) object[name] = REDACTED;
        else pending.push({ from: item, into: object, key: name });
      }
      copy = object;
    } else if (typeof from === 'function' || typeof from === 'symbol') copy = null;
    else copy = from;
    (into as Record<string | number, unknown>)[key] = copy;
  }
  return root.value ?? null;
}
