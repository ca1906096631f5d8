import { InvalidInputError } from '../errors';

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) {
    throw new InvalidInputError(`first must be between 0 and ${MAX_PAGE}`, { field: 'first' });
  }
  return first;
}

/** Opaque keyset cursor over (time, id), newest first. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  const at = new Date(text.slice(0, bar));
  const id = text.slice(bar + 1);
  if (bar < 0 || Number.isNaN(at.getTime()) || id.length === 0 || id.length > 64) {
    throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  }
  return { at, id };
}
