import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError } from '../platform/errors';
import { queryBound } from '../platform/bound-query';
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

/** The SQLSTATE `ledger_post` raises when an idempotency key was used for a different transfer. */
export const LEDGER_KEY_REUSED = 'PL002';

export class InsufficientFundsError extends ConflictError {
  constructor(message = 'Insufficient funds: the account may not go negative') {
    super(message);
  }
}

/** Which accounts may go below zero: the system's, and those a module allows (`allowNegative`). */
export type NegativePolicy = (key: AccountKey) => boolean;
const systemAccountsMayGoNegative: NegativePolicy = (key) => key.owner.kind === SYSTEM_OWNER.kind;

/**
 * Double-entry ledger. Every transfer and both balance changes happen in one database call
 * (`ledger_post`), so callers only choose accounts and amounts; the database keeps the rules.
 */
export class LedgerService {
  /** Ids of accounts known to be committed; an account is never deleted, so they stay valid. */
  private readonly committedIds = new Map<string, string>();

  private readonly negativePolicies: NegativePolicy[] = [systemAccountsMayGoNegative];

  /**
   * Lets a module's accounts go below zero (decided when an account is opened, kept in its row).
   * Payees' accounts may not, unless the module that owns them says so.
   */
  allowNegative(policy: NegativePolicy): void {
    this.negativePolicies.push(policy);
  }

  private mayGoNegative(key: AccountKey): boolean {
    return this.negativePolicies.some((policy) => policy(key));
  }

  /** Finds or opens an account; safe to call concurrently for the same key. */
  async accountId(em: EntityManager, key: AccountKey): Promise<string> {
    const [id] = await this.accountIds(em, [key]);
    return id!;
  }

  /**
   * Several accounts' ids, in the order given: remembered ones from memory, the rest in one
   * look-up, and any still missing opened in one statement. Safe to call concurrently for the same
   * keys. Outside a transaction every id it returns is committed and remembered, so a caller about
   * to run many small transactions can open and learn their accounts here first.
   */
  async accountIds(em: EntityManager, keys: readonly AccountKey[]): Promise<string[]> {
    const found = new Map<string, string>();
    for (const key of keys) {
      const cached = this.committedIds.get(cacheKeyOf(key));
      if (cached) found.set(cacheKeyOf(key), cached);
    }
    const unknown = uniqueKeys(keys.filter((key) => !found.has(cacheKeyOf(key))));
    if (unknown.length > 0) {
      const committed = !em.isInTransaction();
      for (const row of await this.lookUp(em, unknown)) this.learn(found, row, committed || row.committed);
      const missing = unknown.filter((key) => !found.has(cacheKeyOf(key)));
      // Rows this call opens may still roll back with the caller's transaction: remember them only outside one.
      if (missing.length > 0) for (const row of await this.open(em, missing)) this.learn(found, row, committed);
      const raced = missing.filter((key) => !found.has(cacheKeyOf(key)));
      if (raced.length > 0) for (const row of await this.lookUp(em, raced)) this.learn(found, row, committed || row.committed);
    }
    return keys.map((key) => {
      const id = found.get(cacheKeyOf(key));
      if (!id) throw new Error(`account ${cacheKeyOf(key)} could not be opened`);
      return id;
    });
  }

  private async lookUp(em: EntityManager, keys: readonly AccountKey[]): Promise<AccountRow[]> {
    // LATERAL: one index look-up per key, whatever the planner thinks of the table's size.
    // A row this transaction opened has created_at = now() and may still roll back: not `committed`.
    return queryBound<AccountRow>(
      em,
      `SELECT a.owner_kind, a.owner_id, a.type, a.currency, a.id, a.created_at < now() AS committed
         FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS k(owner_kind, owner_id, type, currency),
         LATERAL (SELECT * FROM ledger_account a
                   WHERE a.owner_kind = k.owner_kind AND a.owner_id = k.owner_id AND a.type = k.type AND a.currency = k.currency) a`,
      keyArrays(keys),
    );
  }

  /**
   * Opens accounts no one had, in key order so that two callers opening overlapping sets wait for
   * each other instead of deadlocking. DO NOTHING, not DO UPDATE: an update would lock the row out
   * of ledger_post's id order. A key another caller opened meanwhile returns no row: look it up.
   */
  private async open(em: EntityManager, keys: readonly AccountKey[]): Promise<AccountRow[]> {
    return queryBound<AccountRow>(
      em,
      `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[])
                AS k(owner_kind, owner_id, type, currency, allow_negative)
        ORDER BY owner_kind, owner_id, type, currency
       ON CONFLICT (owner_kind, owner_id, type, currency) DO NOTHING
       RETURNING owner_kind, owner_id, type, currency, id, false AS committed`,
      [...keyArrays(keys), plainArray(keys.map((key) => this.mayGoNegative(key)))],
    );
  }

  private learn(found: Map<string, string>, row: AccountRow, committed: boolean): void {
    const cacheKey = cacheKeyOf(keyOfRow(row));
    found.set(cacheKey, String(row.id));
    if (committed) this.remember(cacheKey, String(row.id));
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
    if (this.committedIds.size >= MAX_REMEMBERED_IDS) {
      // Forget the oldest tenth (a Map iterates in insertion order), not everything at once.
      let forget = MAX_REMEMBERED_IDS / 10;
      for (const key of this.committedIds.keys()) {
        this.committedIds.delete(key);
        if (--forget === 0) break;
      }
    }
    this.committedIds.set(cacheKey, id);
  }

  /**
   * Posts many transfers in one call (`ledger_post_many`): each is its own row with its own
   * idempotency key, and each account's balance changes once. Returns how many were new.
   */
  async postMany(em: EntityManager, transfers: readonly TransferRequest[]): Promise<number> {
    if (transfers.length === 0) return 0;
    try {
      const [row] = await queryBound<{ posted: number }>(
        em,
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
    const [debitAccountId, creditAccountId] = await this.accountIds(em, [from, to]);
    return this.post(em, { ...transfer, debitAccountId, creditAccountId, currency: from.currency });
  }

  /**
   * `move` for many transfers at once: every account named (opened when needed) in one query, the
   * transfers posted in one `postMany` call. Each transfer's currency is its `from` account's.
   * Returns how many were new.
   */
  async moveMany(
    em: EntityManager,
    moves: readonly { from: AccountKey; to: AccountKey; transfer: Omit<TransferRequest, 'debitAccountId' | 'creditAccountId' | 'currency'> }[],
  ): Promise<number> {
    if (moves.length === 0) return 0;
    const accounts = await this.accountIds(em, moves.flatMap((move) => [move.from, move.to]));
    return this.postMany(
      em,
      moves.map((move, i) => ({ ...move.transfer, debitAccountId: accounts[2 * i]!, creditAccountId: accounts[2 * i + 1]!, currency: move.from.currency })),
    );
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

  /** The balances of these accounts, in the order given; null for an account never opened. One query. */
  async balancesOf(em: EntityManager, keys: readonly AccountKey[]): Promise<(AccountBalance | null)[]> {
    if (keys.length === 0) return [];
    const rows = await queryBound<AccountBalanceRow>(
      em,
      `SELECT a.owner_kind, a.owner_id, a.type, a.currency, a.id, a.balance::text AS balance
         FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS k(owner_kind, owner_id, type, currency),
         LATERAL (SELECT * FROM ledger_account a
                   WHERE a.owner_kind = k.owner_kind AND a.owner_id = k.owner_id AND a.type = k.type AND a.currency = k.currency) a`,
      keyArrays(keys),
    );
    const found = new Map(rows.map((row) => [cacheKeyOf(keyOfRow(row)), toBalance(row)]));
    return keys.map((key) => found.get(cacheKeyOf(key)) ?? null);
  }

  /**
   * Locks the positive balances of one account type of these owners, in id order (the order every
   * caller locks in), until the caller's transaction ends: another transaction paying them out
   * waits, then reads what this one left.
   */
  async lockPositiveBalances(em: EntityManager, ownerKind: string, ownerIds: readonly string[], type: string): Promise<AccountBalance[]> {
    if (ownerIds.length === 0) return [];
    const rows = await queryBound<AccountBalanceRow>(
      em,
      `SELECT owner_kind, owner_id, type, currency, id, balance::text AS balance FROM ledger_account
        WHERE owner_kind = ? AND owner_id = ANY (?::text[]) AND type = ? AND balance > 0
        ORDER BY id FOR NO KEY UPDATE`,
      [ownerKind, textArray(ownerIds), type],
    );
    return rows.map(toBalance);
  }

  /**
   * Locks these accounts in id order (the order every transfer locks in) until the caller's
   * transaction ends. A transaction that posts more than one transfer takes its accounts this way
   * first: otherwise its second transfer would lock after the first, out of that order, and could
   * deadlock with a single transfer between the same accounts.
   */
  async lockAccounts(em: EntityManager, accountIds: readonly string[]): Promise<void> {
    if (accountIds.length === 0) return;
    await queryBound(em, 'SELECT 1 FROM ledger_account WHERE id = ANY (?::bigint[]) ORDER BY id FOR NO KEY UPDATE', [
      plainArray(accountIds),
    ]);
  }

  /** Every account of these types with its balance (for checks that compare them with what other modules hold). */
  async accountsOfTypes(em: EntityManager, types: readonly string[]): Promise<AccountBalance[]> {
    const rows = await queryBound<AccountBalanceRow>(
      em,
      `SELECT owner_kind, owner_id, type, currency, id, balance::text AS balance FROM ledger_account
        WHERE type = ANY (?::text[]) ORDER BY id`,
      [textArray(types)],
    );
    return rows.map(toBalance);
  }

  /** Of these idempotency keys, those no transfer was ever posted under. */
  async missingTransferKeys(em: EntityManager, keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const rows = await queryBound<{ key: string }>(
      em,
      `SELECT k.key FROM unnest(?::text[]) AS k(key)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.idempotency_key = k.key)`,
      [textArray(keys)],
    );
    return rows.map((row) => row.key);
  }
}

/** An account and its balance, as other modules read it. */
export interface AccountBalance {
  id: string;
  key: AccountKey;
  balance: bigint;
}

interface AccountBalanceRow {
  owner_kind: string;
  owner_id: string;
  type: string;
  currency: string;
  id: string;
  balance: string;
}

function keyOfRow(row: { owner_kind: string; owner_id: string; type: string; currency: string }): AccountKey {
  return { owner: { kind: row.owner_kind, id: row.owner_id }, type: row.type, currency: row.currency.trim() };
}

function toBalance(row: AccountBalanceRow): AccountBalance {
  return { id: String(row.id), key: keyOfRow(row), balance: BigInt(row.balance) };
}

interface AccountRow {
  owner_kind: string;
  owner_id: string;
  type: string;
  currency: string;
  id: string;
  committed: boolean;
}

/** Account ids remembered per process (a few hundred bytes each). */
const MAX_REMEMBERED_IDS = 200_000;

function keyArrays(keys: readonly AccountKey[]): string[] {
  return [
    textArray(keys.map((k) => k.owner.kind)),
    textArray(keys.map((k) => k.owner.id)),
    textArray(keys.map((k) => k.type)),
    textArray(keys.map((k) => k.currency)),
  ];
}

function uniqueKeys(keys: readonly AccountKey[]): AccountKey[] {
  return [...new Map(keys.map((key) => [cacheKeyOf(key), key])).values()];
}

/** One string per account key (also the loaders' cache key). */
export function cacheKeyOf(key: AccountKey): string {
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
  if (state === LEDGER_KEY_REUSED) {
    return new ConflictError('This idempotency key was already used for a different transfer');
  }
  // A balance that would leave the bigint range: the transfer is refused like any other, not retried.
  if (state === SqlState.numericOutOfRange) {
    return new ConflictError('The transfer would take a balance out of the range the ledger holds');
  }
  return error;
}
