import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { useSqlTestDatabase } from './sql-helpers';

/** The signalq module's SQL function: the status history's partitions, made on demand. */

let client: Client;
const db = useSqlTestDatabase((opened) => (client = opened.client));

const partitions = () =>
  client
    .query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'signalq_device_status'::regclass ORDER BY c.relname`,
    )
    .then((r) => r.rows);

describe('signalq_status_partition', () => {
  it('makes the partition of a month (any day of it) once, bounded by the month in UTC, and takes that month’s rows', async () => {
    await client.query(`SET TIME ZONE 'Europe/Moscow'`);
    await client.query(`SELECT signalq_status_partition('2026-11-17')`);
    await client.query(`SELECT signalq_status_partition('2026-11-01')`);
    expect(await partitions()).toEqual([
      { name: 'signalq_device_status_2026_11', bound: `FOR VALUES FROM ('2026-11-01 03:00:00+03') TO ('2026-12-01 03:00:00+03')` },
    ]);
    await client.query(`INSERT INTO signalq_device_status VALUES ('p', 'd', '2026-11-30T23:59:59Z', true), ('p', 'd', '2026-11-01T00:00:00Z', false)`);
    await expect(client.query(`INSERT INTO signalq_device_status VALUES ('p', 'd', '2026-12-01T00:00:00Z', true)`)).rejects.toThrow(/no partition/);
    await client.query(`RESET TIME ZONE`);
  });

  it('tolerates another session making the same month at the same time', async () => {
    const other = await db.connect();
    await client.query('BEGIN');
    await client.query(`SELECT signalq_status_partition('2027-01-05')`);
    const racing = other.query(`SELECT signalq_status_partition('2027-01-20')`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.query('COMMIT');
    await racing;
    expect((await partitions()).map((p) => p.name)).toContain('signalq_device_status_2027_01');
  });
});
