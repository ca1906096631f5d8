import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../src/platform/jobs';
import { migrateAll } from '../src/processes';
import { createTestApp, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await migrateAll(t.app);
});
afterAll(async () => t?.close());

async function jobs(task: string) {
  return t.app.orm.em
    .fork()
    .execute<{ key: string | null; payload: unknown; run_at: Date }[]>(
      `SELECT j.key, j.payload, j.run_at FROM graphile_worker._private_jobs j
         JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE t.identifier = ?`,
      [task],
    );
}

describe('enqueueJob', () => {
  it('adds the job with the transaction that made it necessary', async () => {
    await t.app.orm.em.fork().transactional((em) => enqueueJob(em, 'test__committed', { n: 1 }));
    const found = await jobs('test__committed');
    expect(found).toHaveLength(1);
    expect(found[0]!.payload).toEqual({ n: 1 });
  });

  it('adds nothing when that transaction rolls back', async () => {
    await expect(
      t.app.orm.em.fork().transactional(async (em) => {
        await enqueueJob(em, 'test__rolled_back', {});
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await jobs('test__rolled_back')).toHaveLength(0);
  });

  it('keeps one pending job per key, moved to the latest run time', async () => {
    const first = new Date(Date.now() + 3_600_000);
    const later = new Date(Date.now() + 7_200_000);
    await t.app.orm.em.fork().transactional((em) => enqueueJob(em, 'shop__run', { shop: 's1' }, { jobKey: 'shop:s1', runAt: first }));
    await t.app.orm.em.fork().transactional((em) => enqueueJob(em, 'shop__run', { shop: 's1' }, { jobKey: 'shop:s1', runAt: later }));
    const found = await jobs('shop__run');
    expect(found).toHaveLength(1);
    expect(new Date(found[0]!.run_at).getTime()).toBe(later.getTime());
  });
});
