import type { EntityManager } from '@mikro-orm/postgresql';
import type { MailQueue } from '../mail/mail-queue';
import type { ParkService } from '../parks/park.service';
import { queryBound } from '../platform/bound-query';
import type { Logger } from '../platform/logger';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Warns parks whose QIWI key expires within 30, 7 or 1 days, or has expired (daily). */
      wallet__key_expiry: Record<string, never>;
    }
  }
}

/** Days before expiry a park is warned; 0: the key has expired. */
export const NOTICE_THRESHOLDS = [30, 7, 1, 0] as const;

interface DueNotice {
  wallet_id: string;
  /** As PostgreSQL writes it (microseconds: a Date would lose them and match nothing). */
  credentials_set_at: string;
  park_id: string;
  title: string;
  expires_at: Date;
  threshold_days: number;
}

/**
 * QIWI secret keys live a year. Each run finds the QIWI wallets whose key expires within 30 days
 * and, for the nearest threshold each has reached (30, 7, 1 days, or expired), records one notice
 * per wallet, key and threshold — the table's unique key — and enqueues its e-mail to the park in
 * the same transaction. A key replaced since is another key (`credentials_set_at`): the old key's
 * notices say nothing of it, and a new key a year away is not due. A run that starts late sends
 * only the nearest threshold, not every one it missed.
 *
 * The park's address is `email` of `fleet.parks` (contracts.md); a park without one is logged and
 * counted, and its notice still recorded (the dispatcher UI shows the expiry either way). A notice
 * mailed names the address (`sent_to`) and its message (`email_id`); whether the message was
 * delivered is the mail module's to say (`MailQueue.delivery`), not the notice's.
 */
export class KeyExpiry {
  constructor(
    private readonly parks: ParkService,
    private readonly mail: MailQueue,
    private readonly logger: Logger,
    private readonly noticed: (threshold: number, mailed: boolean) => void = () => {},
  ) {}

  /** Returns how many notices were new. */
  async run(em: EntityManager, now: Date): Promise<number> {
    return em.transactional(async (tx) => {
      const due = await queryBound<DueNotice>(
        tx,
        `WITH due AS (
           SELECT id, park_id, title, credentials_expire_at, credentials_set_at,
                  CASE WHEN credentials_expire_at <= ?::timestamptz THEN 0
                       WHEN credentials_expire_at <= ?::timestamptz + interval '1 day' THEN 1
                       WHEN credentials_expire_at <= ?::timestamptz + interval '7 days' THEN 7
                       ELSE 30 END AS threshold_days
             FROM wallet
            WHERE payment_system = 'QIWI' AND deleted_at IS NULL AND credentials_sealed IS NOT NULL
              AND credentials_expire_at <= ?::timestamptz + interval '30 days')
         INSERT INTO wallet_key_notice (wallet_id, credentials_set_at, threshold_days, expires_at)
         SELECT id, credentials_set_at, threshold_days, credentials_expire_at FROM due
         ON CONFLICT DO NOTHING
         RETURNING wallet_id, credentials_set_at::text AS credentials_set_at, threshold_days, expires_at,
                   (SELECT park_id FROM due WHERE due.id = wallet_id) AS park_id,
                   (SELECT title FROM due WHERE due.id = wallet_id) AS title`,
        [now, now, now, now],
      );
      for (const notice of due) await this.notify(tx, { ...notice, expires_at: new Date(notice.expires_at) });
      return due.length;
    });
  }

  private async notify(em: EntityManager, notice: DueNotice): Promise<void> {
    const park = await this.parks.find(em, notice.park_id);
    if (!park?.email) {
      this.noticed(notice.threshold_days, false);
      this.logger.warn({ parkId: notice.park_id, walletId: notice.wallet_id, thresholdDays: notice.threshold_days }, 'a QIWI key expires but the park has no e-mail address');
      return;
    }
    const emailId = await this.mail.enqueue(em, `qiwi-key-${notice.threshold_days}d`, { to: park.email, ...messageOf(park.name, notice) });
    // `sent_to` is the address written to, not proof of delivery: the message's `sentAt` is (MailQueue.delivery).
    await queryBound(
      em,
      'UPDATE wallet_key_notice SET sent_to = ?, email_id = ?::uuid WHERE wallet_id = ?::uuid AND credentials_set_at = ?::timestamptz AND threshold_days = ?',
      [park.email, emailId, notice.wallet_id, notice.credentials_set_at, notice.threshold_days],
    );
    this.noticed(notice.threshold_days, true);
  }
}

export function messageOf(parkName: string, notice: Pick<DueNotice, 'title' | 'expires_at' | 'threshold_days'>): { subject: string; text: string } {
  const when = notice.expires_at.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const subject =
    notice.threshold_days === 0
      ? `QIWI key of wallet "${notice.title}" has expired`
      : `QIWI key of wallet "${notice.title}" expires within ${notice.threshold_days} day${notice.threshold_days === 1 ? '' : 's'}`;
  const text = [
    `Hello ${parkName},`,
    '',
    notice.threshold_days === 0
      ? `the QIWI secret key of your wallet "${notice.title}" expired on ${when}. Drivers cannot top up through QIWI until you set a new key.`
      : `the QIWI secret key of your wallet "${notice.title}" expires on ${when}.`,
    'Issue a new key in your QIWI account and set it on the wallet (credentials secretKey and expiresAt).',
    '',
    'This message was sent by the payouts service.',
  ].join('\n');
  return { subject, text };
}
