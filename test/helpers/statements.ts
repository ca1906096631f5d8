import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * The SQL of every statement the ORM's connections ran while `work` ran (knex's `query` event,
 * which `queryBound` raises too), with what `work` returned: for tests of how many round trips a
 * path takes.
 */
export async function statementsDuring<T>(orm: MikroORM, work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const knex = orm.em.getKnex();
  const listener = (query: { sql: string }) => statements.push(query.sql);
  knex.on('query', listener);
  try {
    return { result: await work(), statements };
  } finally {
    knex.removeListener('query', listener);
  }
}
