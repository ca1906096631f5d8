import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, NotFoundError } from '../platform/errors';
import type { LedgerService } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';
import { textArray } from '../platform/sql-arrays';
import type { PartyEvent } from './party-events';
import type { ShopScheduler } from './shop-scheduler';
import { shopPayoutAccount, toShopRow, type ShopKey, type ShopRow } from './shop';

/**
 * Shops as party-management describes them: created once, then their payout tool, schedule,
 * blocking and suspension change. Each event is applied in the caller's transaction, together
 * with the shop's job booking when its schedule changes.
 */
export class ShopService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly scheduler: ShopScheduler,
  ) {}

  async apply(em: EntityManager, event: PartyEvent): Promise<void> {
    if (event.type === 'ShopCreated') return this.create(em, event);
    const locked = await this.lock(em, event);
    if (!locked) throw new NotFoundError(`Shop ${event.partyId}/${event.shopId} does not exist`, { partyId: event.partyId, shopId: event.shopId });
    const { shop, now } = locked;
    switch (event.type) {
      case 'ShopPayoutScheduleChanged':
        if (shop.payout_schedule_id === event.payoutScheduleId) return;
        return this.changeSchedule(em, shop, event.payoutScheduleId, now);
      case 'ShopPayoutToolChanged':
        return this.update(em, event, 'payout_tool_id = ?', [event.payoutToolId]);
      case 'ShopBlocked':
        return this.update(em, event, 'blocked = true, blocked_reason = ?', [event.reason]);
      case 'ShopUnblocked':
        return this.update(em, event, 'blocked = false, blocked_reason = NULL', []);
      case 'ShopSuspended':
        return this.update(em, event, 'suspended = true', []);
      case 'ShopActivated':
        return this.update(em, event, 'suspended = false', []);
    }
  }

  async find(em: EntityManager, key: ShopKey): Promise<ShopRow | null> {
    const [row] = await em.execute<ShopRow[]>('SELECT * FROM shop WHERE party_id = ? AND shop_id = ?', [key.partyId, key.shopId]);
    return row ? toShopRow(row) : null;
  }

  /**
   * Locks the shop row (a run and a schedule change of the same shop take turns) and reads the
   * database's clock with it, so every process agrees with graphile-worker on what is due.
   */
  async lock(em: EntityManager, key: ShopKey): Promise<{ shop: ShopRow; now: Date } | null> {
    const [row] = await em.execute<(ShopRow & { db_now: string })[]>(
      'SELECT *, now() AS db_now FROM shop WHERE party_id = ? AND shop_id = ? FOR UPDATE',
      [key.partyId, key.shopId],
    );
    if (!row) return null;
    const { db_now, ...shop } = row;
    return { shop: toShopRow(shop), now: new Date(db_now) };
  }

  /** The currencies of the given shops, for validating their operations in bulk. */
  async currencies(em: EntityManager, keys: readonly ShopKey[]): Promise<Map<string, string>> {
    const rows = await em.execute<{ party_id: string; shop_id: string; currency: string }[]>(
      // LATERAL: one primary-key look-up per shop, however many shops there are.
      `SELECT s.party_id, s.shop_id, s.currency FROM unnest(?::text[], ?::text[]) AS k(party_id, shop_id),
         LATERAL (SELECT * FROM shop s WHERE s.party_id = k.party_id AND s.shop_id = k.shop_id) s`,
      [textArray(keys.map((k) => k.partyId)), textArray(keys.map((k) => k.shopId))],
    );
    return new Map(rows.map((r) => [`${r.party_id}/${r.shop_id}`, r.currency]));
  }

  private async create(em: EntityManager, event: Extract<PartyEvent, { type: 'ShopCreated' }>): Promise<void> {
    const [created] = await em.execute<ShopRow[]>(
      `INSERT INTO shop (party_id, shop_id, currency, payout_tool_id, payout_schedule_id, schedule_since)
       VALUES (?, ?, ?, ?, ?, CASE WHEN ?::text IS NULL THEN NULL ELSE now() END)
       ON CONFLICT (party_id, shop_id) DO NOTHING RETURNING *`,
      [event.partyId, event.shopId, event.currency, event.payoutToolId, event.payoutScheduleId, event.payoutScheduleId],
    );
    if (!created) {
      // The same creation again under another eventId changes nothing; a different currency is a contradiction.
      const existing = (await this.find(em, event))!;
      if (existing.currency !== event.currency) {
        throw new ConflictError(`Shop ${event.partyId}/${event.shopId} exists with currency ${existing.currency}`, {
          field: 'currency',
        });
      }
      return;
    }
    // Opened now so that operations, which come in volume, and runs never have to open them.
    const payout = shopPayoutAccount(event, event.currency);
    await this.ledger.accountIds(em, [payout, { ...payout, type: PayoutAccount.reserved }]);
    const shop = toShopRow(created);
    // schedule_since is this transaction's now(): the database clock the booking needs.
    if (shop.payout_schedule_id) await this.scheduler.book(em, shop, shop.schedule_since!);
  }

  private async changeSchedule(em: EntityManager, shop: ShopRow, scheduleId: string | null, now: Date): Promise<void> {
    const [changed] = await em.execute<ShopRow[]>(
      `UPDATE shop SET payout_schedule_id = ?, schedule_since = CASE WHEN ?::text IS NULL THEN NULL ELSE now() END, updated_at = now()
        WHERE party_id = ? AND shop_id = ? RETURNING *`,
      [scheduleId, scheduleId, shop.party_id, shop.shop_id],
    );
    await this.scheduler.book(em, toShopRow(changed!), now);
  }

  private async update(em: EntityManager, key: ShopKey, assignments: string, params: unknown[]): Promise<void> {
    await em.execute(`UPDATE shop SET ${assignments}, updated_at = now() WHERE party_id = ? AND shop_id = ?`, [
      ...params,
      key.partyId,
      key.shopId,
    ]);
  }
}
