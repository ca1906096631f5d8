import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactionalRetrying } from '../src/platform/retry';
import { createTestApp, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.app.orm.em.fork().execute('CREATE TABLE retry_probe (attempt integer NOT NULL)');
});
afterAll(async () => t?.close());

/** Makes PostgreSQL itself fail the transaction with this SQLSTATE. */
const fail = (state: string) => `DO $$ BEGIN RAISE EXCEPTION 'chosen as the victim' USING ERRCODE = '${state}'; END $$`;

async function rows(): Promise<number[]> {
  const found = await t.app.orm.em.fork().execute<{ attempt: number }[]>('SELECT attempt FROM retry_probe ORDER BY attempt');
  return found.map((row) => row.attempt);
}

describe('a transaction retried when PostgreSQL gives up on it', () => {
  it('runs it again after a deadlock or a serialization failure, keeping only the attempt that committed', async () => {
    for (const state of ['40P01', '40001']) {
      await t.app.orm.em.fork().execute('TRUNCATE retry_probe');
      let attempts = 0;
      const result = await transactionalRetrying(t.app.orm.em, async (em) => {
        attempts += 1;
        await em.execute('INSERT INTO retry_probe (attempt) VALUES (?)', [attempts]);
        if (attempts === 1) await em.execute(fail(state));
        return 'done';
      });
      expect(result).toBe('done');
      expect(attempts).toBe(2);
      expect(await rows()).toEqual([2]);
    }
  });

  it('gives up after the attempts it was given, and never repeats other errors', async () => {
    await t.app.orm.em.fork().execute('TRUNCATE retry_probe');
    let attempts = 0;
    const always = transactionalRetrying(
      t.app.orm.em,
      async (em) => {
        attempts += 1;
        await em.execute(fail('40P01'));
      },
      3,
    );
    await expect(always).rejects.toMatchObject({ code: '40P01' });
    expect(attempts).toBe(3);

    attempts = 0;
    const notTransient = transactionalRetrying(t.app.orm.em, async (em) => {
      attempts += 1;
      await em.execute('INSERT INTO retry_probe (attempt) VALUES (?)', [attempts]);
      await em.execute(fail('23514'));
    });
    await expect(notTransient).rejects.toMatchObject({ code: '23514' });
    expect(attempts).toBe(1);
    expect(await rows()).toEqual([]);
  });
});
