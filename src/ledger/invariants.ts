import type { EntityManager } from '@mikro-orm/postgresql';

export interface Violation {
  rule: string;
  detail: string;
}

/**
 * The ledger's rules, checked over the whole database in SQL. An empty list means the books
 * hold: every currency sums to zero, every balance equals its transfers, nothing is negative
 * where it may not be, the payout accounts hold exactly what live payouts say they hold, and a
 * scheduled payout pays exactly the shop operations marked with it.
 */
export async function checkLedger(em: EntityManager): Promise<Violation[]> {
  const violations: Violation[] = [];
  const add = (rule: string, rows: Record<string, unknown>[]) =>
    rows.forEach((row) => violations.push({ rule, detail: JSON.stringify(row) }));

  add(
    'each currency sums to zero over all accounts',
    await em.execute(`SELECT currency, sum(balance)::text AS total FROM ledger_account GROUP BY currency HAVING sum(balance) <> 0`),
  );
  add(
    'each balance equals its credits minus its debits',
    await em.execute(`
      SELECT a.id, a.balance::text AS balance, (coalesce(c.total, 0) - coalesce(d.total, 0))::text AS from_transfers
        FROM ledger_account a
        LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS total FROM ledger_transfer GROUP BY 1) c ON c.id = a.id
        LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS total FROM ledger_transfer GROUP BY 1) d ON d.id = a.id
       WHERE a.balance <> coalesce(c.total, 0) - coalesce(d.total, 0)`),
  );
  add(
    'no balance below zero where the account forbids it',
    await em.execute(`SELECT id, balance::text AS balance FROM ledger_account WHERE NOT allow_negative AND balance < 0`),
  );
  add(
    'reserved and in-flight accounts hold exactly their live payouts',
    await em.execute(`
      WITH expected AS (
        SELECT a.id, a.type, a.balance,
               coalesce((SELECT sum(p.amount) FROM payout p
                          WHERE p.payee_kind = a.owner_kind AND p.payee_id = a.owner_id AND p.currency = a.currency
                            AND p.status = ANY (CASE a.type WHEN 'payout-reserved' THEN ARRAY['CREATED']
                                                             ELSE ARRAY['SENT', 'ACCEPTED'] END)), 0) AS live
          FROM ledger_account a
         WHERE a.type IN ('payout-reserved', 'payout-sent'))
      SELECT id, type, balance::text AS balance, live::text AS live FROM expected WHERE balance <> live`),
  );
  add(
    'every payout status has its one ledger movement',
    await em.execute(`
      SELECT p.id, p.status FROM payout p
       WHERE NOT EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.idempotency_key = 'payout:' || p.id || ':CREATED')
          OR (p.status <> 'CREATED' AND p.status <> 'CANCELLED'
              AND NOT EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.idempotency_key = 'payout:' || p.id || ':SENT'))`),
  );
  add(
    'a marked operation belongs to a live scheduled payout of its shop',
    await em.execute(`
      SELECT o.id, o.payout_id FROM shop_operation o LEFT JOIN payout p ON p.id = o.payout_id
       WHERE o.payout_id IS NOT NULL
         AND (p.id IS NULL OR p.source <> 'SCHEDULE' OR p.party_id <> o.party_id OR p.shop_id <> o.shop_id
              OR p.status IN ('CANCELLED', 'REJECTED', 'RETURNED'))`),
  );
  add(
    'a live scheduled payout pays exactly the sum of its operations',
    await em.execute(`
      SELECT p.id, p.amount::text AS amount, coalesce(sum(o.payable), 0)::text AS operations
        FROM payout p LEFT JOIN shop_operation o ON o.payout_id = p.id
       WHERE p.source = 'SCHEDULE' AND p.status NOT IN ('CANCELLED', 'REJECTED', 'RETURNED')
       GROUP BY p.id HAVING p.amount <> coalesce(sum(o.payable), 0)`),
  );
  return violations;
}
