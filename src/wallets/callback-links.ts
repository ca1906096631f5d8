import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { NotFoundError } from '../platform/errors';
import { textArray } from '../platform/sql-arrays';
import { fulfilled, StatementBatches } from '../platform/statement-batches';
import type { LinkCache } from './link-cache';
import type { PaymentSystem } from './payment-systems';
import { toLinkRow, toWalletRow, type CallbackLinkRow, type WalletRow } from './wallet';

/** 256 random bits, base64url: 43 characters in a URL path. */
const SECRET_BYTES = 32;
/** What the list shows of a secret, so a dispatcher can tell links apart. */
const PREFIX_LENGTH = 6;
/** `last_used_at` is written at most this often per link: a burst of callbacks is not a burst of writes. */
const LAST_USED_RESOLUTION = '1 minute';

export interface IssuedLink {
  /** The whole URL, secret included: shown once, never stored. */
  url: string;
  link: CallbackLinkRow;
}

export interface ResolvedLink {
  link: CallbackLinkRow;
  wallet: WalletRow;
}

/** The path segment a payment system's callbacks use: `qiwi_md` for QIWI_MD. */
export function callbackPathOf(system: PaymentSystem): string {
  return system.toLowerCase();
}

/** The SHA-256 of a secret, in hex (one-shot `hash`: an eighth of a `createHash`'s cost, paid on every callback). */
function hashOf(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/**
 * Secret callback links, one live link per wallet, like API keys: the URL is shown once; only the
 * SHA-256 of its secret is stored, under a unique index, so a look-up is one index probe on a hash
 * (which says nothing about how close a wrong secret came: no timing leak).
 */
export class CallbackLinks {
  /** The lookups of callbacks that arrive together, one statement for them all. */
  private readonly lookups = new StatementBatches<LinkLookup, Record<string, unknown> | null>(
    async (lookups) => (await this.lookUp(lookups)).map(fulfilled),
    { maxBatch: 200, maxInFlight: 4 },
  );

  constructor(
    private readonly baseUrl: string,
    /** Links resolved lately, in a process that serves callbacks (dropped on any change). */
    readonly resolved: LinkCache<ResolvedLink>,
  ) {}

  /** Issues a link for the wallet, revoking its previous one in the same transaction. */
  async issue(em: EntityManager, wallet: WalletRow, actor: string): Promise<IssuedLink> {
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    await queryBound(em, 'UPDATE callback_link SET revoked_at = now(), revoked_by = ? WHERE wallet_id = ?::uuid AND revoked_at IS NULL', [actor, wallet.id]);
    const [row] = await queryBound<CallbackLinkRow>(
      em,
      `INSERT INTO callback_link (id, wallet_id, secret_hash, prefix, created_by) VALUES (?::uuid, ?::uuid, ?, ?, ?)
       RETURNING id, wallet_id, prefix, created_by, created_at, last_used_at, revoked_at, revoked_by`,
      [randomUUID(), wallet.id, Buffer.from(hashOf(secret), 'hex'), secret.slice(0, PREFIX_LENGTH), actor],
    );
    this.resolved.forget();
    return { url: `${this.baseUrl}/callbacks/${callbackPathOf(wallet.payment_system)}/${secret}`, link: toLinkRow(row!) };
  }

  async find(em: EntityManager, id: string): Promise<CallbackLinkRow | null> {
    const [row] = await queryBound<CallbackLinkRow>(
      em,
      'SELECT id, wallet_id, prefix, created_by, created_at, last_used_at, revoked_at, revoked_by FROM callback_link WHERE id = ?::uuid',
      [id],
    );
    return row ? toLinkRow(row) : null;
  }

  /** Revokes at once: the next callback with its secret is refused. Revoking again changes nothing. */
  async revoke(em: EntityManager, id: string, actor: string): Promise<CallbackLinkRow> {
    const [row] = await queryBound<CallbackLinkRow>(
      em,
      `UPDATE callback_link SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, ?) WHERE id = ?::uuid
       RETURNING id, wallet_id, prefix, created_by, created_at, last_used_at, revoked_at, revoked_by`,
      [actor, id],
    );
    if (!row) throw new NotFoundError(`Unknown callback link ${id}`, { field: 'id' });
    this.resolved.forget();
    return toLinkRow(row);
  }

  /** Revokes every live link of a wallet (it was deleted). */
  async revokeAllOf(em: EntityManager, walletId: string, actor: string): Promise<void> {
    await queryBound(em, 'UPDATE callback_link SET revoked_at = now(), revoked_by = ? WHERE wallet_id = ?::uuid AND revoked_at IS NULL', [actor, walletId]);
    this.resolved.forget();
  }

  /** A wallet's links, newest first (revoked ones too, with when). */
  async listFor(em: EntityManager, walletIds: readonly string[]): Promise<CallbackLinkRow[]> {
    if (walletIds.length === 0) return [];
    const rows = await queryBound<CallbackLinkRow>(
      em,
      `SELECT id, wallet_id, prefix, created_by, created_at, last_used_at, revoked_at, revoked_by FROM callback_link
        WHERE wallet_id = ANY (?::uuid[]) ORDER BY created_at DESC, id`,
      [`{${walletIds.join(',')}}`],
    );
    return rows.map(toLinkRow);
  }

  /**
   * The live link and its wallet for a secret a payment system presented on its own path, or null
   * (unknown, revoked, another system's, or the wallet deleted). One probe of the hash's unique
   * index; marks the link used. Outside a transaction a link resolved lately is taken from
   * `resolved` (which drops every link on any change), and the callbacks arriving together are
   * looked up in one statement (a statement per callback was most of a pay's round trips).
   */
  async resolve(em: EntityManager, system: PaymentSystem, secret: string): Promise<ResolvedLink | null> {
    if (!plausible(secret)) return null;
    const lookup = { em, system, hash: hashOf(secret) };
    if (em.isInTransaction()) {
      const [row] = await this.lookUp([lookup]);
      return row ? toResolvedLink(row) : null;
    }
    const key = keyOf(system, lookup.hash);
    const kept = this.resolved.get(key);
    if (kept) return kept;
    const generation = this.resolved.generation;
    const row = await this.lookups.submit(lookup);
    if (!row) return null;
    const found = toResolvedLink(row);
    this.resolved.keep(key, found, generation);
    return found;
  }

  /**
   * The link for a secret as `resolve` would find it outside a transaction, if this process
   * resolved it lately and nothing changed since (`resolved`); undefined otherwise. No database.
   */
  kept(system: PaymentSystem, secret: string): ResolvedLink | undefined {
    if (!this.resolved.active || !plausible(secret)) return undefined;
    return this.resolved.get(keyOf(system, hashOf(secret)));
  }

  /** Each lookup's link and wallet row, or null, in order; the links found marked used. */
  private async lookUp(lookups: readonly LinkLookup[]): Promise<(Record<string, unknown> | null)[]> {
    // Any caller's EntityManager reaches the same database; a lone lookup keeps its transaction.
    const rows = await queryBound<Record<string, unknown>>(
      lookups[0]!.em,
      `WITH asked AS (
         SELECT * FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS a(secret_hash, payment_system, lookup_no)),
       hit AS (
         SELECT a.lookup_no, l.id AS link_id, l.created_at AS link_created_at, l.created_by AS link_created_by, l.last_used_at, l.prefix, w.*
           FROM asked a
           JOIN callback_link l ON l.secret_hash = decode(a.secret_hash, 'hex')
           JOIN wallet w ON w.id = l.wallet_id
          WHERE l.revoked_at IS NULL AND w.deleted_at IS NULL AND w.payment_system = a.payment_system),
       touched AS (
         UPDATE callback_link SET last_used_at = now()
          WHERE id IN (SELECT link_id FROM hit) AND (last_used_at IS NULL OR last_used_at < now() - interval '${LAST_USED_RESOLUTION}'))
       SELECT * FROM hit`,
      [textArray(lookups.map((l) => l.hash)), textArray(lookups.map((l) => l.system))],
      { name: 'callback_link_resolve_many' },
    );
    const byNo = new Map(rows.map((row) => [Number(row.lookup_no), row]));
    return lookups.map((_, i) => byNo.get(i + 1) ?? null);
  }
}

interface LinkLookup {
  em: EntityManager;
  system: PaymentSystem;
  /** `hashOf` the secret. */
  hash: string;
}

/** A secret of ours is 43 characters; nothing empty or longer than a path segment may be is looked up. */
function plausible(secret: string): boolean {
  return typeof secret === 'string' && secret.length > 0 && secret.length <= 256;
}

/** Where `resolved` keeps a link: per system, since a secret is only valid on its own system's path. */
function keyOf(system: PaymentSystem, hash: string): string {
  return `${system}:${hash}`;
}

function toResolvedLink(row: Record<string, unknown>): ResolvedLink {
  const { lookup_no: _lookupNo, link_id, link_created_at, link_created_by, last_used_at, prefix, ...wallet } = row;
  return {
    wallet: toWalletRow(wallet as unknown as WalletRow),
    link: toLinkRow({
      id: link_id as string,
      wallet_id: wallet.id as string,
      prefix: prefix as string,
      created_by: link_created_by as string | null,
      created_at: link_created_at as Date,
      last_used_at: last_used_at as Date | null,
      revoked_at: null,
      revoked_by: null,
    }),
  };
}
