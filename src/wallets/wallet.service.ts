import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ParkService } from '../parks/park.service';
import { queryBound } from '../platform/bound-query';
import { SqlState, sqlState } from '../platform/database-errors';
import { ConflictError, InvalidInputError, NotFoundError } from '../platform/errors';
import type { Keyring } from './keyring';
import { credentialsExpireAt, credentialsHint, validateCredentials, type Credentials, type PaymentSystem } from './payment-systems';
import { credentialsContext, toWalletRow, type WalletRow } from './wallet';

export interface NewWallet {
  parkId: string;
  paymentSystem: PaymentSystem;
  title: string;
  currency: string;
  enabled: boolean;
  minAmount: bigint | null;
  maxAmount: bigint | null;
  /** Unvalidated: checked against the system's fields here. */
  credentials: unknown;
}

export interface WalletChange {
  id: string;
  title?: string;
  enabled?: boolean;
  minAmount?: bigint | null;
  maxAmount?: bigint | null;
  /** undefined: keep; null: remove; an object: validate and replace. */
  credentials?: unknown;
}

/**
 * Work of another module that still needs a wallet's key after the park lets the key go: top-ups
 * awaiting payment at its payment system (a QIWI bill is closed, or found paid, only with a key of
 * the account that opened it). Registered with `WalletService.keepKeyFor`.
 */
export interface KeyHolder {
  /**
   * How many payments are open on the wallet now; with `openedBefore` (a timestamptz as PostgreSQL
   * writes it, to the microsecond), of those recorded before then, with a key it had then.
   */
  openWith(em: EntityManager, walletId: string, openedBefore?: string): Promise<number>;
  /** The wallet is being deleted (in `em`'s transaction): close them now. Returns how many. */
  closeAll(em: EntityManager, walletId: string): Promise<number>;
}

/** The sealed columns of a wallet for a set of credentials (or none). */
interface SealedColumns {
  keyId: string | null;
  sealed: Buffer | null;
  hint: string | null;
  expireAt: Date | null;
}

/**
 * Park wallets: one per payment system a park takes money through. Credentials are validated per
 * system and sealed with AES-256-GCM (the keyring) before they reach the database; they leave this
 * class only through `credentialsOf`, for the payment-system adapters.
 */
export class WalletService {
  private readonly keyHolders: KeyHolder[] = [];

  constructor(
    private readonly parks: ParkService,
    private readonly keyring: Keyring,
    /** Told of every change to a wallet this process makes (the callback links it keeps are dropped). */
    private readonly changed: () => void = () => {},
  ) {}

  /** Another module's work that may still need a wallet's key (see KeyHolder). */
  keepKeyFor(holder: KeyHolder): void {
    this.keyHolders.push(holder);
  }

  get currentKeyId(): string {
    return this.keyring.currentKeyId;
  }

  async list(em: EntityManager, parkId: string): Promise<WalletRow[]> {
    const rows = await queryBound<WalletRow>(em, 'SELECT * FROM wallet WHERE park_id = ? AND deleted_at IS NULL ORDER BY created_at, id', [parkId]);
    return rows.map(toWalletRow);
  }

  /**
   * A live wallet (not deleted), or null. `lock`: held to the end of `em`'s transaction, to change
   * it (true), or ('share') to record something under it that a delete must see.
   */
  async find(em: EntityManager, id: string, options: { lock?: boolean | 'share'; withDeleted?: boolean } = {}): Promise<WalletRow | null> {
    const lock = options.lock === 'share' ? ' FOR SHARE' : options.lock ? ' FOR UPDATE' : '';
    const [row] = await queryBound<WalletRow>(
      em,
      `SELECT * FROM wallet WHERE id = ?::uuid${options.withDeleted ? '' : ' AND deleted_at IS NULL'}${lock}`,
      [id],
      { name: options.lock === 'share' ? 'wallet_find_share' : options.lock ? 'wallet_find_lock' : options.withDeleted ? 'wallet_find_any' : 'wallet_find' },
    );
    return row ? toWalletRow(row) : null;
  }

  async findMany(em: EntityManager, ids: readonly string[]): Promise<WalletRow[]> {
    if (ids.length === 0) return [];
    const rows = await queryBound<WalletRow>(em, 'SELECT * FROM wallet WHERE id = ANY (?::uuid[])', [`{${ids.join(',')}}`]);
    return rows.map(toWalletRow);
  }

  async create(em: EntityManager, input: NewWallet, actor: string): Promise<WalletRow> {
    const park = await this.parks.find(em, input.parkId);
    if (!park) throw new NotFoundError(`Unknown park ${input.parkId}`, { field: 'parkId' });
    checkBounds(input.minAmount, input.maxAmount);
    const id = randomUUID();
    const sealed = input.credentials === undefined || input.credentials === null ? NONE : this.seal(id, input.paymentSystem, validateCredentials(input.paymentSystem, input.credentials));
    try {
      const [row] = await queryBound<WalletRow>(
        em,
        `INSERT INTO wallet (id, park_id, payment_system, title, currency, enabled, min_amount, max_amount,
                             credentials_key_id, credentials_sealed, credentials_hint, credentials_expire_at, credentials_set_at, created_by, updated_by)
         VALUES (?::uuid, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ?::bytea IS NULL THEN NULL ELSE now() END, ?, ?) RETURNING *`,
        [
          id,
          input.parkId,
          input.paymentSystem,
          input.title,
          input.currency,
          input.enabled,
          input.minAmount?.toString() ?? null,
          input.maxAmount?.toString() ?? null,
          sealed.keyId,
          sealed.sealed,
          sealed.hint,
          sealed.expireAt,
          sealed.sealed,
          actor,
          actor,
        ],
      );
      return toWalletRow(row!);
    } catch (error) {
      if (sqlState(error) === SqlState.uniqueViolation) {
        throw new ConflictError(`Park ${input.parkId} already has a ${input.paymentSystem} wallet`, { field: 'paymentSystem' });
      }
      throw error;
    }
  }

  async update(em: EntityManager, change: WalletChange, actor: string): Promise<WalletRow> {
    const wallet = await this.find(em, change.id, { lock: true });
    if (!wallet) throw new NotFoundError(`Unknown wallet ${change.id}`, { field: 'id' });
    const minAmount = change.minAmount !== undefined ? change.minAmount : wallet.min_amount === null ? null : BigInt(wallet.min_amount);
    const maxAmount = change.maxAmount !== undefined ? change.maxAmount : wallet.max_amount === null ? null : BigInt(wallet.max_amount);
    checkBounds(minAmount, maxAmount);
    if (change.credentials === null && wallet.credentials_sealed !== null) await this.refuseWhileKeyIsNeeded(em, wallet);
    if (change.credentials !== undefined && change.credentials !== null && wallet.credentials_sealed !== null) await this.retireKeyIfNeeded(em, wallet);
    const sealed =
      change.credentials === undefined
        ? null
        : change.credentials === null
          ? NONE
          : this.seal(wallet.id, wallet.payment_system, validateCredentials(wallet.payment_system, change.credentials));
    const [row] = await queryBound<WalletRow>(
      em,
      `UPDATE wallet SET title = ?, enabled = ?, min_amount = ?, max_amount = ?,
              credentials_key_id = CASE WHEN ? THEN ? ELSE credentials_key_id END,
              credentials_sealed = CASE WHEN ? THEN ?::bytea ELSE credentials_sealed END,
              credentials_hint = CASE WHEN ? THEN ? ELSE credentials_hint END,
              credentials_expire_at = CASE WHEN ? THEN ?::timestamptz ELSE credentials_expire_at END,
              -- Given anew (even the same key): the key's identity for expiry notices. Re-sealing keeps it.
              credentials_set_at = CASE WHEN ? THEN (CASE WHEN ?::bytea IS NULL THEN NULL ELSE now() END) ELSE credentials_set_at END,
              updated_by = ?, updated_at = now()
        WHERE id = ?::uuid RETURNING *`,
      [
        change.title ?? wallet.title,
        change.enabled ?? wallet.enabled,
        minAmount?.toString() ?? null,
        maxAmount?.toString() ?? null,
        sealed !== null,
        sealed?.keyId ?? null,
        sealed !== null,
        sealed?.sealed ?? null,
        sealed !== null,
        sealed?.hint ?? null,
        sealed !== null,
        sealed?.expireAt ?? null,
        sealed !== null,
        sealed?.sealed ?? null,
        actor,
        wallet.id,
      ],
    );
    if (change.credentials !== undefined) await this.releaseRetiredKeys(em, wallet.id);
    this.changed();
    return toWalletRow(row!);
  }

  /**
   * Deletes a wallet for good (its row stays for the transactions that name it), in the caller's
   * transaction with the row locked. Its credentials go at once, unless payments are still open
   * with its key (top-ups awaiting payment): those are closed now, by their holders, and the key is
   * kept only until the last is (`eraseKeyOfDeleted`), so that a bill paid meanwhile is still
   * credited and an unpaid one is closed at the payment system rather than left payable.
   */
  async delete(em: EntityManager, id: string, actor: string): Promise<WalletRow> {
    let open = 0;
    for (const holder of this.keyHolders) open += await holder.closeAll(em, id);
    const [row] = await queryBound<WalletRow>(
      em,
      `UPDATE wallet SET deleted_at = now(), enabled = false,
              credentials_key_id = CASE WHEN ? THEN credentials_key_id END, credentials_sealed = CASE WHEN ? THEN credentials_sealed END,
              updated_by = ?, updated_at = now()
        WHERE id = ?::uuid AND deleted_at IS NULL RETURNING *`,
      [open > 0, open > 0, actor, id],
    );
    if (!row) throw new NotFoundError(`Unknown wallet ${id}`, { field: 'id' });
    // With nothing open, no key it replaced is needed either.
    if (open === 0) await this.eraseKeyOfDeleted(em, id);
    this.changed();
    return toWalletRow(row);
  }

  /** A deleted wallet's keys (its last and any it replaced), kept to close the payments open with them, erased once none is (their holder says when). */
  async eraseKeyOfDeleted(em: EntityManager, id: string): Promise<void> {
    await queryBound(
      em,
      `WITH erased AS (
         UPDATE wallet SET credentials_key_id = NULL, credentials_sealed = NULL WHERE id = ?::uuid AND deleted_at IS NOT NULL RETURNING id)
       DELETE FROM wallet_retired_key WHERE wallet_id IN (SELECT id FROM erased)`,
      [id],
    );
  }

  /**
   * The keys a wallet had before its present one and still keeps (newest first): a payment opened
   * with one of them may be known only to its account. With `retiredAfter` (when a payment was
   * recorded; a Date to the millisecond, so a key replaced in that same millisecond is included),
   * only those replaced since, which may have opened it. Opened, for the payment-system adapters only.
   */
  async retiredCredentialsOf(em: EntityManager, wallet: WalletRow, retiredAfter: Date | null = null): Promise<Credentials[]> {
    const rows = await queryBound<{ credentials_key_id: string; credentials_sealed: Buffer }>(
      em,
      `SELECT credentials_key_id, credentials_sealed FROM wallet_retired_key
        WHERE wallet_id = ?::uuid AND (?::timestamptz IS NULL OR retired_at > ?::timestamptz) ORDER BY retired_at DESC, id DESC`,
      [wallet.id, retiredAfter, retiredAfter],
    );
    return rows.map((row) => this.open(wallet, row.credentials_key_id, row.credentials_sealed));
  }

  /**
   * Erases the replaced keys of a wallet that no open payment may need any more (none recorded
   * before it was replaced is open). It first waits for a change of the wallet in progress: a key
   * being retired as the last payment that needed it closes is then seen, and erased here.
   */
  async releaseRetiredKeys(em: EntityManager, walletId: string): Promise<void> {
    // KEY SHARE conflicts with the update's FOR UPDATE, and queues behind nothing else.
    await queryBound(em, 'SELECT 1 FROM wallet WHERE id = ?::uuid FOR KEY SHARE', [walletId]);
    // As text, to the microsecond: a Date would round a payment recorded just before it onto it.
    const retired = await queryBound<{ id: string; retired_at: string }>(
      em,
      'SELECT id, retired_at::text AS retired_at FROM wallet_retired_key WHERE wallet_id = ?::uuid',
      [walletId],
    );
    const unneeded: string[] = [];
    for (const key of retired) {
      if ((await this.openWithAny(em, walletId, key.retired_at)) === 0) unneeded.push(String(key.id));
    }
    if (unneeded.length > 0) await queryBound(em, 'DELETE FROM wallet_retired_key WHERE id = ANY (?::bigint[])', [`{${unneeded.join(',')}}`]);
  }

  /**
   * The key is being replaced while payments opened with it are open: it is kept beside the wallet
   * (as sealed) for them, since the new key may be another account's, which cannot see them. Its
   * retirement is stamped with the clock, after the wallet was locked: every top-up recorded with it
   * committed before then, so "recorded before it" covers them all.
   */
  private async retireKeyIfNeeded(em: EntityManager, wallet: WalletRow): Promise<void> {
    if ((await this.openWithAny(em, wallet.id)) === 0) return;
    await queryBound(
      em,
      `INSERT INTO wallet_retired_key (wallet_id, credentials_key_id, credentials_sealed, retired_at)
       VALUES (?::uuid, ?, ?, clock_timestamp())`,
      [wallet.id, wallet.credentials_key_id, wallet.credentials_sealed],
    );
  }

  private async openWithAny(em: EntityManager, walletId: string, openedBefore?: string): Promise<number> {
    let open = 0;
    for (const holder of this.keyHolders) open += await holder.openWith(em, walletId, openedBefore);
    return open;
  }

  /** Removing a key that open payments still need would leave them payable and never credited: delete the wallet (which closes them) or replace the key. */
  private async refuseWhileKeyIsNeeded(em: EntityManager, wallet: WalletRow): Promise<void> {
    const open = await this.openWithAny(em, wallet.id);
    if (open === 0) return;
    throw new ConflictError(
      `The wallet's key is still needed: ${open} top-up${open === 1 ? '' : 's'} await${open === 1 ? 's' : ''} payment at ${wallet.payment_system} with it. ` +
        'Replace the key, switch the wallet off, or delete the wallet (which closes them at once), instead of removing it',
      { field: 'credentials' },
    );
  }

  /** A wallet's credentials, opened: for the payment-system adapters only, never for an answer or a log. */
  credentialsOf(wallet: WalletRow): Credentials | null {
    if (!wallet.credentials_key_id || !wallet.credentials_sealed) return null;
    return this.open(wallet, wallet.credentials_key_id, wallet.credentials_sealed);
  }

  /** Credentials sealed for this wallet (its own, or a key it replaced), opened. */
  private open(wallet: Pick<WalletRow, 'id' | 'payment_system'>, keyId: string, blob: Buffer): Credentials {
    return JSON.parse(this.keyring.open({ keyId, blob }, credentialsContext(wallet)).toString('utf8')) as Credentials;
  }

  /**
   * Re-seals the credentials of wallets sealed under another key than the current one, a batch at
   * a time, each batch one transaction that locks its rows (skipping none: a wallet being edited
   * waits). Safe to stop and run again: it picks up whatever is still under an old key.
   */
  async reseal(em: EntityManager, batchSize: number): Promise<{ resealed: number; remaining: number }> {
    const resealed = await em.transactional(async (tx) => {
      const rows = await queryBound<WalletRow>(
        tx,
        `SELECT * FROM wallet WHERE credentials_key_id IS NOT NULL AND credentials_key_id <> ? ORDER BY id LIMIT ? FOR UPDATE`,
        [this.keyring.currentKeyId, batchSize],
      );
      for (const raw of rows) {
        const wallet = toWalletRow(raw);
        const sealed = this.resealed(wallet, wallet.credentials_key_id!, wallet.credentials_sealed!);
        await queryBound(tx, 'UPDATE wallet SET credentials_key_id = ?, credentials_sealed = ? WHERE id = ?::uuid', [sealed.keyId, sealed.blob, wallet.id]);
      }
      // Replaced keys still kept for open payments, under the same keyring keys.
      const retired = await queryBound<{ id: string; credentials_key_id: string; credentials_sealed: Buffer; wallet_id: string; payment_system: WalletRow['payment_system'] }>(
        tx,
        `SELECT r.id, r.credentials_key_id, r.credentials_sealed, r.wallet_id, w.payment_system FROM wallet_retired_key r JOIN wallet w ON w.id = r.wallet_id
          WHERE r.credentials_key_id <> ? ORDER BY r.id LIMIT ? FOR UPDATE OF r`,
        [this.keyring.currentKeyId, Math.max(0, batchSize - rows.length)],
      );
      for (const key of retired) {
        const sealed = this.resealed({ id: key.wallet_id, payment_system: key.payment_system }, key.credentials_key_id, key.credentials_sealed);
        await queryBound(tx, 'UPDATE wallet_retired_key SET credentials_key_id = ?, credentials_sealed = ? WHERE id = ?', [sealed.keyId, sealed.blob, key.id]);
      }
      return rows.length + retired.length;
    });
    return { resealed, remaining: await this.countUnderOldKeys(em) };
  }

  async countUnderOldKeys(em: EntityManager): Promise<number> {
    const [row] = await queryBound<{ n: string }>(
      em,
      `SELECT (SELECT count(*) FROM wallet WHERE credentials_key_id IS NOT NULL AND credentials_key_id <> ?)
            + (SELECT count(*) FROM wallet_retired_key WHERE credentials_key_id <> ?) AS n`,
      [this.keyring.currentKeyId, this.keyring.currentKeyId],
    );
    return Number(row!.n);
  }

  private resealed(wallet: Pick<WalletRow, 'id' | 'payment_system'>, keyId: string, blob: Buffer): { keyId: string; blob: Buffer } {
    const context = credentialsContext(wallet);
    return this.keyring.seal(this.keyring.open({ keyId, blob }, context), context);
  }

  /** Wallets per payment system (a product metric), read at scrape time. */
  async countBySystem(em: EntityManager): Promise<{ payment_system: string; n: string }[]> {
    return queryBound(em, 'SELECT payment_system, count(*) AS n FROM wallet WHERE deleted_at IS NULL GROUP BY payment_system', []);
  }

  private seal(walletId: string, system: PaymentSystem, credentials: Credentials): SealedColumns {
    const sealed = this.keyring.seal(Buffer.from(JSON.stringify(credentials), 'utf8'), credentialsContext({ id: walletId, payment_system: system }));
    return { keyId: sealed.keyId, sealed: sealed.blob, hint: credentialsHint(system, credentials), expireAt: credentialsExpireAt(system, credentials) };
  }
}

const NONE: SealedColumns = { keyId: null, sealed: null, hint: null, expireAt: null };

function checkBounds(min: bigint | null, max: bigint | null): void {
  if (min !== null && max !== null && min > max) throw new InvalidInputError('minAmount must not exceed maxAmount', { field: 'minAmount' });
}
