import { Client } from 'pg';
import type { Logger } from '../platform/logger';

/** The channel the triggers on `callback_link` and `wallet` notify (Migration20261220000000_callback_link_changes). */
export const LINK_CHANGES_CHANNEL = 'callback_links_changed';

/** How long a lost LISTEN connection waits before it tries again. */
const RECONNECT_MS = 1000;

/**
 * The links a callbacks process resolved lately, so that a payment's check and its pay, or a busy
 * park's callbacks, look their link up once: each kept at most `ttlMs`, and all of them dropped the
 * moment PostgreSQL says a link or a wallet changed (LISTEN on the channel the triggers notify).
 *
 * Links are kept only while that LISTEN connection is up: without it every callback looks its link
 * up, so a revocation or a wallet switched off is never missed. A change that commits while a
 * look-up runs keeps that look-up's answer out (`generation`). Only links found are kept, under the
 * hash of their secret and at most `maxEntries` of them: made-up secrets keep nothing.
 */
export class LinkCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();
  private client: Client | null = null;
  private listening = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  /** Moves on every change and every lost connection: an answer read before it is not kept. */
  private changes = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** Whether links are kept now: LISTEN is up (it never starts with a TTL of 0). */
  get active(): boolean {
    return this.listening;
  }

  /** Take before a look-up; hand it to `keep` with the answer. */
  get generation(): number {
    return this.changes;
  }

  get(key: string): T | undefined {
    if (!this.active) return undefined;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > Date.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Keeps a look-up's answer, unless something changed since `generation` was taken. */
  keep(key: string, value: T, generation: number): void {
    if (!this.active || generation !== this.changes) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
  }

  /** Starts listening (and keeping); a lost connection is retried every second until `stop`. */
  async watch(databaseUrl: string, logger: Logger): Promise<void> {
    if (this.ttlMs <= 0 || this.stopped) return;
    const client = new Client({ connectionString: databaseUrl, application_name: 'payouts link-cache', connectionTimeoutMillis: 10_000 });
    const lost = (reason: unknown) => {
      if (this.client !== client) return;
      this.client = null;
      this.listening = false;
      this.forget();
      void closeQuietly(client);
      if (this.stopped) return;
      logger.warn({ err: reason }, 'LISTEN for callback link changes lost: links are looked up every time until it is back');
      this.retry = setTimeout(() => void this.watch(databaseUrl, logger), RECONNECT_MS);
    };
    this.client = client;
    client.on('notification', () => this.forget());
    client.on('error', lost);
    client.on('end', () => lost(new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${LINK_CHANGES_CHANNEL}`);
      if (this.client === client) {
        this.listening = true;
        // A look-up begun before now may have read a change whose NOTIFY no one heard: not kept.
        this.forget();
      }
    } catch (error) {
      lost(error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = null;
    this.listening = false;
    this.forget();
    if (client) await closeQuietly(client);
  }

  /**
   * Drops every link kept. A change made in this process says so at once: its NOTIFY may reach the
   * listener only after the next callback has been answered.
   */
  forget(): void {
    this.changes += 1;
    this.entries.clear();
  }
}

/** Ends a connection this no longer listens on. An error while it closes has no one left to tell; unheard, it would end the process. */
async function closeQuietly(client: Client): Promise<void> {
  client.removeAllListeners();
  client.on('error', () => undefined);
  await client.end().catch(() => undefined);
}
