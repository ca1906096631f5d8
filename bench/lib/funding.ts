import { withClient } from './database';

/** Payees funded per transaction. */
const FUNDING_BATCH = 5000;

/**
 * Opens the `payout` account (and any `extraTypes`) of payees `prefix0…prefix{count-1}` of one
 * kind and credits each `amount` from `world` through ledger_post, as an accrual does (same
 * idempotency key and accrual row), FUNDING_BATCH payees per transaction. Far faster than the
 * accrual service one by one, and the same books. `beforeEach(db, from, to)` runs first in each
 * batch's transaction (e.g. to insert the payees' own rows). Returns the time it took (ms).
 */
export async function fundPayees(
  databaseUrl: string,
  options: {
    kind: string;
    prefix: string;
    count: number;
    amount: bigint;
    currency: string;
    extraTypes?: readonly string[];
    beforeEach?: (db: import('pg').Client, from: number, to: number) => Promise<unknown>;
  },
): Promise<number> {
  const began = performance.now();
  const { kind, prefix, currency } = options;
  const reference = 'bench-funding';
  await withClient(databaseUrl, async (db) => {
    await db.query(
      `INSERT INTO ledger_account (owner_kind, owner_id, type, currency, allow_negative)
       VALUES ('SYSTEM', 'system', 'world', $1, true) ON CONFLICT DO NOTHING`,
      [currency],
    );
    const world = (
      await db.query<{ id: string }>(`SELECT id FROM ledger_account WHERE owner_kind = 'SYSTEM' AND type = 'world' AND currency = $1`, [currency])
    ).rows[0]!.id;
    for (let from = 0; from < options.count; from += FUNDING_BATCH) {
      const to = Math.min(options.count, from + FUNDING_BATCH) - 1;
      await db.query('BEGIN');
      await options.beforeEach?.(db, from, to);
      await db.query(
        `INSERT INTO ledger_account (owner_kind, owner_id, type, currency)
         SELECT $5, $1 || n, t.type, $4 FROM generate_series($2::int, $3::int) n, unnest($6::text[]) t(type)
         ON CONFLICT DO NOTHING`,
        [prefix, from, to, currency, kind, ['payout', ...(options.extraTypes ?? [])]],
      );
      await db.query(
        `WITH payees AS (
           SELECT a.id, a.owner_id FROM generate_series($2::int, $3::int) n
             JOIN ledger_account a ON a.owner_kind = $8 AND a.owner_id = $1 || n AND a.type = 'payout' AND a.currency = $4
            ORDER BY n),
         posted AS (
           SELECT c.owner_id, p.transfer_id FROM payees c
             CROSS JOIN LATERAL ledger_post('accrual:' || $8 || ':' || c.owner_id || ':' || $7, $5, c.id, $6, $4, 'accrual', $7) p)
         INSERT INTO accrual (payee_kind, payee_id, account_type, amount, currency, reference, origin, actor, occurred_at, transfer_id)
         SELECT $8, owner_id, 'payout', $6, $4, $7, 'MANUAL', 'bench', now(), transfer_id FROM posted`,
        [prefix, from, to, currency, world, options.amount.toString(), reference, kind],
      );
      await db.query('COMMIT');
    }
  });
  return performance.now() - began;
}
