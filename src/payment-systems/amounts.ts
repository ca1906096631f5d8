/**
 * Amounts as payment systems send them, parsed into integer minor units by string parsing (never
 * through a float). Each returns null for anything it does not accept, so the adapter can answer
 * with its protocol's own code: the caller never sees an exception for bad input.
 */

import { MAX_MINOR } from '../platform/money';

export type AmountProblem = 'MALFORMED' | 'NOT_POSITIVE' | 'TOO_PRECISE' | 'OVERFLOW';
export type ParsedAmount = { ok: true; minor: bigint } | { ok: false; problem: AmountProblem };

/**
 * A decimal in major units with a dot ("10.45", "10.4", "10"), at most `digits` fraction digits:
 * the currency's minor digits (`minorDigits(currency)`: 0 for JPY, 2 for RUB, 3 for KWD), so
 * callers pass them for the wallet's currency; more (trailing zeros aside) is TOO_PRECISE. The
 * default of 2 is for callers whose currency always has two. No sign, exponent, spaces, commas or
 * leading "+".
 */
export function parseMajorDecimal(value: string | undefined | null, digits = 2): ParsedAmount {
  if (typeof value !== 'string') return { ok: false, problem: 'MALFORMED' };
  const match = /^(-?)(\d{1,40})(?:\.(\d{1,40}))?$/.exec(value);
  if (!match) return { ok: false, problem: 'MALFORMED' };
  const [, sign, whole, fraction = ''] = match;
  if (fraction.replace(/0+$/, '').length > digits) return { ok: false, problem: 'TOO_PRECISE' };
  const minor = BigInt(whole!) * 10n ** BigInt(digits) + BigInt((fraction + '0'.repeat(digits)).slice(0, digits) || '0');
  if (minor > MAX_MINOR) return { ok: false, problem: 'OVERFLOW' };
  if (sign === '-' || minor === 0n) return { ok: false, problem: 'NOT_POSITIVE' };
  return { ok: true, minor };
}

/** An integer in minor units ("1045" tiyin, kobo): digits only. */
export function parseMinorInteger(value: string | number | undefined | null): ParsedAmount {
  const text = typeof value === 'number' ? (Number.isSafeInteger(value) ? String(value) : '') : value;
  if (typeof text !== 'string') return { ok: false, problem: 'MALFORMED' };
  const match = /^(-?)(\d{1,40})$/.exec(text);
  if (!match) return { ok: false, problem: typeof value === 'number' ? 'TOO_PRECISE' : 'MALFORMED' };
  const minor = BigInt(match[2]!);
  if (minor > MAX_MINOR) return { ok: false, problem: 'OVERFLOW' };
  if (match[1] === '-' || minor === 0n) return { ok: false, problem: 'NOT_POSITIVE' };
  return { ok: true, minor };
}
