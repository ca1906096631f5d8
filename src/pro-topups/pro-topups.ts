import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../platform/logger';
import { ForbiddenError, InvalidInputError, NotFoundError, ConflictError } from '../platform/errors';
import { HttpRefusedError, HttpUnavailableError } from '../platform/http-client';
import type { JobQueue } from '../platform/jobs';
import type { TopUps } from '../topups/topups';
import type { Refusal, RequestFailure, TransactionRow } from '../topups/transaction';
import type { WalletRow } from '../wallets/wallet';
import type { KeyHolder, WalletService } from '../wallets/wallet.service';
import type { PaymentStatus, TopUpGateway } from './gateway';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Asks the payment system what became of a top-up awaiting payment; books itself again until it is settled or given up. */
      topup_request__poll: { walletId: string; externalId: string };
    }
  }
}

export type TopUpSystem = TopUpGateway['system'];

export interface TopUpInput {
  parkId: string;
  driverId: string;
  paymentSystem: TopUpSystem;
  amount: bigint;
  idempotencyKey: string;
}

/** A top-up and where the driver pays it: null until the payment system answered (ask again with the same key), or when it refused. */
export interface TopUpResult {
  transaction: TransactionRow;
  payUrl: string | null;
}

/** How long each system's top-up waits for its payment, and how often the job asks. */
export interface Timing {
  ttlMs: Record<TopUpSystem, number>;
  /** Null: ask only when the time is up (Paystack's webhook credits). */
  pollEveryMs: Record<TopUpSystem, number | null>;
}

/**
 * `closed`: closed by us because its wallet was deleted. `opened-meanwhile`: about to be closed as
 * unknown to the payment system, it was opened there after all: asked again shortly.
 */
export type PollOutcome = 'waiting' | 'paid' | 'mismatch' | 'rejected' | 'expired' | 'closed' | 'opened-meanwhile' | 'repeat' | 'error';

export interface ProTopUpEvents {
  opened(system: TopUpSystem, outcome: 'opened' | 'refused' | 'unavailable'): void;
  polled(system: TopUpSystem, outcome: PollOutcome): void;
  /** From the payment (as the payment system dates it) to our noticing it. */
  creditLag(system: TopUpSystem, seconds: number): void;
}

/**
 * Top-ups a driver starts in the Pro app. The top-up is recorded ACCEPTED and awaiting payment
 * (with the job that watches it) and committed before the payment system is asked, so a retried
 * request or a crash after the call finds the same top-up and the same bill; the HTTP call runs
 * in no database transaction. The watch job then settles it (credited once, by the core's
 * credit job) or gives it up. It holds the wallet's key while top-ups are open with it: a deleted
 * wallet's open top-ups are closed at once, with the key, which is erased after the last.
 */
export class ProTopUps implements KeyHolder {
  constructor(
    private readonly orm: MikroORM,
    private readonly topups: TopUps,
    private readonly jobs: JobQueue,
    private readonly wallets: WalletService,
    private readonly gateways: Record<TopUpSystem, TopUpGateway>,
    private readonly timing: Timing,
    private readonly events: ProTopUpEvents,
    private readonly logger: Logger,
  ) {}

  async create(input: TopUpInput): Promise<TopUpResult> {
    // An amount past TOPUP_AMOUNT_CEILING (at most 2^53 - 1, exact as Paystack's JSON integer) is refused by `check`.
    const em = this.orm.em.fork();
    const known = await this.topups.findRequest(em, input.parkId, input.driverId, input.idempotencyKey);
    if (known) return this.again(em, known, input);
    const wallet = await this.walletFor(em, input);
    const checked = await this.topups.check(em, wallet, input.driverId, input.amount);
    if (!checked.ok) throw refusalError(checked.refusal);
    const { transaction, created, secretKey } = await em.transactional((tx) => this.record(tx, wallet, checked.driver.id, input));
    // The same key at the same moment from another request: that one opens it.
    if (!created) return this.again(em, transaction, input);
    return this.open(em, wallet, transaction, secretKey);
  }

  /**
   * Records the top-up awaiting payment with its watch job, the wallet held (shared) meanwhile, and
   * returns the key to open it with as the held row has it. A delete, or a key's removal, waits
   * for it, then finds the top-up open (and closes it, or refuses); or it waited for them and finds
   * no wallet, or no key.
   */
  private async record(
    tx: EntityManager,
    wallet: WalletRow,
    driverId: string,
    input: TopUpInput,
  ): Promise<{ transaction: TransactionRow; created: boolean; secretKey: string }> {
    const held = await this.wallets.find(tx, wallet.id, { lock: 'share' });
    if (!held?.enabled) throw noTopUpsThrough(input.paymentSystem);
    const secretKey = this.secretKeyOf(held);
    const now = Date.now();
    const expiresAt = now + this.timing.ttlMs[input.paymentSystem];
    const externalId = `topup-${randomUUID()}`;
    const recorded = await this.topups.request(tx, {
      wallet,
      // The driver as found (an account may also name a driver by phone): the top-up and its credit are that driver's.
      driverId,
      externalId,
      amount: input.amount,
      idempotencyKey: input.idempotencyKey,
      expiresAt: new Date(expiresAt),
      watch: {
        task: 'topup_request__poll',
        jobKey: pollJobKey(wallet.id, externalId),
        maxAttempts: POLL_MAX_ATTEMPTS,
        payload: { walletId: wallet.id, externalId },
        runAt: new Date(this.nextPoll(input.paymentSystem, now, expiresAt)),
      },
    });
    return { ...recorded, secretKey };
  }

  /**
   * The watch job's work: ask the payment system, settle what it says was paid, give up what was
   * rejected or expired, and when the time is up or its wallet was deleted close it there first (a
   * bill paid at the last moment is still credited). Returns when to ask again, or null when the
   * top-up is done.
   */
  async poll(walletId: string, externalId: string): Promise<Date | null> {
    const em = this.orm.em.fork();
    const transaction = await this.topups.find(em, walletId, externalId);
    const wallet = await this.wallets.find(em, walletId, { withDeleted: true });
    const walletDeleted = !wallet || wallet.deleted_at !== null;
    if (!transaction?.awaiting_payment) {
      // Settled or closed by someone else meanwhile (another run, the webhook, the open): the last one out still releases the key.
      await this.releaseKeysOnceClosed(em, walletId, walletDeleted);
      return null;
    }
    const system = transaction.payment_system as TopUpSystem;
    const gateway = this.gateways[system];
    const expiresAt = transaction.expires_at!.getTime();
    const timeIsUp = Date.now() >= expiresAt;
    // Why it is closed now rather than asked about again, if it is. A payment that cannot be closed
    // at its payment system (a Paystack checkout) is watched to its time even after a delete: paid
    // meanwhile, it is still found and credited.
    const closing: RequestFailure | null = walletDeleted && gateway.canCancel ? 'WALLET_DELETED' : timeIsUp ? 'EXPIRED' : null;
    if (walletDeleted && !closing) return new Date(expiresAt);
    const keys = wallet ? await this.keysFor(em, wallet, transaction) : NO_KEYS;
    let outcome: PollOutcome;
    if (keys.own === null && keys.kept.length === 0) {
      // Its credentials removed (or a deleted wallet's, erased): nothing can be asked; give up when it is time.
      if (!closing) return new Date(expiresAt);
      outcome = await this.close(em, transaction, closing);
    } else {
      const status = await this.ask(gateway, transaction, keys, closing, walletDeleted);
      if (!status) return new Date(this.nextPoll(system, Date.now(), expiresAt));
      outcome = await this.apply(em, transaction, status, closing);
    }
    this.events.polled(system, outcome);
    if (outcome !== 'waiting' && outcome !== 'opened-meanwhile') await this.releaseKeysOnceClosed(em, walletId, walletDeleted);
    if (outcome === 'opened-meanwhile') return new Date(Date.now() + (this.timing.pollEveryMs[system] ?? ASK_AGAIN_MS));
    return outcome === 'waiting' ? new Date(this.nextPoll(system, Date.now(), expiresAt)) : null;
  }

  async openWith(em: EntityManager, walletId: string, openedBefore?: string): Promise<number> {
    return (await this.topups.awaitingOn(em, walletId, openedBefore ?? null)).length;
  }

  /** Its wallet is being deleted: each open top-up's watch job runs now, and closes it (in the caller's transaction). */
  async closeAll(em: EntityManager, walletId: string): Promise<number> {
    const open = await this.topups.awaitingOn(em, walletId);
    await this.jobs.addKeyed(
      em,
      'topup_request__poll',
      open.map((externalId) => ({ payload: { walletId, externalId }, runAt: new Date(), jobKey: pollJobKey(walletId, externalId), maxAttempts: POLL_MAX_ATTEMPTS })),
    );
    return open.length;
  }

  /**
   * A deleted wallet's key, and a key the wallet replaced, are kept only while top-ups that may need
   * them are open. Each watch job asks after its own top-up is closed (committed), so whichever
   * closes the last one sees none open and erases it.
   */
  private async releaseKeysOnceClosed(em: EntityManager, walletId: string, walletDeleted: boolean): Promise<void> {
    if (!walletDeleted) return this.wallets.releaseRetiredKeys(em, walletId);
    if ((await this.openWith(em, walletId)) === 0) await this.wallets.eraseKeyOfDeleted(em, walletId);
  }

  /**
   * The keys to ask about a top-up with: the wallet's own, and the keys it replaced after this
   * top-up was recorded (newest first), one of which may have opened it: the bill may be another
   * account's. Each key once (a key given again with a new expiry is the same key).
   */
  private async keysFor(em: EntityManager, wallet: WalletRow, transaction: TransactionRow): Promise<TopUpKeys> {
    const own = this.wallets.credentialsOf(wallet)?.secretKey || null;
    const kept = (await this.wallets.retiredCredentialsOf(em, wallet, transaction.created_at)).map((credentials) => credentials.secretKey);
    return { own, kept: [...new Set(kept.filter((key) => typeof key === 'string' && key.length > 0 && key !== own))] };
  }

  /**
   * What the payment system says of the top-up; when `closing`, an unpaid one is closed there first
   * (a bill paid at the last moment is still found paid). Null: it could not be asked now, and
   * need not be yet (the next poll asks). Past that, the job's own retries (with backoff) take over.
   */
  private async ask(gateway: TopUpGateway, transaction: TransactionRow, keys: TopUpKeys, closing: RequestFailure | null, walletDeleted: boolean): Promise<Asked | null> {
    try {
      const answer = await this.statusByAnyKey(gateway, transaction.external_id, keys);
      if (answer === 'unseen') {
        this.logger.warn({ paymentSystem: gateway.system, transactionId: transaction.id }, 'a key the wallet replaced, which may have opened this top-up, is refused: nothing can see it');
        // Until its time, in case the key is let in again; then no retry will be, and the key must not be kept for ever.
        return closing ? { state: 'KEY_REFUSED' } : null;
      }
      const { status, secretKey } = answer;
      if (!closing || (status.state !== 'WAITING' && status.state !== 'UNKNOWN')) return status;
      const closed = await gateway.cancel(transaction.external_id, secretKey);
      if (closed.state === 'REJECTED') return { state: 'CLOSED_BY_US' };
      // Still payable there (opened meanwhile, so our reject found nothing): closed only once it is closed there.
      if (closed.state === 'WAITING' && gateway.canCancel) return { state: 'STILL_OPEN' };
      return closed;
    } catch (error) {
      this.events.polled(gateway.system, 'error');
      this.logger.warn({ paymentSystem: gateway.system, transactionId: transaction.id, problem: (error as Error).message }, 'could not ask the payment system about a top-up');
      // A deleted wallet's key refused (often why it was deleted: expired): no retry will be let in,
      // and the key must not be kept for ever. (A live wallet's own key is left to be mended: asked again.)
      if (closing && walletDeleted && isKeyRefusal(error)) return { state: 'KEY_REFUSED' };
      if (closing || !(error instanceof HttpUnavailableError || error instanceof HttpRefusedError)) throw error;
      return null;
    }
  }

  /**
   * The payment as the first key that knows it sees it, and that key (to close it with): the
   * wallet's own, then the kept ones. A key that does not know the payment (another account's) or
   * is refused (expired) hands over to the next. If none knows it: the wallet's own key's refusal,
   * thrown, as with one key; else `unseen` if a kept key was refused (the payment may be its
   * account's); else what the first key said (unknown).
   */
  private async statusByAnyKey(gateway: TopUpGateway, externalId: string, keys: TopUpKeys): Promise<{ status: PaymentStatus; secretKey: string } | 'unseen'> {
    let unknown: { status: PaymentStatus; secretKey: string } | null = null;
    let ownRefusal: unknown = null;
    let keptRefused = false;
    const asking = [...(keys.own === null ? [] : [{ secretKey: keys.own, kept: false }]), ...keys.kept.map((secretKey) => ({ secretKey, kept: true }))];
    for (const { secretKey, kept } of asking) {
      try {
        const status = await gateway.status(externalId, secretKey);
        if (status.state !== 'UNKNOWN') return { status, secretKey };
        unknown ??= { status, secretKey };
      } catch (error) {
        if (!isKeyRefusal(error)) throw error;
        if (kept) keptRefused = true;
        else ownRefusal ??= error;
      }
    }
    if (ownRefusal !== null) throw ownRefusal;
    if (keptRefused) return 'unseen';
    if (unknown === null) throw new Error('no key to ask the payment system with');
    return unknown;
  }

  /**
   * Closed unpaid, for our reason. Unasked — `unknown` (the payment system knew nothing of it) or
   * `unseen` (no key we hold could see it) — only if it was not opened there since it was read (a
   * slow answer to the open, whose pay URL is now kept and may be in the driver's hands): then it is
   * asked about again shortly, and closed there first.
   */
  private async close(em: EntityManager, transaction: TransactionRow, closing: RequestFailure, { unasked }: { unasked?: 'unknown' | 'unseen' } = {}): Promise<PollOutcome> {
    const ifPayUrl = unasked === 'unknown' ? null : unasked === 'unseen' ? transaction.pay_url : undefined;
    const closed = await this.topups.giveUp(em, transaction.wallet_id, transaction.external_id, closing, { ifPayUrl });
    if (closed) return closing === 'WALLET_DELETED' ? 'closed' : 'expired';
    const now = await this.topups.find(em, transaction.wallet_id, transaction.external_id);
    return now?.awaiting_payment ? 'opened-meanwhile' : 'repeat';
  }

  /** What the payment system said, applied; `closing` (why) when it is not to wait any longer. */
  private async apply(em: EntityManager, transaction: TransactionRow, status: Asked, closing: RequestFailure | null): Promise<PollOutcome> {
    const { wallet_id: walletId, external_id: externalId } = transaction;
    switch (status.state) {
      case 'PAID': {
        const { transaction: after, settled } = await this.topups.settle(em, walletId, externalId, { amount: status.amount, currency: status.currency });
        if (settled && status.paidAt) this.events.creditLag(transaction.payment_system as TopUpSystem, Math.max(0, (Date.now() - status.paidAt.getTime()) / 1000));
        if (after.status === 'REJECTED') {
          this.logger.error({ transactionId: transaction.id, paymentSystem: transaction.payment_system }, 'a top-up was paid with another amount or currency than asked: held back, not credited');
          return 'mismatch';
        }
        return settled ? 'paid' : 'repeat';
      }
      case 'REJECTED':
        await this.topups.giveUp(em, walletId, externalId, 'PAYMENT_REJECTED');
        return 'rejected';
      case 'EXPIRED':
        await this.topups.giveUp(em, walletId, externalId, 'EXPIRED');
        return 'expired';
      case 'UNKNOWN':
        return closing ? this.close(em, transaction, closing, { unasked: 'unknown' }) : 'waiting';
      case 'WAITING':
        return closing ? this.close(em, transaction, closing) : 'waiting';
      case 'CLOSED_BY_US':
        return this.close(em, transaction, closing!);
      case 'STILL_OPEN':
        return 'opened-meanwhile';
      case 'KEY_REFUSED': {
        const outcome = await this.close(em, transaction, closing!, { unasked: 'unseen' });
        if (outcome === 'closed' || outcome === 'expired') {
          this.logger.error(
            { transactionId: transaction.id, paymentSystem: transaction.payment_system },
            'the payment system refused the keys that could see the top-up (a deleted wallet’s, or one the wallet replaced): it is given up without knowing whether it was paid; check it in the park’s account there',
          );
        }
        return outcome;
      }
    }
  }

  /** The same key again: the same top-up; opened at the payment system now if its answer was lost. */
  private async again(em: EntityManager, transaction: TransactionRow, input: TopUpInput): Promise<TopUpResult> {
    if (transaction.payment_system !== input.paymentSystem || transaction.amount !== input.amount) {
      throw new ConflictError('idempotencyKey was used for another top-up', { field: 'idempotencyKey' });
    }
    // A top-up given up on is not to be paid: its address is not handed out again.
    if (transaction.status === 'REJECTED') return { transaction, payUrl: null };
    if (transaction.pay_url || !transaction.awaiting_payment) return { transaction, payUrl: transaction.pay_url };
    const wallet = await this.wallets.find(em, transaction.wallet_id);
    const secretKey = wallet ? this.wallets.credentialsOf(wallet)?.secretKey : undefined;
    if (!wallet || !secretKey) return { transaction, payUrl: null };
    return this.open(em, wallet, transaction, secretKey, { firstAsk: false });
  }

  /**
   * Asks the payment system to open the payment. A refusal of the first ask rejects the top-up; a
   * refusal of a later one does not (Paystack refuses a reference it already has: the first ask,
   * or a concurrent one, may have opened it), and the watch job settles it in time.
   */
  private async open(em: EntityManager, wallet: WalletRow, transaction: TransactionRow, secretKey: string, { firstAsk = true } = {}): Promise<TopUpResult> {
    const system = wallet.payment_system as TopUpSystem;
    try {
      const { payUrl } = await this.gateways[system].open(
        {
          externalId: transaction.external_id,
          amount: transaction.amount,
          currency: transaction.currency,
          expiresAt: transaction.expires_at!,
          parkId: transaction.park_id,
          driverId: transaction.driver_id,
        },
        secretKey,
      );
      this.events.opened(system, 'opened');
      const kept = await this.topups.setPayUrl(em, transaction.id, payUrl);
      // The address first kept is the one handed out: a concurrent open (with another key, after a
      // replacement) may have opened a second payment, which no one is then given.
      if (kept) return { transaction: kept, payUrl: kept.pay_url };
      return this.openedTooLate(em, transaction, secretKey);
    } catch (error) {
      if (error instanceof HttpRefusedError && firstAsk) {
        this.events.opened(system, 'refused');
        const rejected = await this.topups.giveUp(em, transaction.wallet_id, transaction.external_id, 'PAYMENT_SYSTEM_REFUSED');
        return { transaction: rejected ?? (await this.topups.find(em, transaction.wallet_id, transaction.external_id))!, payUrl: null };
      }
      // Unavailable (or an answer we cannot read): the top-up stays awaiting; the same key asks again, the watch job gives it up in time.
      this.events.opened(system, 'unavailable');
      this.logger.warn({ paymentSystem: system, transactionId: transaction.id, problem: (error as Error).message }, 'the payment system did not open a top-up');
      return { transaction, payUrl: null };
    }
  }

  /**
   * The payment was opened after the top-up stopped awaiting it (closed meanwhile: its wallet
   * deleted, its time up while the payment system was slow to answer). Nothing would watch it: it is
   * closed at the payment system at once, with the key in hand, and no address is handed out.
   */
  private async openedTooLate(em: EntityManager, transaction: TransactionRow, secretKey: string): Promise<TopUpResult> {
    const now = (await this.topups.find(em, transaction.wallet_id, transaction.external_id))!;
    const gateway = this.gateways[transaction.payment_system as TopUpSystem];
    if (now.status === 'REJECTED') {
      try {
        await gateway.cancel(transaction.external_id, secretKey);
      } catch (error) {
        this.logger.error(
          { transactionId: transaction.id, paymentSystem: transaction.payment_system, problem: (error as Error).message },
          'a payment opened after its top-up was closed could not be closed at the payment system; check it in the park’s account there',
        );
      }
    }
    return { transaction: now, payUrl: null };
  }

  private async walletFor(em: EntityManager, input: TopUpInput): Promise<WalletRow> {
    const wallet = (await this.wallets.list(em, input.parkId)).find((each) => each.payment_system === input.paymentSystem && each.enabled);
    if (!wallet) throw noTopUpsThrough(input.paymentSystem);
    // No key, or an expired one: refused before anything else is asked (the key is opened once, under the held wallet, by `record`).
    if (!wallet.credentials_sealed || (wallet.credentials_expire_at && wallet.credentials_expire_at.getTime() <= Date.now())) {
      throw new NotFoundError(`Your park's ${input.paymentSystem} wallet cannot take top-ups now`, { field: 'paymentSystem' });
    }
    return wallet;
  }

  private secretKeyOf(wallet: WalletRow): string {
    const secretKey = this.wallets.credentialsOf(wallet)?.secretKey;
    if (!secretKey) throw new NotFoundError(`Your park's ${wallet.payment_system} wallet cannot take top-ups now`, { field: 'paymentSystem' });
    return secretKey;
  }

  private nextPoll(system: TopUpSystem, now: number, expiresAt: number): number {
    const every = this.timing.pollEveryMs[system];
    return every === null ? expiresAt : Math.min(now + every, expiresAt);
  }
}

/** A top-up's keys: the wallet's own (null when it has none), and those it replaced that the top-up may have been opened with. */
interface TopUpKeys {
  own: string | null;
  kept: string[];
}

const NO_KEYS: TopUpKeys = { own: null, kept: [] };

/** The payment system refused the key itself (expired, revoked), not the request. */
function isKeyRefusal(error: unknown): boolean {
  return error instanceof HttpRefusedError && (error.status === 401 || error.status === 403);
}

/** When a top-up opened while it was being closed is asked about again, for a system polled only at its time. */
const ASK_AGAIN_MS = 5_000;

/**
 * What the payment system said; or, closing it, that it rejected the payment because we asked, that
 * the payment is still payable there after our ask (opened meanwhile), or that it refused the key
 * that could see it (a deleted wallet's, or one the wallet replaced that may have opened it).
 */
type Asked = PaymentStatus | { state: 'CLOSED_BY_US' } | { state: 'STILL_OPEN' } | { state: 'KEY_REFUSED' };

/**
 * A poll job never gives up (graphile-worker's most; its backoff reaches ~6 h between attempts
 * after ten): past its time a top-up must still learn whether it was paid, and a job that ran out
 * of attempts (the payment system refusing our key, a keyring missing the wallet's key) would
 * leave it ACCEPTED and awaiting payment for good, with nothing to find it again.
 */
export const POLL_MAX_ATTEMPTS = 32_767;

export function pollJobKey(walletId: string, externalId: string): string {
  return `topup_request__poll:${walletId}:${externalId}`;
}

function noTopUpsThrough(system: TopUpSystem): Error {
  return new NotFoundError(`Your park takes no top-ups through ${system}`, { field: 'paymentSystem' });
}

/** Why this driver may not top up now, as the API answers it. */
function refusalError(refusal: Refusal): Error {
  switch (refusal) {
    case 'AMOUNT_TOO_SMALL':
      return new InvalidInputError('amount is below the least one top-up may be', { field: 'amount', reason: refusal });
    case 'AMOUNT_TOO_LARGE':
      return new InvalidInputError('amount is above the most one top-up may be', { field: 'amount', reason: refusal });
    case 'UNKNOWN_DRIVER':
      return new NotFoundError('Your driver record is not known to the park');
    default:
      return new ForbiddenError(`Top-ups are not allowed now (${refusal})`);
  }
}
