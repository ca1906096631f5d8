import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { checkReference } from '../access/payee';
import { queryBound } from '../platform/bound-query';
import { SqlState, sqlState } from '../platform/database-errors';
import { InvalidInputError } from '../platform/errors';
import { textArray } from '../platform/sql-arrays';
import { parseInstantMs } from '../platform/time';

export const DEVICE_STATUSES = ['ONLINE', 'OFFLINE'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** A `signalq.device-status` message (contracts.md): a camera went online or offline. */
export interface DeviceStatusEvent {
  eventId: string;
  /** As the message wrote it (checked by `parseInstantMs`), for the database to read: it may hold microseconds. */
  occurredAt: string;
  /** `occurredAt` in milliseconds since the epoch (which month's partition the event goes to). */
  occurredAtMs: number;
  parkId: string;
  deviceId: string;
  status: DeviceStatus;
}

export function parseDeviceStatus(eventId: string, json: Record<string, unknown>): DeviceStatusEvent {
  if (!DEVICE_STATUSES.includes(json.status as DeviceStatus)) {
    throw new InvalidInputError(`status must be one of ${DEVICE_STATUSES.join(', ')}`, { field: 'status' });
  }
  return {
    eventId,
    occurredAtMs: parseInstantMs(json.occurredAt),
    occurredAt: json.occurredAt as string,
    parkId: checkReference(json.parkId, 'parkId'),
    deviceId: checkReference(json.deviceId, 'deviceId'),
    status: json.status as DeviceStatus,
  };
}

/**
 * The cameras' status history. Rows are stored as they come, whatever the order: readers order
 * them by `occurred_at`, so a late event takes its place in the history. Each row keeps its
 * eventId, unique in its month's partition: a redelivered event is dropped by the insert itself.
 */
export class DeviceStatusHistory {
  /** Months whose partition exists (made and committed; partitions are never dropped under a running service). */
  private readonly knownMonths = new Set<string>();

  constructor(private readonly pool: Pool) {}

  /**
   * Records the events not seen before; returns the eventIds of the copies it dropped as seen
   * before (usually none, so a batch's answer is usually empty).
   *
   * Copies are rare (a redelivery after a crash or a rebalance), so a batch is first inserted as
   * it is, straight into its month's partition: the unique eventId index refuses it whole if any
   * event was seen before, and only then is it recorded copy by copy (`ON CONFLICT DO NOTHING`).
   * The plain insert costs PostgreSQL about 30% less per event than the speculative insertion
   * `ON CONFLICT` makes for every row (measured, 1,000-event batches). Either is one statement,
   * atomic by itself: outside a transaction each runs alone (no BEGIN, SAVEPOINT or COMMIT to wait
   * for), inside one the first runs under a savepoint to roll back to.
   */
  async record(em: EntityManager, events: readonly DeviceStatusEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const months = await this.ensurePartitions(events);
    const columns = [
      textArray(events.map((event) => event.parkId)),
      textArray(events.map((event) => event.deviceId)),
      textArray(events.map((event) => event.occurredAt)),
      `{${events.map((event) => (event.status === 'ONLINE' ? 't' : 'f')).join(',')}}`,
      textArray(events.map((event) => event.eventId)),
    ];
    // One month (the usual case): its partition by name, sparing PostgreSQL the routing of each row.
    const target = months.length === 1 ? partitionOf(months[0]!) : 'signalq_device_status';
    const inTransaction = em.isInTransaction();
    if (inTransaction) await queryBound(em, 'SAVEPOINT signalq_status_record', []);
    try {
      await queryBound(em, insertAllSql(target), columns, { name: `signalq_status_insert_${target}` });
      return [];
    } catch (error) {
      if (sqlState(error) !== SqlState.uniqueViolation) throw error;
      if (inTransaction) await queryBound(em, 'ROLLBACK TO SAVEPOINT signalq_status_record', []);
    }
    const dropped = await queryBound<{ event_id: string }>(em, RECORD_EACH_ONCE_SQL, columns, { name: 'signalq_status_record_once' });
    return dropped.map((row) => row.event_id);
  }

  /**
   * Makes the partitions of the events' months that are missing, in a transaction of its own
   * (committed before the batch's insert): creating a partition locks the whole table, which a
   * batch's transaction must not hold while it inserts. A batch rolled back leaves an empty one.
   */
  private async ensurePartitions(events: readonly DeviceStatusEvent[]): Promise<string[]> {
    const all = monthsOf(events);
    const months = all.filter((m) => !this.knownMonths.has(m));
    if (months.length === 0) return all;
    const client = await this.pool.connect();
    try {
      // Bounded: a caller's own open transaction holding the table would otherwise be waited for forever.
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = '10s'`);
      await client.query('SELECT signalq_status_partition(m) FROM unnest($1::date[]) AS m', [months]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    for (const month of months) this.knownMonths.add(month);
    return all;
  }
}

/** The batch's events as rows, from the five column arrays. */
const INPUT_SQL = `input AS (
    SELECT * FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::boolean[], ?::text[]) AS i(park_id, device_id, occurred_at, online, event_id))`;

/**
 * The cameras of `rows` met for the first time, or earlier than first met. A camera already known
 * as early is skipped before `ON CONFLICT`, which would lock its row (a write) to change nothing.
 * Each camera is looked up by its key (a scalar subquery, which PostgreSQL runs per camera through
 * the primary key): as `NOT EXISTS`, the anti-join a prepared statement planned while the table was
 * small hashed every known camera for every batch, a cost growing with the cameras.
 */
function firstSightingsSql(rows: string): string {
  return `INSERT INTO signalq_device AS d (park_id, device_id, first_seen_at)
  SELECT * FROM (SELECT park_id, device_id, min(occurred_at) AS first_seen_at FROM ${rows} GROUP BY park_id, device_id) n
   WHERE coalesce((SELECT known.first_seen_at > n.first_seen_at FROM signalq_device known
                    WHERE known.park_id = n.park_id AND known.device_id = n.device_id), true)
  ON CONFLICT (park_id, device_id) DO UPDATE SET first_seen_at = EXCLUDED.first_seen_at
   WHERE d.first_seen_at > EXCLUDED.first_seen_at`;
}

/** Every event of a batch none of which was seen before, into `target`, and their cameras' first sightings. */
function insertAllSql(target: string): string {
  return `WITH ${INPUT_SQL},
  stored AS (INSERT INTO ${target} (park_id, device_id, occurred_at, online, event_id) SELECT * FROM input)
  ${firstSightingsSql('input')}`;
}

/** A batch with copies of events seen before: each row checked on its own, the copies dropped and named. */
const RECORD_EACH_ONCE_SQL = `WITH ${INPUT_SQL},
  stored AS (
    INSERT INTO signalq_device_status (park_id, device_id, occurred_at, online, event_id) SELECT * FROM input
    ON CONFLICT DO NOTHING
    RETURNING park_id, device_id, occurred_at, event_id),
  devices AS (${firstSightingsSql('stored')})
  SELECT event_id FROM input EXCEPT ALL SELECT event_id FROM stored`;

/** The partition a month's events go to, as `signalq_status_partition` names it. */
function partitionOf(month: string): string {
  return `signalq_device_status_${month.slice(0, 4)}_${month.slice(5, 7)}`;
}

/**
 * The UTC months of the events (`2026-11-01`), the partitions they go to. Events come mostly in
 * the order they happened: a month's name is made once per run of events in it, not once per event.
 */
function monthsOf(events: readonly DeviceStatusEvent[]): string[] {
  const months = new Set<string>();
  let from = Infinity;
  let until = -Infinity;
  for (const { occurredAtMs } of events) {
    if (occurredAtMs >= from && occurredAtMs < until) continue;
    const time = new Date(occurredAtMs);
    from = Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), 1);
    until = Date.UTC(time.getUTCFullYear(), time.getUTCMonth() + 1, 1);
    months.add(time.toISOString().slice(0, 8) + '01');
  }
  return [...months];
}
