import type { App } from '../../src/app/app';
import { round } from './stats';

/** Statements the service sends, from knex's query events while `work` runs. */
export async function countStatements(app: App, work: () => Promise<unknown>, width = 70): Promise<string[]> {
  const knex = app.orm.em.getConnection().getKnex();
  const seen: string[] = [];
  // Values inlined by the ORM become `?`, so the same statement counts as one.
  const listener = (query: { sql: string }) =>
    seen.push(query.sql.replace(/'(?:[^']|'')*'/g, '?').replace(/\s+/g, ' ').trim().slice(0, width));
  knex.on('query', listener);
  try {
    await work();
  } finally {
    knex.removeListener('query', listener);
  }
  return seen;
}

/** Statements per call, and the distinct statements with how often each ran. */
export function statementProfile(statements: string[], calls: number) {
  const counts = new Map<string, number>();
  for (const s of statements) counts.set(s, (counts.get(s) ?? 0) + 1);
  return {
    perCall: round(statements.length / calls, 2),
    statements: [...counts].sort((a, b) => b[1] - a[1]).map(([sql, n]) => `${round(n / calls, 2)}× ${sql}`),
  };
}
