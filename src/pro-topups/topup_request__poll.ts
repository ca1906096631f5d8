import type { Task } from 'graphile-worker';
import { POLL_MAX_ATTEMPTS, pollJobKey, type ProTopUps } from './pro-topups';

/**
 * Watches one top-up awaiting payment: asks the payment system, then books itself again under the
 * top-up's key until it is settled or given up. Throwing (the payment system unreachable once its
 * time is up) leaves it to graphile-worker's retries with backoff, which never run out
 * (`POLL_MAX_ATTEMPTS`).
 */
export function topupRequestPoll(topups: ProTopUps): Task<'topup_request__poll'> {
  return async (payload, helpers) => {
    const { walletId, externalId } = payload as { walletId?: unknown; externalId?: unknown };
    if (typeof walletId !== 'string' || typeof externalId !== 'string') throw new Error('topup_request__poll needs walletId and externalId');
    const next = await topups.poll(walletId, externalId);
    // A job booked under the key while this one ran (a wallet deleted: closeAll's "now") keeps its time.
    if (next) await helpers.addJob('topup_request__poll', { walletId, externalId }, { jobKey: pollJobKey(walletId, externalId), jobKeyMode: 'preserve_run_at', runAt: next, maxAttempts: POLL_MAX_ATTEMPTS });
  };
}
