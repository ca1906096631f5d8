/**
 * What the top-up core accepts as a payment system's transaction id (printable ASCII, 1–200
 * characters) and as an account (a driver id or phone: printable, no control characters, at
 * most 64). Adapters check first, so a malformed value gets the protocol's code, not a throw.
 */
export function isExternalId(value: string | undefined): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,200}$/.test(value);
}

export function isAccount(value: string | undefined): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 64 && !/[\p{Cc}\p{Cs}]/u.test(value) && value.trim() === value;
}

/** An xs:long that is a positive id: 1 to 2^63 − 1, digits only. */
export function isPositiveLong(value: string | undefined): value is string {
  return typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) > 0n && BigInt(value) <= 9_223_372_036_854_775_807n;
}
