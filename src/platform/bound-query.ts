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
  // A value left undefined is a bug of the caller's, not a NULL.
  if (values.includes(undefined)) throw new Error(`Undefined value bound to: ${sql.slice(0, 200)}`);
  const owner = em.getTransactionContext() ?? em.getKnex();
  const source = (owner as unknown as { client: ConnectionSource }).client;
  const text = numbered(source, sql);
  // knex's own event, as if knex had run it: whoever counts or logs statements still sees this one.
  source.emit('query', { method: 'raw', sql, bindings: values });
  const connection = await source.acquireConnection();
  try {
    const result = await connection.query({ text, values, ...(options.name ? { name: options.name } : {}) });
    return result.rows as T[];
  } finally {
    await source.releaseConnection(connection);
  }
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
