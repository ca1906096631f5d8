import type { EntityManager } from '@mikro-orm/postgresql';

export interface OutboxMessage {
  topic: string;
  key: string | null;
  value: unknown;
}

/** JSON with bigints written as strings of digits, as contracts.md wants money on the wire. */
export function toWireJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Records messages for Kafka in the caller's transaction: they are published (by the
 * `outbox__publish` task) only if and after that transaction commits.
 */
export async function writeToOutbox(em: EntityManager, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const placeholders = messages.map(() => '(?, ?, ?)').join(', ');
  const params = messages.flatMap((m) => [m.topic, m.key, toWireJson(m.value)]);
  await em.execute(`INSERT INTO outbox_message (topic, key, value) VALUES ${placeholders}`, params, 'run');
}
