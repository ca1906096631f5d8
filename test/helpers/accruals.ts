/** An `accruals` message as contracts.md writes it; `extra` overrides or adds fields. */
export function accrualEvent(eventId: string, clientId: string, amount: unknown, reference: string, extra: Record<string, unknown> = {}) {
  return {
    eventId,
    occurredAt: '2026-11-02T10:00:00Z',
    payee: { kind: 'CLIENT', id: clientId },
    account: 'payout',
    amount,
    currency: 'RUB',
    reference,
    ...extra,
  };
}
