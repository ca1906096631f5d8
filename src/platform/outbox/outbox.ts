/** A message for Kafka, written to `outbox_message` in the transaction that caused it (see `payout_step`). */
export interface OutboxMessage {
  topic: string;
  key: string | null;
  value: unknown;
}

/** JSON with bigints written as strings of digits, as contracts.md wants money on the wire. */
export function toWireJson(value: unknown): string {
  try {
    // Most messages carry amounts as strings already, and a replacer makes every value slow.
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
}
