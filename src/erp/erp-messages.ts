import { payoutSnapshot, type PayoutRow } from '../payouts/payout-messages';

/** The `erp.payouts` message (contracts.md): what the ERP needs to pay. Sent when the payout became SENT. */
export function erpPayoutMessage(sent: PayoutRow, cashPaymentFactId: string) {
  const snapshot = payoutSnapshot(sent);
  return {
    payoutId: sent.id,
    payee: snapshot.payee,
    accountId: snapshot.accountId,
    amount: snapshot.amount,
    currency: snapshot.currency,
    ...(sent.payout_tool_id ? { payoutToolId: sent.payout_tool_id } : {}),
    cashPaymentFactId,
    createdAt: snapshot.createdAt,
    sentAt: snapshot.updatedAt,
  };
}
