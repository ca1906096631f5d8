import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { PAYOUT_TABLES, balances, expectNothingChanged, fund, openAccount, unique, useSqlTestDatabase } from './sql-helpers';

/**
 * The fleet-payouts module's SQL: `fleet_instant_press`, one press of a park's instant-payout
 * button, called as InstantPayouts calls it. Each refusal in the contract's order, that a refusal
 * writes nothing, what a paid press writes, and that presses of one park take turns.
 */

let client: Client;
const db = useSqlTestDatabase((opened) => (client = opened.client));

const TABLES = { ...PAYOUT_TABLES, fleet_payout_settings: 'singleton', fleet_instant_limit: 'currency' } as const;
const HOUR = 3_600_000;

interface Press {
  outcome: string;
  park_status: string | null;
  instant_enabled: boolean | null;
  last_instant_at: Date | null;
  cooldown_hours: number | null;
  limit_minor: string | null;
  balance: string | null;
  created: boolean;
  id: string | null;
  amount: string | null;
  status: string | null;
  source: string | null;
  source_ref: string | null;
}

interface PressOptions {
  requested?: bigint | null;
  key?: string;
  now?: Date;
  /** The environment's defaults: 24 h, RUB 5000. */
  cooldownHours?: number;
  limits?: Record<string, bigint>;
  on?: Client;
}

function press(parkId: string, options: PressOptions = {}): Promise<Press> {
  const limits = options.limits ?? { RUB: 5000n };
  const key = options.key ?? unique('key');
  return (options.on ?? client)
    .query<Press>(
      `SELECT p.outcome, p.park_status, p.instant_enabled, p.last_instant_at, p.cooldown_hours, p.limit_minor::text AS limit_minor,
              p.balance::text AS balance, p.created, (p.paid).id, (p.paid).amount::text AS amount, (p.paid).status, (p.paid).source, (p.paid).source_ref
         FROM fleet_instant_press($1, $2::bigint, $3, $4, 'dispatcher-1', $5, $6, $7, $8::text[], $9::bigint[], 'payouts.events') p`,
      [
        parkId,
        options.requested === undefined || options.requested === null ? null : String(options.requested),
        `instant:${parkId}:${key}`,
        key,
        options.now ?? new Date(),
        randomUUID(),
        options.cooldownHours ?? 24,
        Object.keys(limits),
        Object.values(limits).map(String),
      ],
    )
    .then((result) => result.rows[0]!);
}

/** A park with `funds` on its payout account (opened, with its reserved account, only when funded). */
async function park(funds: bigint, options: { status?: 'ACTIVE' | 'DISABLED'; currency?: string } = {}): Promise<{ id: string; available: string | null }> {
  const id = unique('park');
  const currency = options.currency ?? 'RUB';
  await client.query(`INSERT INTO park (id, name, currency, timezone, status, version_at) VALUES ($1, 'P', $2, 'Europe/Moscow', $3, now())`, [
    id,
    currency,
    options.status ?? 'ACTIVE',
  ]);
  if (funds === 0n) return { id, available: null };
  const available = await openAccount(client, { ownerKind: 'PARK', owner: id, type: 'payout', currency });
  await fund(client, available, funds, currency);
  return { id, available };
}

/** The park's instant-payout row, as the press reads and writes it (none before its first press). */
const stateOf = (parkId: string) =>
  client
    .query('SELECT instant_enabled, last_instant_at, previous_instant_at, override_reason FROM fleet_park_payouts WHERE park_id = $1', [parkId])
    .then((result) => result.rows[0] ?? null);

const NEVER_PRESSED = { instant_enabled: true, last_instant_at: null, previous_instant_at: null, override_reason: null };

/**
 * A refused press: its outcome; every row of the money, payouts, messages and rules as it was; the
 * park's instant-payout row as it was (the first press of a park makes it, as it never was used).
 */
async function refused(parkId: string, options: PressOptions = {}): Promise<Press> {
  const state = await stateOf(parkId);
  const answer = await expectNothingChanged(client, TABLES, () => press(parkId, options));
  expect(answer.created).toBe(false);
  expect(answer.id).toBeNull();
  expect(await stateOf(parkId)).toEqual(state ?? (answer.outcome === 'NOT_FOUND' ? null : NEVER_PRESSED));
  return answer;
}

describe('fleet_instant_press', () => {
  it('pays: the payout with its reservation, and the press becomes the park’s latest', async () => {
    const p = await park(7000n);
    const now = new Date('2026-12-03T10:00:00.000Z');
    const paid = await press(p.id, { now, key: 'k1' });
    expect(paid).toMatchObject({ outcome: 'OK', created: true, amount: '5000', status: 'CREATED', source: 'INSTANT', source_ref: 'k1', balance: '7000', limit_minor: '5000' });
    expect(await balances(client, [p.available!])).toEqual([2000n]);
    const { rows } = await client.query('SELECT last_instant_at, previous_instant_at FROM fleet_park_payouts WHERE park_id = $1', [p.id]);
    expect(rows).toEqual([{ last_instant_at: now, previous_instant_at: null }]);
    // With no cooldown, the next press pays again (the amount asked) and remembers the press before.
    const later = new Date(now.getTime() + 1000);
    expect(await press(p.id, { now: later, cooldownHours: 0, requested: 1500n })).toMatchObject({ outcome: 'OK', created: true, amount: '1500' });
    expect((await client.query('SELECT last_instant_at, previous_instant_at FROM fleet_park_payouts WHERE park_id = $1', [p.id])).rows).toEqual([
      { last_instant_at: later, previous_instant_at: now },
    ]);
  });

  it('answers a key that paid with its payout, whatever happened since, and writes nothing', async () => {
    const p = await park(7000n);
    const first = await press(p.id, { key: 'same', requested: 100n });
    await client.query(`UPDATE park SET status = 'DISABLED' WHERE id = $1`, [p.id]);
    // Cooldown, disabled park, another amount: the same payout, not made again.
    const state = await stateOf(p.id);
    const again = await expectNothingChanged(client, TABLES, () => press(p.id, { key: 'same', requested: 999n }));
    expect(await stateOf(p.id)).toEqual(state);
    expect(again).toMatchObject({ outcome: 'OK', created: false, id: first.id, amount: '100' });
  });

  it('is NOT_FOUND for a park that does not exist, writing nothing', async () => {
    expect((await refused(unique('park'))).outcome).toBe('NOT_FOUND');
  });

  it('refuses FORBIDDEN for a disabled park and for a park with instant payouts off, before any other rule', async () => {
    const disabled = await park(0n, { status: 'DISABLED' });
    expect(await refused(disabled.id, { requested: 10n ** 12n })).toMatchObject({ outcome: 'FORBIDDEN', park_status: 'DISABLED' });
    const off = await park(7000n);
    await client.query(`INSERT INTO fleet_park_payouts (park_id, instant_enabled, override_reason) VALUES ($1, false, 'not bought')`, [off.id]);
    expect(await refused(off.id)).toMatchObject({ outcome: 'FORBIDDEN', instant_enabled: false });
  });

  it('refuses COOLDOWN within K hours of the last payout, before the limit; the database’s cooldown over the default', async () => {
    const p = await park(7000n);
    const at = new Date('2026-12-03T10:00:00.000Z');
    await press(p.id, { now: at, requested: 100n });
    const within = await refused(p.id, { now: new Date(at.getTime() + 24 * HOUR - 1), requested: 10n ** 12n });
    expect(within).toMatchObject({ outcome: 'COOLDOWN', cooldown_hours: 24, last_instant_at: at });
    expect(await press(p.id, { now: new Date(at.getTime() + 24 * HOUR), requested: 100n })).toMatchObject({ outcome: 'OK', created: true });
    await client.query('INSERT INTO fleet_payout_settings (instant_cooldown_hours) VALUES (48) ON CONFLICT (singleton) DO UPDATE SET instant_cooldown_hours = 48');
    try {
      expect(await refused(p.id, { now: new Date(at.getTime() + 47 * HOUR), cooldownHours: 1 })).toMatchObject({ outcome: 'COOLDOWN', cooldown_hours: 48 });
    } finally {
      await client.query('DELETE FROM fleet_payout_settings');
    }
  });

  it('refuses LIMIT_EXCEEDED above the limit in the park’s currency, before the balance; none is a limit of 0', async () => {
    const p = await park(100n);
    expect(await refused(p.id, { requested: 5001n })).toMatchObject({ outcome: 'LIMIT_EXCEEDED', limit_minor: '5000', balance: '100' });
    await client.query(`INSERT INTO fleet_instant_limit (currency, limit_minor) VALUES ('RUB', 50) ON CONFLICT (currency) DO UPDATE SET limit_minor = 50`);
    try {
      expect(await refused(p.id, { requested: 51n })).toMatchObject({ outcome: 'LIMIT_EXCEEDED', limit_minor: '50' });
      expect(await press(p.id, { requested: 50n })).toMatchObject({ outcome: 'OK', amount: '50' });
    } finally {
      await client.query(`DELETE FROM fleet_instant_limit WHERE currency = 'RUB'`);
    }
    const kzt = await park(100n, { currency: 'KZT' });
    expect(await refused(kzt.id, { requested: 1n })).toMatchObject({ outcome: 'LIMIT_EXCEEDED', limit_minor: '0' });
  });

  it('refuses INSUFFICIENT_FUNDS above the balance, and with nothing to pay ("all" of nothing)', async () => {
    const p = await park(100n);
    expect(await refused(p.id, { requested: 101n })).toMatchObject({ outcome: 'INSUFFICIENT_FUNDS', balance: '100' });
    const empty = await park(0n);
    expect(await refused(empty.id)).toMatchObject({ outcome: 'INSUFFICIENT_FUNDS', balance: '0' });
    expect(await press(p.id)).toMatchObject({ outcome: 'OK', amount: '100' });
  });

  it('makes presses of one park take turns: the second waits for the first, then sees its cooldown', async () => {
    const p = await park(7000n);
    const other = await db.connect();
    await client.query('BEGIN');
    try {
      expect(await press(p.id, { requested: 100n })).toMatchObject({ outcome: 'OK', created: true });
      const second = press(p.id, { requested: 100n, on: other });
      const waited = await Promise.race([second.then(() => false), new Promise((resolve) => setTimeout(() => resolve(true), 200))]);
      expect(waited).toBe(true);
      await client.query('COMMIT');
      expect(await second).toMatchObject({ outcome: 'COOLDOWN', created: false });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
    expect(Number((await client.query('SELECT count(*) AS n FROM payout WHERE payee_id = $1', [p.id])).rows[0]!.n)).toBe(1);
  });
});
