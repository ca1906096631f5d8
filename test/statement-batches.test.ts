import { describe, expect, it } from 'vitest';
import { BatchesFullError, fulfilled, StatementBatches } from '../src/platform/statement-batches';

/** A `run` whose calls the test finishes by hand, recording what each was given. */
function controlledRun() {
  const calls: { items: number[]; finish: (answers?: PromiseSettledResult<string>[]) => void; fail: (error: Error) => void }[] = [];
  const run = (items: readonly number[]) =>
    new Promise<PromiseSettledResult<string>[]>((resolve, reject) => {
      calls.push({ items: [...items], finish: (answers) => resolve(answers ?? items.map((n) => fulfilled(`done ${n}`))), fail: reject });
    });
  return { calls, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StatementBatches', () => {
  it('runs the callers of one tick together, and a lone caller at once', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 10, maxInFlight: 2 });
    const together = [1, 2, 3].map((n) => batches.submit(n));
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3]]);
    const alone = batches.submit(4);
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3], [4]]);
    calls[0]!.finish();
    calls[1]!.finish();
    expect(await Promise.all(together)).toEqual(['done 1', 'done 2', 'done 3']);
    expect(await alone).toBe('done 4');
  });

  it('keeps at most maxInFlight statements of at most maxBatch items; the rest waits and goes together next', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 2, maxInFlight: 2 });
    const answers = Array.from({ length: 7 }, (_, i) => batches.submit(i));
    await tick();
    expect(calls.map((c) => c.items)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    calls[0]!.finish();
    await tick();
    expect(calls.map((c) => c.items)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    calls[1]!.finish();
    calls[2]!.finish();
    await tick();
    expect(calls[3]!.items).toEqual([6]);
    calls[3]!.finish();
    expect(await Promise.all(answers)).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `done ${n}`));
  });

  it('with overlapAfterMs, gathers the callers behind a running statement into the next one instead of starting beside it', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 10, maxInFlight: 4, overlapAfterMs: 60_000 });
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const timersBefore = timers();
    const first = batches.submit(1);
    await tick();
    const behind = [2, 3, 4].map((n) => batches.submit(n));
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1]]);
    calls[0]!.finish();
    await first;
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]]);
    calls[1]!.finish();
    expect(await Promise.all(behind)).toEqual(['done 2', 'done 3', 'done 4']);
    // The wait set while the first ran ended when it finished: no timer is left to keep a process up.
    expect(timers()).toBe(timersBefore);
  });

  it('with overlapAfterMs, starts a statement beside one that has run that long (stuck on a lock), and no more than maxInFlight', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 10, maxInFlight: 2, overlapAfterMs: 20 });
    const answers = [batches.submit(1)];
    await tick();
    answers.push(batches.submit(2), batches.submit(3));
    await tick();
    expect(calls).toHaveLength(1);
    const deadline = Date.now() + 5_000;
    while (calls.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3]]);
    // Two run, the limit: a third caller waits however long they take.
    answers.push(batches.submit(4));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(calls).toHaveLength(2);
    calls[0]!.finish();
    await answers[0];
    const next = Date.now() + 5_000;
    while (calls.length < 3 && Date.now() < next) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls[2]!.items).toEqual([4]);
    calls[1]!.finish();
    calls[2]!.finish();
    expect(await Promise.all(answers)).toEqual(['done 1', 'done 2', 'done 3', 'done 4']);
  });

  it('gives each caller its own answer, a refusal only to its caller, and a failed statement to all of its batch', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 2, maxInFlight: 2 });
    const settled = [1, 2, 3, 4].map((n) => batches.submit(n).then((value) => ({ value }), (error: Error) => ({ error: error.message })));
    await tick();
    calls[0]!.finish([fulfilled('paid 1'), { status: 'rejected', reason: new Error('refused 2') }]);
    calls[1]!.fail(new Error('statement failed'));
    expect(await Promise.all(settled)).toEqual([{ value: 'paid 1' }, { error: 'refused 2' }, { error: 'statement failed' }, { error: 'statement failed' }]);
    // The batcher goes on after a failure.
    const next = batches.submit(5);
    await tick();
    calls[2]!.finish();
    expect(await next).toBe('done 5');
  });

  it('refuses a batch answered with a different number of answers than it had items', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 10, maxInFlight: 1 });
    const answers = [1, 2].map((n) => batches.submit(n).catch((error: Error) => error.message));
    await tick();
    calls[0]!.finish([fulfilled('only one')]);
    expect(await Promise.all(answers)).toEqual(['a batch of 2 got 1 answers', 'a batch of 2 got 1 answers']);
  });

  it('with maxWaiting, refuses a caller at once while that many wait behind stalled statements, and takes callers again once they drain', async () => {
    const { calls, run } = controlledRun();
    const batches = new StatementBatches(run, { maxBatch: 2, maxInFlight: 1, maxWaiting: 3 });
    const first = batches.submit(0);
    await tick();
    expect(calls).toHaveLength(1); // stalled: nothing finishes it yet
    const waiting = [1, 2, 3].map((n) => batches.submit(n));
    await expect(batches.submit(4)).rejects.toBeInstanceOf(BatchesFullError);
    calls[0]!.finish(); // the next statement takes [1, 2]: one waits
    await tick();
    const again = batches.submit(5);
    expect(calls.map((c) => c.items)).toEqual([[0], [1, 2]]);
    calls[1]!.finish();
    await tick();
    calls[2]!.finish(); // [3, 5]
    expect(await Promise.all([first, ...waiting, again])).toEqual(['done 0', 'done 1', 'done 2', 'done 3', 'done 5']);
  });
});
