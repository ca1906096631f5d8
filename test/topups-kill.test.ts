import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { parksModule } from '../src/parks/module';
import { topupsModule } from '../src/topups/module';
import { walletsModule } from '../src/wallets/module';
import { waitFor } from './helpers/kafka';
import { startWorkerProcess, useWorkerDatabase } from './helpers/worker-process';

const TOPUPS = 1000;

describe('a worker SIGKILLed between accept and credit', () => {
  const db = useWorkerDatabase();

  const count = async (sql: string) => Number((await db.app.orm.em.fork().execute<{ n: string }[]>(sql))[0]!.n);

  it('leaves nothing uncredited and nothing credited twice once another worker runs', { timeout: 180_000 }, async () => {
    const em = () => db.app.orm.em.fork();
    const { parks, drivers } = db.app.use(parksModule);
    await em().transactional(async (tx) => {
      await parks.upsert(tx, { parkId: 'kp', name: 'Kill Park', currency: 'RUB', email: null, timezone: 'UTC', status: 'ACTIVE', occurredAt: new Date() }, null);
      await drivers.upsert(tx, { parkId: 'kp', driverId: 'd1', name: 'D', phone: null, status: 'WORKING', occurredAt: new Date() });
    });
    const wallet = await em().transactional((tx) =>
      db.app.use(walletsModule).wallets.create(tx, { parkId: 'kp', paymentSystem: 'TBC', title: 'TBC', currency: 'RUB', enabled: true, minAmount: null, maxAmount: null, credentials: null }, 'test'),
    );
    const { topups } = db.app.use(topupsModule);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = next++; n < TOPUPS; n = next++) await topups.accept(em(), wallet, `k-${n}`, 'd1', 100n + BigInt(n));
      }),
    );
    expect(await count(`SELECT count(*) AS n FROM topup_transaction WHERE status = 'ACCEPTED'`)).toBe(TOPUPS);

    const env = { TOPUP_CREDIT_REBOOK_AFTER: '1s', WORKER_CONCURRENCY: '4', WORKER_LOCAL_QUEUE: '16' };
    const victim = startWorkerProcess(db.url, env);
    expect(await victim.started(), victim.output()).toBe(true);
    await waitFor(() => count(`SELECT count(*) AS n FROM topup_transaction WHERE status = 'PROCESSED'`), (n) => n >= 50, 60_000);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = await count(`SELECT count(*) AS n FROM topup_transaction WHERE status = 'PROCESSED'`);
    expect(atKill, 'every top-up was credited before the kill').toBeLessThan(TOPUPS);
    // What the killed worker held: credit jobs locked by a worker that is gone (for hours, left alone).
    expect(await count(`SELECT count(*) AS n FROM graphile_worker._private_jobs WHERE task_id IS NOT NULL AND locked_at IS NOT NULL`)).toBeGreaterThan(0);

    const heir = startWorkerProcess(db.url, env);
    expect(await heir.started(), heir.output()).toBe(true);
    await waitFor(() => count(`SELECT count(*) AS n FROM topup_transaction WHERE status = 'PROCESSED'`), (n) => n === TOPUPS, 150_000);
    heir.child.kill('SIGTERM');
    expect(await heir.exited).toEqual({ code: 0, signal: null });

    expect(await count(`SELECT count(*) AS n FROM ledger_transfer WHERE kind = 'TOPUP'`)).toBe(TOPUPS);
    const expected = Array.from({ length: TOPUPS }, (_, n) => 100 + n).reduce((a, b) => a + b, 0);
    expect(await count(`SELECT balance AS n FROM ledger_account WHERE owner_kind = 'DRIVER' AND owner_id = 'kp/d1' AND type = 'balance'`)).toBe(expected);
    expect(await db.app.checkLedger()).toEqual([]);
  });
});
