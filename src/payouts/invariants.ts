import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import type { Invariant } from '../platform/modules';
import { PayoutAccount } from './lifecycle';
import { transferKey } from './payout-steps';

/**
 * What payouts hold in the ledger, checked against it through the ledger's service: the reserved
 * and in-flight accounts hold exactly the live payouts, and every status a payout reached was
 * moved in money.
 */
export function payoutInvariants(ledger: LedgerService): Invariant[] {
  return [
    {
      rule: 'reserved and in-flight accounts hold exactly their live payouts',
      violations: async (em) => {
        const held = await heldByPayouts(em);
        const accounts = await ledger.accountsOfTypes(em, [PayoutAccount.reserved, PayoutAccount.inFlight]);
        const wrong: Record<string, unknown>[] = [];
        for (const account of accounts) {
          const key = holdingKey(account.key.owner.kind, account.key.owner.id, account.key.type, account.key.currency);
          const live = held.get(key) ?? 0n;
          held.delete(key);
          if (account.balance !== live) wrong.push({ id: account.id, type: account.key.type, balance: String(account.balance), live: String(live) });
        }
        // A live payout whose account was never opened holds money the ledger does not have.
        for (const [key, live] of held) if (live !== 0n) wrong.push({ account: key, balance: '0', live: String(live) });
        return wrong;
      },
    },
    {
      rule: 'every payout status has its one ledger movement',
      violations: async (em) => {
        const payouts = await em.execute<{ id: string; status: string }[]>('SELECT id, status FROM payout ORDER BY created_at, id');
        // Every payout reserved its amount; every one that left CREATED other than by a cancel was sent.
        const expected = payouts.flatMap((p) => [
          { payout: p, key: transferKey(p.id, 'CREATED') },
          ...(p.status !== 'CREATED' && p.status !== 'CANCELLED' ? [{ payout: p, key: transferKey(p.id, 'SENT') }] : []),
        ]);
        const missing = new Set(await ledger.missingTransferKeys(em, expected.map((e) => e.key)));
        const wrong = new Map(expected.filter((e) => missing.has(e.key)).map((e) => [e.payout.id, e.payout]));
        return [...wrong.values()];
      },
    },
  ];
}

/** What live payouts hold per (payee, account type, currency): CREATED ones reserved, sent ones in flight. */
async function heldByPayouts(em: EntityManager): Promise<Map<string, bigint>> {
  const rows = await em.execute<{ payee_kind: string; payee_id: string; currency: string; in_flight: boolean; total: string }[]>(
    `SELECT payee_kind, payee_id, currency, status <> 'CREATED' AS in_flight, sum(amount)::text AS total FROM payout
      WHERE status IN ('CREATED', 'SENT', 'ACCEPTED') GROUP BY 1, 2, 3, 4`,
  );
  return new Map(
    rows.map((row) => [
      holdingKey(row.payee_kind, row.payee_id, row.in_flight ? PayoutAccount.inFlight : PayoutAccount.reserved, row.currency.trim()),
      BigInt(row.total),
    ]),
  );
}

function holdingKey(kind: string, id: string, type: string, currency: string): string {
  return `${kind}:${id}/${type}/${currency}`;
}
