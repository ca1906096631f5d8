import { InvalidInputError } from './errors';

/** The range a PostgreSQL bigint holds; amounts outside it are refused, not wrapped. */
export const MAX_MINOR = 9_223_372_036_854_775_807n;
const MIN_MINOR = -MAX_MINOR - 1n;
const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** How many currencies there are: the most items a list with one entry per currency holds (for the query cost limit). */
export const CURRENCY_COUNT = ISO_CURRENCIES.size;

/**
 * Parses an amount in minor units: a string of digits with an optional leading `-`, or a JSON
 * number that is a safe integer. Fractions, exponents, floats and out-of-range values are refused.
 */
export function parseMinor(value: unknown, field = 'amount'): bigint {
  let minor: bigint;
  if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) {
    minor = BigInt(value);
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    minor = BigInt(value);
  } else if (typeof value === 'bigint') {
    minor = value;
  } else {
    throw new InvalidInputError(`${field} must be an integer number of minor units as a string of digits`, {
      field,
    });
  }
  if (minor > MAX_MINOR || minor < MIN_MINOR) throw new InvalidInputError(`${field} is out of range`, { field });
  return minor;
}

export function parsePositiveMinor(value: unknown, field = 'amount'): bigint {
  const minor = parseMinor(value, field);
  if (minor <= 0n) throw new InvalidInputError(`${field} must be positive`, { field });
  return minor;
}

/** An ISO 4217 code this runtime knows (and so `minorDigits` can read). */
export function isCurrency(value: unknown): value is string {
  return typeof value === 'string' && ISO_CURRENCIES.has(value);
}

export function parseCurrency(value: unknown, field = 'currency'): string {
  if (!isCurrency(value)) {
    throw new InvalidInputError(`${field} must be an ISO 4217 currency code`, { field });
  }
  return value;
}

const digitsByCurrency = new Map<string, number>();

/** Digits after the decimal point for a currency (RUB 2, JPY 0, KWD 3). */
export function minorDigits(currency: string): number {
  // Cached: building an Intl.NumberFormat costs ~50 µs, paid for every amount a list returns.
  let digits = digitsByCurrency.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsByCurrency.set(currency, digits);
  }
  return digits;
}

/** Formats minor units as a decimal in major units without going through floats: 67000 RUB → "670.00". */
export function formatMajor(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const whole = abs.slice(0, abs.length - digits);
  const fraction = digits > 0 ? `.${abs.slice(abs.length - digits)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}
