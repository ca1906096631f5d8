import type { Invariant } from '../platform/modules';

/**
 * The ledger's own rules, over its two tables: every currency sums to zero, every balance equals
 * its transfers, nothing is negative where it may not be. (Payouts and shop operations check what
 * they hold against the ledger in their own modules.)
 */
export const ledgerInvariants: readonly Invariant[] = [
  {
    rule: 'each currency sums to zero over all accounts',
    violations: (em) => em.execute(`SELECT currency, sum(balance)::text AS total FROM ledger_account GROUP BY currency HAVING sum(balance) <> 0`),
  },
  {
    rule: 'each balance equals its credits minus its debits',
    violations: (em) =>
      em.execute(`
        SELECT a.id, a.balance::text AS balance, (coalesce(c.total, 0) - coalesce(d.total, 0))::text AS from_transfers
          FROM ledger_account a
          LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS total FROM ledger_transfer GROUP BY 1) c ON c.id = a.id
          LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS total FROM ledger_transfer GROUP BY 1) d ON d.id = a.id
         WHERE a.balance <> coalesce(c.total, 0) - coalesce(d.total, 0)`),
  },
  {
    rule: 'no balance below zero where the account forbids it',
    violations: (em) => em.execute(`SELECT id, balance::text AS balance FROM ledger_account WHERE NOT allow_negative AND balance < 0`),
  },
];
