import type { AccountKey } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';
import { withDates } from '../platform/rows';

export const PARK_STATUSES = ['ACTIVE', 'DISABLED'] as const;
export type ParkStatus = (typeof PARK_STATUSES)[number];

/** A taxi park: a fleet company's payee (`PARK:<id>`) whose money is its `payout` account. */
export interface ParkRow {
  id: string;
  name: string;
  currency: string;
  email: string | null;
  timezone: string;
  status: ParkStatus;
  /** The `occurredAt` of the upsert this row holds. */
  version_at: Date;
  updated_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** What an upsert says about a park, from `fleet.parks` or an admin. */
export interface ParkUpsert {
  parkId: string;
  name: string;
  currency: string;
  email: string | null;
  timezone: string;
  status: ParkStatus;
  occurredAt: Date;
}

export function toParkRow(row: ParkRow): ParkRow {
  const dated = withDates(row, ['version_at', 'created_at', 'updated_at']);
  return { ...dated, currency: dated.currency.trim() };
}

/** The ledger account a park is paid from (accruals credit it). */
export function parkPayoutAccount(parkId: string, currency: string): AccountKey {
  return { owner: { kind: 'PARK', id: parkId }, type: PayoutAccount.available, currency };
}
