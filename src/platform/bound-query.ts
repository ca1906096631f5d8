import type { EntityManager } from '@mikro-orm/postgresql';

/** The part of a pg client this needs. */
interface QueryableConnection {
  query(config: { text: string; values: readonly unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
}

/** The part of a knex client (the pool's, or a transaction's) this needs. */
interface ConnectionSource {
  acquireConnection(): Promise<QueryableConnection>;
  releaseConnection(connection: QueryableConnection): Promise<unknown>;
  emit(event: 'query', query: { method: 'raw'; sql: string; bindings: readonly unknown[] }): boolean;
  /** knex's own `?` → `$n` for PostgreSQL (`\?` a literal question mark), as its raw queries use. */
  positionBindings(sql: string): string;
}

/**
 * Runs SQL with its values sent as bound parameters, on the transaction `em` is in (or a pooled
 * connection of its own, as one autocommit statement). `em.execute` inlines every value into the
 * SQL text, escaping it character by character: fine for small statements, a measurable share of
 * the CPU for bulk arrays and JSON messages on hot paths. Placeholders are `?`, as for `em.execute`
 * (`\?` for a literal question mark). A `name` makes it a prepared statement, parsed and planned
 * once per connection: for a small statement run at a high rate, where planning is most of
 * PostgreSQL's work.
 *
 * The statement goes to the pg connection of knex's pool (or of the transaction) directly: knex's
 * query builder, its runner and its formatting of each statement were a tenth of an API process's
 * CPU on the busiest mutations, for nothing these statements need.
 */
export async function queryBound<T>(
  em: EntityManager,
  sql: string,
  values: readonly unknown[],
  options: { name?: string } = {},
): Promise<T[]> {
  const owner = em.getTransactionContext() ?? em.getKnex();
  const source = (owner as unknown as { client: ConnectionSource }).client;
  const statement = prepared(source, sql, values, options);
  const connection = await source.acquireConnection();
  try {
    return await send<T>(connection, statement);
  } finally {
    await source.releaseConnection(connection);
  }
}

/**
 * A pooled connection kept for statements that come one after another (a batcher's), given back to
 * the pool once none has come for `idleMs`. Taking a connection and giving it back is a dozen
 * promise hops through the pool; under load those wait behind every other callback's, and the
 * database sat idle ~0.6 ms before each statement. With the connection kept, a statement is on the
 * wire in the call that sends it. A statement that comes while the kept connection is busy (a
 * batcher's overlap) takes one of its own from the pool, as `queryBound` does. Autocommit
 * statements only: no transaction.
 */
export class KeptConnection {
  private connection: QueryableConnection | undefined;
  private busy = false;
  private releaseTimer: NodeJS.Timeout | undefined;
  private readonly source: ConnectionSource;

  constructor(
    private readonly em: EntityManager,
    /** Kept this long after its last statement; the pool's shutdown waits for it at most this long. */
    private readonly idleMs = 200,
  ) {
    this.source = (em.getKnex() as unknown as { client: ConnectionSource }).client;
  }

  async query<T>(sql: string, values: readonly unknown[], options: { name?: string } = {}): Promise<T[]> {
    if (this.busy) return queryBound<T>(this.em, sql, values, options);
    const statement = prepared(this.source, sql, values, options);
    this.busy = true;
    clearTimeout(this.releaseTimer);
    // One the server closed while it was kept (a restart, a failover) goes back for the pool to drop.
    if (this.connection && isDisposed(this.connection)) this.giveBack();
    try {
      this.connection ??= await this.source.acquireConnection();
      return await send<T>(this.connection, statement);
    } catch (error) {
      // The statement's own error or a broken connection: a fresh one next time (the pool checks
      // this one as it comes back, and drops it if it broke).
      this.giveBack();
      throw error;
    } finally {
      this.busy = false;
      if (this.connection) this.releaseTimer = setTimeout(() => this.giveBack(), this.idleMs);
    }
  }

  private giveBack(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) void this.source.releaseConnection(connection);
  }
}

/** knex marks a pooled pg connection that errored or ended; its pool's validation drops such ones. */
function isDisposed(connection: QueryableConnection): boolean {
  return Boolean((connection as { __knex__disposed?: unknown }).__knex__disposed);
}

interface Statement {
  text: string;
  values: readonly unknown[];
  name?: string;
}

/** The statement as PostgreSQL takes it, announced to knex's listeners as if knex had run it. */
function prepared(source: ConnectionSource, sql: string, values: readonly unknown[], options: { name?: string }): Statement {
  // A value left undefined is a bug of the caller's, not a NULL.
  if (values.includes(undefined)) throw new Error(`Undefined value bound to: ${sql.slice(0, 200)}`);
  // knex's own event: whoever counts or logs statements still sees this one.
  source.emit('query', { method: 'raw', sql, bindings: values });
  return { text: numbered(source, sql), values, ...(options.name ? { name: options.name } : {}) };
}

async function send<T>(connection: QueryableConnection, statement: Statement): Promise<T[]> {
  return (await connection.query(statement)).rows as T[];
}

/** Statements are few and fixed; their `$n` form is made once each (up to a bound, then anew). */
const numberedForms = new Map<string, string>();
const NUMBERED_FORMS_MAX = 1_000;

/** `?` placeholders as PostgreSQL's `$1, $2, …`, by knex's own rule, once per statement text. */
export function numbered(source: Pick<ConnectionSource, 'positionBindings'>, sql: string): string {
  let form = numberedForms.get(sql);
  if (form === undefined) {
    form = source.positionBindings(sql);
    if (numberedForms.size >= NUMBERED_FORMS_MAX) numberedForms.clear();
    numberedForms.set(sql, form);
  }
  return form;
}
