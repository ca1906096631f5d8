import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { expectNothingChanged, unique, useSqlTestDatabase } from './sql-helpers';

/** The parks module's SQL function, as other modules' SQL calls it. */

let client: Client;
useSqlTestDatabase((opened) => (client = opened.client));

const PARK_TABLES = { park: 'id' } as const;

async function park(id: string, status: 'ACTIVE' | 'DISABLED', currency = 'RUB'): Promise<void> {
  await client.query(
    `INSERT INTO park (id, name, currency, timezone, status, version_at) VALUES ($1, 'P', $2, 'Europe/Moscow', $3, now())`,
    [id, currency, status],
  );
}

const payable = (id: string) =>
  client.query<{ status: string | null; currency: string | null }>('SELECT status, currency FROM park_payable($1)', [id]).then((r) => r.rows);

describe('park_payable', () => {
  it('gives a park’s status and currency, and writes nothing', async () => {
    const active = unique('park');
    const disabled = unique('park');
    await park(active, 'ACTIVE', 'KZT');
    await park(disabled, 'DISABLED');
    expect(await expectNothingChanged(client, PARK_TABLES, () => payable(active))).toEqual([{ status: 'ACTIVE', currency: 'KZT' }]);
    expect(await payable(disabled)).toEqual([{ status: 'DISABLED', currency: 'RUB' }]);
  });

  it('answers one row of nulls for a park that does not exist, matching ids exactly', async () => {
    const id = unique('park');
    await park(id, 'ACTIVE');
    expect(await payable(unique('park'))).toEqual([{ status: null, currency: null }]);
    expect(await payable(id.toUpperCase())).toEqual([{ status: null, currency: null }]);
    expect(await payable(`${id}%`)).toEqual([{ status: null, currency: null }]);
  });
});
