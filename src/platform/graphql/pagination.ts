import { InvalidInputError } from '../errors';
import { isUuid } from '../ids';

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) {
    throw new InvalidInputError(`first must be between 0 and ${MAX_PAGE}`, { field: 'first' });
  }
  return first;
}

/** One page of rows, and whether another follows. */
export interface Page<TRow> {
  rows: TRow[];
  hasNextPage: boolean;
}

/** A raw-SQL WHERE clause and its parameters, as the read sides build them from filters. */
export interface SqlWhere {
  sql: string;
  params: unknown[];
}

/** The instants a cursor may carry: what `toISOString` writes for years 0001–9999, which PostgreSQL reads back (it has no year 0). */
const CURSOR_TIME = /^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A time inside a cursor, or BAD_USER_INPUT: a date PostgreSQL cannot take (year 99999) is the caller's error, not ours. */
export function cursorTime(text: string): Date {
  const at = new Date(text);
  if (!CURSOR_TIME.test(text) || Number.isNaN(at.getTime()) || at.toISOString() !== text) {
    throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  }
  return at;
}

/** Opaque keyset cursor over (time, id), newest first. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  const id = text.slice(bar + 1);
  if (bar < 0 || !isUuid(id)) throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  return { at: cursorTime(text.slice(0, bar)), id };
}

/** Opaque cursor over any sort key (e.g. a shop's party and shop ids), in the order given. */
export function encodeKeyCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeKeyCursor(cursor: string, arity: number): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((part) => typeof part === 'string' && !part.includes('\u0000'))) {
    throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  }
  return key as string[];
}

export interface Connection<TNode> {
  edges: { cursor: string; node: TNode }[];
  nodes: TNode[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  countQuery: () => Promise<number>;
}

/** A Relay connection from one page of rows; `totalCount` runs `countQuery` only when asked. */
export function toConnection<TRow, TNode>(
  page: { rows: TRow[]; hasNextPage: boolean },
  options: { cursorOf: (row: TRow) => string; nodeOf: (row: TRow) => TNode; after?: string | null; countQuery: () => Promise<number> },
): Connection<TNode> {
  const edges = page.rows.map((row) => ({ cursor: options.cursorOf(row), node: options.nodeOf(row) }));
  return {
    edges,
    nodes: edges.map((e) => e.node),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: Boolean(options.after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
    countQuery: options.countQuery,
  };
}
