import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateAll } from '../src/app/processes';
import { createTestApp, type TestApp } from './helpers/app';

// Tasks of this test only: a payload of the wrong shape for them would not compile.
declare global {
  namespace GraphileWorker {
    interface Tasks {
      test__committed: { n: number };
      test__rolled_back: Record<string, never>;
      test__keyed: { shop: string };
    }
  }
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await migrateAll(t.app);
});
afterAll(async () => t?.close());

async function jobs(task: string) {
  return t.app.orm.em
    .fork()
    .execute<{ key: string | null; payload: unknown; run_at: Date; locked_at: Date | null; max_attempts: number }[]>(
      `SELECT j.key, j.payload, j.run_at, j.locked_at, j.max_attempts FROM graphile_worker._private_jobs j
         JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE t.identifier = ? ORDER BY j.key`,
      [task],
    );
}

const inTransaction = <T>(work: (em: Parameters<Parameters<TestApp['app']['orm']['em']['transactional']>[0]>[0]) => Promise<T>) =>
  t.app.orm.em.fork().transactional(work);

describe('the job queue', () => {
  it('adds the job with the transaction that made it necessary', async () => {
    await inTransaction((em) => t.app.jobs.add(em, 'test__committed', { n: 1 }));
    const found = await jobs('test__committed');
    expect(found).toHaveLength(1);
    expect(found[0]!.payload).toEqual({ n: 1 });
  });

  it('adds nothing when that transaction rolls back', async () => {
    await expect(
      inTransaction(async (em) => {
        await t.app.jobs.add(em, 'test__rolled_back', {});
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await jobs('test__rolled_back')).toHaveLength(0);
  });

  it('keeps one pending job per key, moved to the latest run time', async () => {
    const first = new Date(Date.now() + 3_600_000);
    const later = new Date(Date.now() + 7_200_000);
    await inTransaction((em) => t.app.jobs.add(em, 'test__keyed', { shop: 's1' }, { jobKey: 'keyed:s1', runAt: first, jobKeyMode: 'replace' }));
    await inTransaction((em) => t.app.jobs.add(em, 'test__keyed', { shop: 's1' }, { jobKey: 'keyed:s1', runAt: later, jobKeyMode: 'replace' }));
    const found = (await jobs('test__keyed')).filter((job) => job.key === 'keyed:s1');
    expect(found).toHaveLength(1);
    expect(new Date(found[0]!.run_at).getTime()).toBe(later.getTime());
  });

  it('lets a running job re-book its key without moving a job booked meanwhile to run sooner (preserve_run_at), as a top-up’s poll does after a delete', async () => {
    const far = new Date(Date.now() + 3_600_000);
    const soon = new Date(Date.now() + 60_000);
    await inTransaction((em) => t.app.jobs.add(em, 'test__keyed', { shop: 'p1' }, { jobKey: 'preserve:p1', runAt: far }));
    // As a worker holds it while it runs.
    await t.app.orm.em.fork().execute(`UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'test' WHERE key = 'preserve:p1'`);
    // Booked meanwhile to run sooner (a delete's "now"): beside the running one.
    await inTransaction((em) => t.app.jobs.addKeyed(em, 'test__keyed', [{ payload: { shop: 'p1' }, runAt: soon, jobKey: 'preserve:p1' }]));
    // The running one books its next run under the key, later.
    await inTransaction((em) => t.app.jobs.add(em, 'test__keyed', { shop: 'p1' }, { jobKey: 'preserve:p1', runAt: far, jobKeyMode: 'preserve_run_at' }));
    const keyed = (await jobs('test__keyed')).filter((job) => job.key === 'preserve:p1');
    expect(keyed.map((job) => new Date(job.run_at).getTime())).toEqual([soon.getTime()]);
    // With no job booked meanwhile, it is booked at its own time.
    await inTransaction((em) => t.app.jobs.add(em, 'test__keyed', { shop: 'p2' }, { jobKey: 'preserve:p2', runAt: far, jobKeyMode: 'preserve_run_at' }));
    expect((await jobs('test__keyed')).filter((job) => job.key === 'preserve:p2').map((job) => new Date(job.run_at).getTime())).toEqual([far.getTime()]);
  });

  it('books many keyed jobs in one call, each replacing its key’s pending job, and removes them by key', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const moved = new Date(Date.now() + 5_400_000);
    await inTransaction((em) =>
      t.app.jobs.addKeyed(em, 'test__keyed', [
        { payload: { shop: 'm1' }, runAt, jobKey: 'many:m1' },
        { payload: { shop: 'm2' }, runAt, jobKey: 'many:m2' },
      ]),
    );
    await inTransaction((em) => t.app.jobs.addKeyed(em, 'test__keyed', [{ payload: { shop: 'm2' }, runAt: moved, jobKey: 'many:m2', maxAttempts: 30_000 }]));
    const booked = (await jobs('test__keyed')).filter((job) => job.key?.startsWith('many:'));
    // Attempts: graphile-worker's default unless the job says.
    expect(booked.map((job) => [job.key, job.payload, new Date(job.run_at).getTime(), job.max_attempts])).toEqual([
      ['many:m1', { shop: 'm1' }, runAt.getTime(), 25],
      ['many:m2', { shop: 'm2' }, moved.getTime(), 30_000],
    ]);

    await inTransaction((em) => t.app.jobs.remove(em, ['many:m1', 'many:absent']));
    expect((await jobs('test__keyed')).filter((job) => job.key?.startsWith('many:')).map((job) => job.key)).toEqual(['many:m2']);
  });

  it('tells which keys have no job that could still run: none at all, one that used up its attempts, or one held past the grace', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    await inTransaction((em) =>
      t.app.jobs.addKeyed(em, 'test__keyed', [
        { payload: { shop: 'l1' }, runAt, jobKey: 'live:free' },
        { payload: { shop: 'l2' }, runAt, jobKey: 'live:held-now' },
        { payload: { shop: 'l3' }, runAt, jobKey: 'live:held-long' },
        { payload: { shop: 'l4' }, runAt, jobKey: 'live:spent' },
        { payload: { shop: 'l5' }, runAt, jobKey: 'live:last-try-now' },
      ]),
    );
    // As a worker holds a job (and as one killed mid-job leaves it held); one on its last attempt.
    await t.app.orm.em.fork().execute(
      `UPDATE graphile_worker._private_jobs SET locked_at = now() - (CASE key WHEN 'live:held-long' THEN interval '1 hour' ELSE interval '1 second' END),
              locked_by = 'test', attempts = CASE key WHEN 'live:last-try-now' THEN max_attempts ELSE attempts END
        WHERE key IN ('live:held-now', 'live:held-long', 'live:last-try-now')`,
    );
    // As a job that failed for good stays: unlocked, its attempts used up.
    await t.app.orm.em.fork().execute(`SELECT count(*) FROM graphile_worker.permanently_fail_jobs(ARRAY(SELECT id FROM graphile_worker.jobs WHERE key = 'live:spent'), 'test')`);
    const keys = ['live:free', 'live:held-now', 'live:held-long', 'live:spent', 'live:last-try-now', 'live:none'];
    const stranded = await t.app.jobs.keysWithoutLiveJob(t.app.orm.em.fork(), keys, 60);
    expect(stranded.sort()).toEqual(['live:held-long', 'live:none', 'live:spent']);
  });

  it('books or removes a job in the same round trip as the caller’s own statement, only if it touched a row', async () => {
    await t.app.orm.em.fork().execute('CREATE TABLE IF NOT EXISTS test_booking (id text PRIMARY KEY, at timestamptz)');
    await t.app.orm.em.fork().execute("INSERT INTO test_booking (id) VALUES ('b1') ON CONFLICT DO NOTHING");
    const touch = (id: string) => ({ sql: 'UPDATE test_booking SET at = now() WHERE id = ? RETURNING 1', params: [id] });
    const runAt = new Date(Date.now() + 3_600_000);
    const booked = async () => (await jobs('test__keyed')).filter((job) => job.key?.startsWith('after:')).map((job) => [job.key, job.payload]);

    await inTransaction((em) => t.app.jobs.afterStatement(em, touch('b1'), 'test__keyed', 'after:b1', { payload: { shop: 'b1' }, runAt }));
    await inTransaction((em) => t.app.jobs.afterStatement(em, touch('absent'), 'test__keyed', 'after:absent', { payload: { shop: 'x' }, runAt }));
    expect(await booked()).toEqual([['after:b1', { shop: 'b1' }]]);

    await expect(
      inTransaction(async (em) => {
        await t.app.jobs.afterStatement(em, touch('b1'), 'test__keyed', 'after:b1', null);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await booked()).toEqual([['after:b1', { shop: 'b1' }]]);

    await inTransaction((em) => t.app.jobs.afterStatement(em, touch('b1'), 'test__keyed', 'after:b1', null));
    expect(await booked()).toEqual([]);
  });
});
