import { withDates } from '../platform/rows';
import type { PaymentSystem } from './payment-systems';

/** A park's wallet with one payment system, as stored (its credentials sealed). */
export interface WalletRow {
  id: string;
  park_id: string;
  payment_system: PaymentSystem;
  title: string;
  currency: string;
  enabled: boolean;
  /** Bounds of one top-up, in minor units; null: no bound. */
  min_amount: string | null;
  max_amount: string | null;
  credentials_key_id: string | null;
  credentials_sealed: Buffer | null;
  credentials_hint: string | null;
  credentials_expire_at: Date | null;
  /** When the credentials were last given (not when re-sealed): the key's identity for expiry notices. */
  credentials_set_at: Date | null;
  created_by: string | null;
  updated_by: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export function toWalletRow(row: WalletRow): WalletRow {
  const dated = withDates(row, ['created_at', 'updated_at', 'deleted_at', 'credentials_expire_at', 'credentials_set_at']);
  return {
    ...dated,
    currency: dated.currency.trim(),
    min_amount: dated.min_amount === null ? null : String(dated.min_amount),
    max_amount: dated.max_amount === null ? null : String(dated.max_amount),
  };
}

/** What a sealed value is bound to: it opens only for this wallet and system. */
export function credentialsContext(wallet: Pick<WalletRow, 'id' | 'payment_system'>): string {
  return `wallet:${wallet.id}:${wallet.payment_system}`;
}

/** A callback link as stored: only the hash of its secret. */
export interface CallbackLinkRow {
  id: string;
  wallet_id: string;
  prefix: string;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

export function toLinkRow(row: CallbackLinkRow & { secret_hash?: unknown }): CallbackLinkRow {
  const { secret_hash: _hash, ...rest } = row;
  return withDates(rest, ['created_at', 'last_used_at', 'revoked_at']);
}
