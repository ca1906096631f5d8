import { payeeFromStored } from '../access/payee';

export interface PayoutRow {
  id: string;
  payee_kind: string;
  payee_id: string;
  account_id: string;
  amount: string;
  currency: string;
  status: string;
  source: string;
  source_ref: string | null;
  cutoff: Date | null;
  payout_tool_id: string | null;
  sequence: number;
  created_at: Date;
  updated_at: Date;
}

/** The payout as other services see it in `payouts.events` (amounts as strings of minor units). */
export function payoutSnapshot(row: PayoutRow) {
  return {
    id: row.id,
    payee: payeeFromStored(row.payee_kind, row.payee_id),
    accountId: String(row.account_id),
    amount: String(row.amount),
    currency: row.currency.trim(),
    status: row.status,
    source: row.source,
    sourceRef: row.source_ref,
    cutoff: row.cutoff ? new Date(row.cutoff).toISOString() : null,
    payoutToolId: row.payout_tool_id,
    sequence: row.sequence,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export function payoutEvent(row: PayoutRow, occurredAt: Date) {
  return {
    payoutId: row.id,
    sequence: row.sequence,
    status: row.status,
    occurredAt: occurredAt.toISOString(),
    payout: payoutSnapshot(row),
  };
}
