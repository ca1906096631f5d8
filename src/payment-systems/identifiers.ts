/**
 * What the top-up core accepts as a payment system's transaction id (printable ASCII, 1–200
 * characters) and as an account (a driver id or phone: letters, digits, `_.+-()` and spaces, at
 * most 100, the rule of the OSMP adapters). Adapters check first, so a malformed value gets the
 * protocol's code, not a throw.
 */
export function isExternalId(value: string | undefined): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,200}$/.test(value);
}

export function isAccount(value: string | undefined): value is string {
  return typeof value === 'string' && /^[\p{L}\p{N}_.+\-() ]{1,100}$/u.test(value);
}

/** An xs:long that is a positive id: 1 to 2^63 − 1, digits only. */
export function isPositiveLong(value: string | undefined): value is string {
  return typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) > 0n && BigInt(value) <= 9_223_372_036_854_775_807n;
}
