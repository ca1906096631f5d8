import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { TopUps } from './topups';

/** Credits one accepted top-up (or rejects it); throwing leaves it to graphile-worker's retries with backoff. */
export function topupCredit(orm: MikroORM, topups: TopUps): Task<'topup__credit'> {
  return async (payload) => {
    const { walletId, externalId } = payload as { walletId?: unknown; externalId?: unknown };
    if (typeof walletId !== 'string' || typeof externalId !== 'string') throw new Error('topup__credit needs walletId and externalId');
    await topups.credit(orm.em.fork(), walletId, externalId);
  };
}
