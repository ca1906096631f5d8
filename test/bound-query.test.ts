import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeptConnection, numbered, queryBound } from '../src/platform/bound-query';
import { initORM } from '../src/platform/orm';
import { createTestDatabase } from './helpers/database';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: MikroORM;

beforeAll(async () => {
  database = await createTestDatabase();
  orm = await initORM({ databaseUrl: database.url, poolMax: 4, entities: [], migrations: [] });
  await orm.em.fork().execute('CREATE TABLE bound_query_probe (id int PRIMARY KEY, label text)');
  await orm.em.fork().execute('CREATE TABLE kept_connection_probe (id int PRIMARY KEY)');
});

afterAll(async () => {
  await orm?.close(true);
  await database?.drop();
});

describe('queryBound', () => {
  it('numbers the placeholders in order and keeps an escaped one as a literal question mark', () => {
    const knexClient = (orm.em.getKnex() as unknown as { client: Parameters<typeof numbered>[0] }).client;
    expect(numbered(knexClient, 'SELECT ?::int + ?::int, \\? AS literal, ?')).toBe('SELECT $1::int + $2::int, ? AS literal, $3');
  });

  it('binds values of every kind the services send, as a named statement too (times come back as text, as MikroORM reads them)', async () => {
    const em = orm.em.fork();
    const sql = 'SELECT ?::text AS text, ?::bigint::text AS big, ?::timestamptz AS at, ?::text[] AS list, ?::int AS nothing';
    for (let i = 0; i < 2; i += 1) {
      const [row] = await queryBound<Record<string, unknown>>(em, sql, ['a\'b', 2n ** 62n, new Date('2026-11-02T10:00:00Z'), '{x,"y z"}', null], { name: 'bound_query_kinds' });
      expect(row).toEqual({ text: "a'b", big: (2n ** 62n).toString(), at: '2026-11-02 10:00:00+00', list: ['x', 'y z'], nothing: null });
    }
  });

  it('runs on the transaction em is in: its writes are seen there and go with its rollback', async () => {
    await expect(
      orm.em.fork().transactional(async (em) => {
        await queryBound(em, 'INSERT INTO bound_query_probe VALUES (?, ?)', [1, 'rolled back']);
        const seen = await queryBound<{ label: string }>(em, 'SELECT label FROM bound_query_probe WHERE id = ?', [1]);
        expect(seen).toEqual([{ label: 'rolled back' }]);
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    await orm.em.fork().transactional((em) => queryBound(em, 'INSERT INTO bound_query_probe VALUES (?, ?)', [2, 'kept']));
    const rows = await queryBound<{ id: number; label: string }>(orm.em.fork(), 'SELECT id, label FROM bound_query_probe ORDER BY id', []);
    expect(rows).toEqual([{ id: 2, label: 'kept' }]);
  });

  it('is seen by knex query listeners like a statement knex ran, in a transaction too', async () => {
    const knex = orm.em.getKnex();
    const seen: string[] = [];
    const listener = (query: { sql: string }) => seen.push(query.sql);
    knex.on('query', listener);
    try {
      await queryBound(orm.em.fork(), 'SELECT ?::int AS outside', [1]);
      await orm.em.fork().transactional((em) => queryBound(em, 'SELECT ?::int AS inside', [2]));
    } finally {
      knex.removeListener('query', listener);
    }
    expect(seen.filter((sql) => sql.includes('AS outside') || sql.includes('AS inside'))).toEqual(['SELECT ?::int AS outside', 'SELECT ?::int AS inside']);
  });

  it('refuses an undefined value instead of binding NULL, and passes database errors with their code', async () => {
    await expect(queryBound(orm.em.fork(), 'SELECT ?::int', [undefined])).rejects.toThrow(/Undefined value/);
    await expect(queryBound(orm.em.fork(), 'INSERT INTO bound_query_probe VALUES (?, ?)', [2, 'again'])).rejects.toMatchObject({ code: '23505' });
    // The connection went back to the pool after each failure: the pool of four still answers five at once.
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => queryBound<{ n: number }>(orm.em.fork(), 'SELECT ?::int AS n', [i])));
    expect(answers.map(([row]) => row!.n)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('KeptConnection', () => {
  const backend = async (kept: KeptConnection) => (await kept.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', []))[0]!.pid;

  it('runs statements one after another on one connection, and gives it back once they stop coming', async () => {
    const kept = new KeptConnection(orm.em.fork(), 50);
    const first = await backend(kept);
    expect(await backend(kept)).toBe(first);
    expect(await backend(kept)).toBe(first);
    const pool = (orm.em.getKnex() as unknown as { client: { pool: { numUsed(): number } } }).client.pool;
    expect(pool.numUsed()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(pool.numUsed()).toBe(0);
  });

  it('gives a statement that comes while the kept connection is busy a pooled connection of its own', async () => {
    const kept = new KeptConnection(orm.em.fork(), 50);
    const [slow, beside] = await Promise.all([
      kept.query<{ pid: number }>('SELECT pg_backend_pid() AS pid FROM pg_sleep(0.1)', []),
      kept.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', []),
    ]);
    expect(beside[0]!.pid).not.toBe(slow[0]!.pid);
    // The kept one is the first statement's.
    expect(await backend(kept)).toBe(slow[0]!.pid);
  });

  it('passes a statement error with its code, and the next statement runs on a fresh connection', async () => {
    const kept = new KeptConnection(orm.em.fork(), 50);
    await kept.query('INSERT INTO kept_connection_probe VALUES (?)', [1]);
    await expect(kept.query('INSERT INTO kept_connection_probe VALUES (?)', [1])).rejects.toMatchObject({ code: '23505' });
    await expect(kept.query('SELECT ?::int', [undefined])).rejects.toThrow(/Undefined value/);
    expect(await kept.query<{ n: number }>('SELECT count(*)::int AS n FROM kept_connection_probe', [])).toEqual([{ n: 1 }]);
    // Every connection it took went back to the pool: none is lost to a failure.
    await new Promise((resolve) => setTimeout(resolve, 120));
    const pool = (orm.em.getKnex() as unknown as { client: { pool: { numUsed(): number } } }).client.pool;
    expect(pool.numUsed()).toBe(0);
  });

  it('takes a fresh connection when the server closed the kept one (a restart, a failover): no statement fails for it', async () => {
    const kept = new KeptConnection(orm.em.fork(), 1_000);
    const first = await backend(kept);
    await orm.em.fork().execute(`SELECT pg_terminate_backend(${first})`);
    // The pg client hears of it as an error event on the idle connection.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await backend(kept);
    expect(second).not.toBe(first);
    expect(await backend(kept)).toBe(second);
  });

  it('does not hold up the pool shutdown for longer than its idle time', async () => {
    const own = await initORM({ databaseUrl: database.url, poolMax: 2, entities: [], migrations: [] });
    const kept = new KeptConnection(own.em.fork(), 100);
    await backend(kept);
    const started = performance.now();
    await own.close(true);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
