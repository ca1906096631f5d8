import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a secret a caller sent (a password, a checksum) with ours in constant time: both are
 * hashed first, so neither their lengths nor where they differ show in the time taken.
 * A missing value never matches.
 */
export function sameSecret(given: string | undefined, expected: string | undefined): boolean {
  if (typeof given !== 'string' || typeof expected !== 'string' || expected === '') return false;
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}
