import type { AccountKey } from '../ledger/ledger.service';
import { withDates } from '../platform/rows';

export const DRIVER_STATUSES = ['WORKING', 'FIRED'] as const;
export type DriverStatus = (typeof DRIVER_STATUSES)[number];

/** The ledger account type a driver's top-ups are credited to. */
export const DRIVER_BALANCE_ACCOUNT = 'balance';

/** A park's driver: a payee (`DRIVER:<parkId>/<driverId>`) whose money is its `balance` account. */
export interface DriverRow {
  park_id: string;
  id: string;
  name: string;
  /** Digits only, with the country code (`79990001122`); a payer may name the driver by it. */
  phone: string | null;
  status: DriverStatus;
  version_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** What a `DriverUpserted` says about a driver. */
export interface DriverUpsert {
  parkId: string;
  driverId: string;
  name: string;
  phone: string | null;
  status: DriverStatus;
  occurredAt: Date;
}

export function toDriverRow(row: DriverRow): DriverRow {
  return withDates(row, ['version_at', 'created_at', 'updated_at']);
}

/** The payee id of a driver: `parkId/driverId`. */
export function driverPayeeId(parkId: string, driverId: string): string {
  return `${parkId}/${driverId}`;
}

/** A driver's balance account in a currency (the park's, or a wallet's). */
export function driverBalanceAccount(parkId: string, driverId: string, currency: string): AccountKey {
  return { owner: { kind: 'DRIVER', id: driverPayeeId(parkId, driverId) }, type: DRIVER_BALANCE_ACCOUNT, currency };
}

/** A phone as stored: its digits, with the country code; null when it has too few or too many. */
export function normalizePhone(value: string): string | null {
  const digits = value.replace(/[\s()+-]/g, '');
  return /^[0-9]{8,15}$/.test(digits) ? digits : null;
}
