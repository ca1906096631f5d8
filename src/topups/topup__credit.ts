import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import { runGate } from '../platform/jobs';
import type { Logger } from '../platform/logger';
import type { TopUps } from './topups';

/** Credits one accepted top-up (or rejects it); throwing leaves it to graphile-worker's retries with backoff. */
export function topupCredit(orm: MikroORM, topups: TopUps): Task<'topup__credit'> {
  return async (payload) => {
    const { walletId, externalId } = payload as { walletId?: unknown; externalId?: unknown };
    if (typeof walletId !== 'string' || typeof externalId !== 'string') throw new Error('topup__credit needs walletId and externalId');
    await topups.credit(orm.em.fork(), walletId, externalId);
  };
}

/**
 * The credit gate: credits the ACCEPTED top-ups with no job of their own, `batch` at a time, then
 * books its next run `intervalMs` later. Callbacks book no job, so a pay's commit waits for no
 * other; a top-up is credited within about one interval.
 */
export function topupCreditAccepted(
  orm: MikroORM,
  topups: TopUps,
  settings: { batch: number; intervalMs: number; heldMs: number },
  logger: Logger,
): Task<'topup__credit_accepted'> {
  return (_payload, helpers) =>
    runGate(helpers, 'topup__credit_accepted', settings.intervalMs, async () => {
      const { found, failed, togetherFailed } = await topups.creditAccepted(orm.em.fork(), settings.batch, Math.ceil(settings.heldMs / 1000));
      if (togetherFailed) logger.warn({ err: togetherFailed, found }, 'top-ups could not be credited together: credited one by one');
      if (failed > 0) logger.warn({ failed, found }, 'top-ups not credited: each has a job of its own now, retried with backoff');
      return found === settings.batch;
    });
}
