import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { InvalidInputError } from '../platform/errors';
import { isUuid } from '../platform/ids';
import type { SqlWhere } from '../platform/graphql/pagination';
import { textArray } from '../platform/sql-arrays';
import { redact } from './redaction';
import { deriveTargets } from './targets';

/** An action as it is written to the log. */
export interface AuditRecord {
  subject: string;
  role: string;
  operation: string;
  arguments: unknown;
  /** Added by the caller; those the arguments name are derived here. */
  targets?: readonly string[];
  outcome: string;
  requestId: string;
  clientAddress?: string | null;
  userAgent?: string | null;
}

export interface AuditEntryRow {
  id: string;
  at: Date;
  /** `at` to the microsecond, for the keyset cursor (a Date keeps milliseconds). */
  at_key: string;
  subject: string;
  role: string;
  operation: string;
  arguments: unknown;
  targets: string[];
  outcome: string;
  request_id: string;
  client_address: string | null;
  user_agent: string | null;
}

const COLUMNS = `id, at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_key, subject, role, operation,
  arguments, targets, outcome, request_id, client_address, user_agent`;

/** The append-only audit log: one entry per mutation and CLI action, read newest first. */
export class AuditService {
  /**
   * Writes one entry in `em`'s transaction: one prepared INSERT, no answer awaited but its own.
   * The arguments are redacted and the targets derived from them here, so no caller can forget.
   */
  async record(em: EntityManager, record: AuditRecord): Promise<void> {
    const [subject, role, operation, args, targets, ...request] = this.values(record);
    await queryBound(
      em,
      `INSERT INTO audit_entry (subject, role, operation, arguments, targets, outcome, request_id, client_address, user_agent)
       VALUES (?, ?, ?, ?::jsonb, ?::text[], ?, ?, ?, ?)`,
      [subject, role, operation, args, targets, record.outcome, ...request],
      { name: 'audit_entry_record' },
    );
  }

  /**
   * The entry as a call of `audit_entry_append` inside another statement, whose SQL expression
   * `outcome` gives the outcome: that statement writes the entry in its own transaction. Redacted
   * and with its targets derived, as `record` writes it.
   */
  inStatement(record: Omit<AuditRecord, 'outcome'>): { sql(outcome: string, columns?: readonly string[]): string; values: unknown[] } {
    const values = this.values(record);
    return {
      sql: (outcome, columns = values.map(() => '?')) => {
        const [subject, role, operation, args, targets, requestId, clientAddress, userAgent] = columns;
        return `audit_entry_append(${subject}, ${role}, ${operation}, ${args}::jsonb, ${targets}::text[], ${outcome}, ${requestId}, ${clientAddress}, ${userAgent})`;
      },
      values,
    };
  }

  /** The entry's values but its outcome, in the table's column order. */
  private values(record: Omit<AuditRecord, 'outcome'>): unknown[] {
    return [
      record.subject,
      record.role,
      record.operation,
      JSON.stringify(redact(record.arguments ?? {})),
      textArray(deriveTargets(record.operation, record.arguments, record.targets)),
      record.requestId,
      record.clientAddress ?? null,
      record.userAgent ?? null,
    ];
  }

  async page(em: EntityManager, where: SqlWhere, first: number, after: { at: string; id: string } | null) {
    const params = [...where.params];
    let keyset = '';
    if (after) {
      keyset = ' AND (at, id) < (?::timestamptz, ?::uuid)';
      params.push(after.at, after.id);
    }
    const rows = await queryBound<AuditEntryRow>(
      em,
      `SELECT ${COLUMNS} FROM audit_entry WHERE ${where.sql}${keyset} ORDER BY at DESC, id DESC LIMIT ?`,
      [...params, first + 1],
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  async count(em: EntityManager, where: SqlWhere): Promise<number> {
    const [row] = await queryBound<{ n: string }>(em, `SELECT count(*) AS n FROM audit_entry WHERE ${where.sql}`, where.params);
    return Number(row!.n);
  }

  /** Makes the monthly partitions up to `monthsAhead` months on; returns those it made. */
  async ensurePartitions(em: EntityManager, monthsAhead: number): Promise<string[]> {
    const rows = await em.execute<{ made: string }[]>('SELECT audit_entry_ensure_partitions(?) AS made', [monthsAhead]);
    return rows.map((row) => row.made);
  }
}

/** The keyset cursor: `at` to the microsecond and the id. */
export function parseAuditCursor(parts: string[]): { at: string; id: string } {
  const [at, id] = parts as [string, string];
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(at) || !isUuid(id)) {
    throw new InvalidInputError('after is not a cursor this API returned', { field: 'after' });
  }
  return { at, id };
}
