import { DatabaseError } from 'pg';

/** Reads the PostgreSQL SQLSTATE and constraint name through MikroORM's exception wrappers. */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; sqlState?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.sqlState === 'string' ? e.sqlState : undefined;
}

/**
 * Whether PostgreSQL answered the statement with an error (so an autocommit statement left nothing),
 * as against a connection lost on the way, after which it may or may not have committed.
 */
export function refusedByDatabase(error: unknown): boolean {
  return error instanceof DatabaseError;
}

export function violatedConstraint(error: unknown): string | undefined {
  const e = error as { constraint?: unknown; message?: unknown };
  if (typeof e?.constraint === 'string') return e.constraint;
  const match = typeof e?.message === 'string' ? /constraint "([^"]+)"/.exec(e.message) : null;
  return match?.[1];
}

export const SqlState = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  numericOutOfRange: '22003',
} as const;

/**
 * Errors that say nothing about the work itself — a deadlock, a serialization failure, a lost
 * connection, a shutdown: doing the same work again later can succeed.
 */
export function isTransient(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('40') || state.startsWith('08') || state.startsWith('57P'));
}
