import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError } from '../platform/errors';
import { plainArray, textArray } from '../platform/sql-arrays';
import { SqlState, sqlState, violatedConstraint } from '../platform/database-errors';
import { LedgerAccount } from './entities';

export interface AccountOwner {
  kind: string;
  id: string;
}

export interface AccountKey {
  owner: AccountOwner;
  type: string;
  currency: string;
}

export interface TransferRequest {
  idempotencyKey: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: string;
  kind: string;
  reference?: string | null;
}

export interface PostedTransfer {
  transferId: string;
  /** False when the idempotency key had been used already: nothing moved this time. */
  created: boolean;
}

/** The system's own owner: `world` is where money enters and leaves the ledger. */
export const SYSTEM_OWNER: AccountOwner = { kind: 'SYSTEM', id: 'system' };
export const WORLD_ACCOUNT = 'world';

export class InsufficientFundsError extends ConflictError {
  constructor(message = 'Insufficient funds: the account may not go negative') {
    super(message);
  }
}

/** Which accounts may go below zero. Payees' accounts may not, unless a domain says otherwise. */
export type NegativePolicy = (key: AccountKey) => boolean;
export const defaultNegativePolicy: NegativePolicy = (key) => key.owner.kind === 'SYSTEM';

/**
 * Double-entry ledger. Every transfer and both balance changes happen in one database call
 * (`ledger_post`), so callers only choose accounts and amounts; the database keeps the rules.
 */
export class LedgerService {
  /** Ids of accounts known to be committed; an account is never deleted, so they stay valid. */
  private readonly committedIds = new Map<string, string>();

  constructor(private readonly negativePolicy: NegativePolicy = defaultNegativePolicy) {}

  /** Finds or opens an account; safe to call concurrently for the same key. */
  async accountId(em: EntityManager, key: AccountKey): Promise<string> {
    const cacheKey = cacheKeyOf(key);
    const cached = this.committedIds.get(cacheKey);
    if (cached) return cached;
    const params = [key.owner.kind, key.owner.id, key.type, key.currency];
    // A row this transaction opened has created_at = now() and may still roll back: remember only older ones.
    const existing = await em.execute<{ id: string; committed: boolean }[]>(
      'SELECT id, created_at < now() AS committed FROM ledger_account WHERE owner_kind = ? AND owner_id = ? AND type = ? AND currency = ?',
      params,
    );
    if (existing[0]) {
      if (existing[0].committed) this.remember(cacheKey, String(existing[0].id));
      return String(existing[0].id);
    }
    return this.open(em, key);
  }

  /** Several accounts' ids in one round trip (opening any that are missing), in the order given. */
  async accountIds(em: EntityManager, keys: readonly AccountKey[]): Promise<string[]> {
    const found = new Map<string, string>();
    for (const key of keys) {
      const cached = this.committedIds.get(cacheKeyOf(key));
      if (cached) found.set(cacheKeyOf(key), cached);
    }
    const missing = keys.filter((key) => !found.has(cacheKeyOf(key)));
    if (missing.length > 0) {
      const rows = await em.execute<{ owner_kind: string; owner_id: string; type: string; currency: string; id: string; committed: boolean }[]>(
        // LATERAL: one index look-up per key, whatever the planner thinks of the table's size.
        `SELECT a.owner_kind, a.owner_id, a.type, a.currency, a.id, a.created_at < now() AS committed
           FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS k(owner_kind, owner_id, type, currency),
           LATERAL (SELECT * FROM ledger_account a
                     WHERE a.owner_kind = k.owner_kind AND a.owner_id = k.owner_id AND a.type = k.type AND a.currency = k.currency) a`,
        [
          textArray(missing.map((k) => k.owner.kind)),
          textArray(missing.map((k) => k.owner.id)),
          textArray(missing.map((k) => k.type)),
          textArray(missing.map((k) => k.currency)),
        ],
      );
      for (const row of rows) {
        const cacheKey = cacheKeyOf({ owner: { kind: row.owner_kind, id: row.owner_id }, type: row.type, currency: row.currency.trim() });
        found.set(cacheKey, String(row.id));
        if (row.committed) this.remember(cacheKey, String(row.id));
      }
    }
    const result: string[] = [];
    for (const key of keys) result.push(found.get(cacheKeyOf(key)) ?? (await this.open(em, key)));
    return result;
  }

  /**
   * Opens an account no one had. Not cached: the opening transaction may still roll back.
   * DO NOTHING, not DO UPDATE: an update would lock the row out of ledger_post's id order and
   * deadlock concurrent transfers. On a conflict the other opener has committed, so re-read.
   */
  private async open(em: EntityManager, key: AccountKey): Promise<string> {
    const params = [key.owner.kind, key.owner.id, key.type, key.currency];
    const opened = await em.execute<{ id: string }[]>(
      `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (owner_kind, owner_id, type, currency) DO NOTHING
       RETURNING id`,
      [...params, this.negativePolicy(key)],
    );
    if (opened[0]) return String(opened[0].id);
    const raced = await em.execute<{ id: string }[]>(
      'SELECT id FROM ledger_account WHERE owner_kind = ? AND owner_id = ? AND type = ? AND currency = ?',
      params,
    );
    return String(raced[0]!.id);
  }

  async post(em: EntityManager, transfer: TransferRequest): Promise<PostedTransfer> {
    try {
      const rows = await em.execute<{ transfer_id: string; created: boolean }[]>(
        'SELECT transfer_id, created FROM ledger_post(?, ?, ?, ?, ?, ?, ?)',
        [
          transfer.idempotencyKey,
          transfer.debitAccountId,
          transfer.creditAccountId,
          transfer.amount.toString(),
          transfer.currency,
          transfer.kind,
          transfer.reference ?? null,
        ],
      );
      return { transferId: String(rows[0]!.transfer_id), created: rows[0]!.created };
    } catch (error) {
      throw translateLedgerError(error);
    }
  }

  private remember(cacheKey: string, id: string): void {
    if (this.committedIds.size > 100_000) this.committedIds.clear();
    this.committedIds.set(cacheKey, id);
  }

  /**
   * Posts many transfers in one call (`ledger_post_many`): each is its own row with its own
   * idempotency key, and each account's balance changes once. Returns how many were new.
   */
  async postMany(em: EntityManager, transfers: readonly TransferRequest[]): Promise<number> {
    if (transfers.length === 0) return 0;
    try {
      const [row] = await em.execute<{ posted: number }[]>(
        'SELECT ledger_post_many(?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[]) AS posted',
        [
          textArray(transfers.map((t) => t.idempotencyKey)),
          plainArray(transfers.map((t) => t.debitAccountId)),
          plainArray(transfers.map((t) => t.creditAccountId)),
          plainArray(transfers.map((t) => t.amount)),
          textArray(transfers.map((t) => t.currency)),
          textArray(transfers.map((t) => t.kind)),
          textArray(transfers.map((t) => t.reference ?? null)),
        ],
      );
      return Number(row!.posted);
    } catch (error) {
      throw translateLedgerError(error);
    }
  }

  /** Moves money between two accounts named by key, opening them when needed. */
  async move(
    em: EntityManager,
    from: AccountKey,
    to: AccountKey,
    transfer: Omit<TransferRequest, 'debitAccountId' | 'creditAccountId' | 'currency'>,
  ): Promise<PostedTransfer> {
    const [debitAccountId, creditAccountId] = [await this.accountId(em, from), await this.accountId(em, to)];
    return this.post(em, { ...transfer, debitAccountId, creditAccountId, currency: from.currency });
  }

  /** Turns the database's refusals (overdraft, reused key, overflow) into domain errors. */
  translateError(error: unknown): unknown {
    return translateLedgerError(error);
  }

  async accountsOf(em: EntityManager, owner: AccountOwner): Promise<LedgerAccount[]> {
    return em.find(
      LedgerAccount,
      { ownerKind: owner.kind, ownerId: owner.id },
      { orderBy: { type: 'asc', currency: 'asc' } },
    );
  }
}

function cacheKeyOf(key: AccountKey): string {
  return `${key.owner.kind}\u0000${key.owner.id}\u0000${key.type}\u0000${key.currency}`;
}

export function worldAccount(currency: string): AccountKey {
  return { owner: SYSTEM_OWNER, type: WORLD_ACCOUNT, currency };
}

function translateLedgerError(error: unknown): unknown {
  const state = sqlState(error);
  if (state === SqlState.checkViolation && violatedConstraint(error) === 'ledger_account_balance_non_negative') {
    return new InsufficientFundsError();
  }
  if (state === SqlState.ledgerKeyReused) {
    return new ConflictError('This idempotency key was already used for a different transfer');
  }
  // A balance that would leave the bigint range: the transfer is refused like any other, not retried.
  if (state === SqlState.numericOutOfRange) {
    return new ConflictError('The transfer would take a balance out of the range the ledger holds');
  }
  return error;
}
