import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import type { JobQueue } from '../platform/jobs';
import type { Logger } from '../platform/logger';
import { whereOf, type TransactionCriteria, type TransactionQueries, type TransactionScope } from './transaction.queries';
import { writeTransactionsXlsx } from './xlsx';

export const EXPORT_STATUSES = ['QUEUED', 'RUNNING', 'DONE', 'FAILED', 'EXPIRED'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

export interface ExportRow {
  id: string;
  requested_by: string;
  /** The scope of the token that asked: the file is served only to a token that covers it. */
  scope: TransactionScope;
  criteria: TransactionCriteria;
  timezone: string;
  status: ExportStatus;
  rows: number;
  bytes: number | null;
  error: string | null;
  created_at: Date;
  finished_at: Date | null;
  expires_at: Date | null;
}

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Writes one export's .xlsx into the database. */
      transaction_export__run: { exportId: string };
      /** Drops the files of expired exports (crontab). */
      transaction_export__expire: Record<string, never>;
    }
  }
}

/** Bytes per stored chunk: memory holds at most one while writing or serving. */
const CHUNK_BYTES = 1 << 20;

function toExportRow(row: Record<string, any>): ExportRow {
  const date = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string));
  const expired = row.status === 'DONE' && row.expires_at && new Date(row.expires_at).getTime() <= Date.now();
  return {
    id: row.id,
    requested_by: row.requested_by,
    scope: row.scope,
    criteria: row.criteria,
    timezone: row.timezone,
    status: expired ? 'EXPIRED' : row.status,
    rows: Number(row.rows),
    bytes: row.bytes === null ? null : Number(row.bytes),
    error: row.error,
    created_at: new Date(row.created_at),
    finished_at: date(row.finished_at),
    expires_at: date(row.expires_at),
  };
}

/** Is everything the export's token could see also visible to this scope? */
export function covers(scope: TransactionScope, stored: TransactionScope): boolean {
  if (scope.all) return true;
  if (stored.all) return false;
  return (
    stored.parks.every((park) => scope.parks.includes(park)) &&
    stored.drivers.every((driver) => scope.drivers.includes(driver) || scope.parks.includes(driver.slice(0, driver.indexOf('/'))))
  );
}

/** A file name that says what it holds: `transactions-<park or all>-<date>.xlsx`. */
export function fileNameOf(exp: ExportRow): string {
  const what = exp.criteria.parkId ? exp.criteria.parkId.replace(/[^A-Za-z0-9._-]/g, '_') : 'all';
  return `transactions-${what}-${exp.created_at.toISOString().slice(0, 10)}.xlsx`;
}

function describe(criteria: TransactionCriteria): string {
  return Object.entries(criteria)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : value}`)
    .join('; ');
}

/**
 * Excel exports of transactions: asked for in one transaction with their job, written by a worker
 * into `transaction_export_chunk` (so any API process can serve the file), expired after
 * `TRANSACTION_EXPORT_TTL`.
 */
export class TransactionExports {
  constructor(
    private readonly orm: MikroORM,
    private readonly queries: TransactionQueries,
    private readonly jobs: JobQueue,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly observe: (status: ExportStatus, rows: number) => void = () => {},
  ) {}

  async start(em: EntityManager, request: { criteria: TransactionCriteria; scope: TransactionScope; timezone: string; requestedBy: string }): Promise<ExportRow> {
    return em.transactional(async (tx) => {
      const [row] = await queryBound<Record<string, unknown>>(
        tx,
        `INSERT INTO transaction_export (id, requested_by, scope, criteria, timezone, status) VALUES (?::uuid, ?, ?::jsonb, ?::jsonb, ?, 'QUEUED') RETURNING *`,
        [randomUUID(), request.requestedBy, JSON.stringify(request.scope), JSON.stringify(request.criteria), request.timezone],
      );
      await this.jobs.add(tx, 'transaction_export__run', { exportId: row!.id as string }, { maxAttempts: 3 });
      return toExportRow(row!);
    });
  }

  async find(em: EntityManager, id: string): Promise<ExportRow | null> {
    const [row] = await queryBound<Record<string, unknown>>(em, 'SELECT * FROM transaction_export WHERE id = ?::uuid', [id]);
    return row ? toExportRow(row) : null;
  }

  /** The job: writes the file a chunk at a time, reporting rows as it goes. A retry starts over. */
  async run(exportId: string): Promise<void> {
    const em = this.orm.em.fork();
    const [claimed] = await queryBound<Record<string, unknown>>(
      em,
      `UPDATE transaction_export SET status = 'RUNNING', rows = 0, started_at = now() WHERE id = ?::uuid AND status IN ('QUEUED', 'RUNNING') RETURNING *`,
      [exportId],
    );
    if (!claimed) return;
    const exp = toExportRow(claimed);
    await queryBound(em, 'DELETE FROM transaction_export_chunk WHERE export_id = ?::uuid', [exportId]);
    let seq = 0;
    let bytes = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await queryBound(em, 'INSERT INTO transaction_export_chunk (export_id, seq, data) VALUES (?::uuid, ?, ?)', [exportId, seq++, data]);
      bytes += data.length;
    };
    const sink = new Writable({
      highWaterMark: CHUNK_BYTES,
      write(chunk: Buffer, _encoding, done) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < CHUNK_BYTES) return done();
        flush().then(() => done(), done);
      },
      final(done) {
        flush().then(() => done(), done);
      },
    });
    const finished = new Promise<void>((resolve, reject) => {
      sink.on('finish', resolve);
      sink.on('error', reject);
    });
    try {
      const where = whereOf(exp.criteria, exp.scope);
      const { rows } = await writeTransactionsXlsx(
        sink,
        this.queries.stream(em, where),
        { filter: describe(exp.criteria), timezone: exp.timezone, exportedAt: new Date() },
        async (rows) => {
          await queryBound(em, 'UPDATE transaction_export SET rows = ? WHERE id = ?::uuid', [rows, exportId]);
        },
      );
      await finished;
      await queryBound(
        em,
        `UPDATE transaction_export SET status = 'DONE', rows = ?, bytes = ?, finished_at = now(), expires_at = now() + ? * interval '1 millisecond' WHERE id = ?::uuid`,
        [rows, bytes, this.ttlMs, exportId],
      );
      this.observe('DONE', rows);
    } catch (error) {
      this.logger.error({ err: error, exportId }, 'transaction export failed');
      await queryBound(em, 'DELETE FROM transaction_export_chunk WHERE export_id = ?::uuid', [exportId]);
      await queryBound(em, `UPDATE transaction_export SET status = 'FAILED', error = ?, finished_at = now() WHERE id = ?::uuid`, [
        'the export could not be written; ask for it again',
        exportId,
      ]);
      this.observe('FAILED', 0);
    }
  }

  /** The file, one chunk in memory at a time. */
  content(exportId: string): Readable {
    const em = this.orm.em.fork();
    return Readable.from(
      (async function* () {
        for (let seq = 0; ; seq++) {
          const [chunk] = await queryBound<{ data: Buffer }>(em, 'SELECT data FROM transaction_export_chunk WHERE export_id = ?::uuid AND seq = ?', [exportId, seq]);
          if (!chunk) return;
          yield chunk.data;
        }
      })(),
      { objectMode: false },
    );
  }

  /** Marks finished exports past their time EXPIRED and drops their files. */
  async expire(): Promise<number> {
    const em = this.orm.em.fork();
    const expired = await queryBound<{ id: string }>(
      em,
      `UPDATE transaction_export SET status = 'EXPIRED' WHERE status = 'DONE' AND expires_at <= now() RETURNING id`,
      [],
    );
    if (expired.length > 0) {
      await queryBound(em, 'DELETE FROM transaction_export_chunk WHERE export_id = ANY (?::uuid[])', [`{${expired.map((e) => e.id).join(',')}}`]);
    }
    return expired.length;
  }
}
