import type { AccountKey } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';
import { payeeId } from '../access/payee';
import { withDates } from '../platform/rows';

export const SHOP_STATUSES = ['ACTIVE', 'BLOCKED', 'SUSPENDED'] as const;
export type ShopStatus = (typeof SHOP_STATUSES)[number];

export interface ShopKey {
  partyId: string;
  shopId: string;
}

/** A shop as stored: the `shop` table's row. */
export interface ShopRow {
  party_id: string;
  shop_id: string;
  currency: string;
  blocked: boolean;
  blocked_reason: string | null;
  suspended: boolean;
  status: ShopStatus;
  payout_tool_id: string | null;
  payout_schedule_id: string | null;
  schedule_since: Date | null;
  last_cutoff: Date | null;
  next_cutoff: Date | null;
  next_fire_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const SHOP_DATES = ['schedule_since', 'last_cutoff', 'next_cutoff', 'next_fire_at', 'created_at', 'updated_at'] as const;

export function toShopRow(raw: ShopRow): ShopRow {
  return withDates(raw, SHOP_DATES);
}

/** The ledger owner id of a shop, the same as its payee id: `partyId/shopId`. */
export function shopOwnerId(shop: ShopKey): string {
  return payeeId({ kind: 'SHOP', partyId: shop.partyId, shopId: shop.shopId });
}

/** The account a shop's operations are credited to and its payouts are made from. */
export function shopPayoutAccount(shop: ShopKey, currency: string): AccountKey {
  return { owner: { kind: 'SHOP', id: shopOwnerId(shop) }, type: PayoutAccount.available, currency };
}

/**
 * A shop's payable balance may go below zero: a refund or chargeback can exceed what is unpaid,
 * and the shop then owes it back from later payments. Every other payee account may not.
 */
export function shopBalanceMayGoNegative(key: AccountKey): boolean {
  return key.owner.kind === 'SHOP' && key.type === PayoutAccount.available;
}
