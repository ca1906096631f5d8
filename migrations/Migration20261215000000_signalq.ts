import { Migration } from '@mikro-orm/migrations';

/**
 * Camera billing (signalq): the cameras' status history, each park's config versions, the periods
 * billed and one payment line per (park, device, period).
 *
 * `signalq_device_status` is partitioned by month of `occurred_at`: a period's read touches one or
 * two small partitions, old months can be detached or dropped whole, and each partition's index
 * stays small. Partitions are made on demand by `signalq_status_partition(month)`, which the
 * consumer calls in a short transaction of its own for each month it meets (so the lock that
 * creating a partition takes on the table is never held through a batch of inserts).
 * The index carries `online`, so the billing read is an index-only scan.
 */
export class Migration20261215000000_signalq extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE signalq_device_status (
  park_id text NOT NULL,
  device_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  online boolean NOT NULL
) PARTITION BY RANGE (occurred_at);
CREATE INDEX signalq_device_status_read_idx ON signalq_device_status (park_id, device_id, occurred_at, online);

CREATE FUNCTION signalq_status_partition(p_month date) RETURNS void
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
    -- Made by another session since this one last read the catalog (an advisory lock does not refresh it).
    NULL;
  END;
END $$;

-- Every camera a park has had, with its first event: the billing run gives each a line per period.
CREATE TABLE signalq_device (
  park_id text NOT NULL,
  device_id text NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  first_seen_at timestamptz NOT NULL,
  PRIMARY KEY (park_id, device_id)
);

-- A park's config, one row per version. A version rules the periods from effective_from (a local
-- date, a period boundary of the version before it) until the next version's effective_from.
CREATE TABLE signalq_config_version (
  id bigserial PRIMARY KEY,
  park_id text NOT NULL CHECK (park_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  effective_from date NOT NULL,
  currency character(3) NOT NULL,
  daily_rate bigint NOT NULL CHECK (daily_rate >= 0),
  min_active_minutes integer NOT NULL CHECK (min_active_minutes BETWEEN 1 AND 1440),
  period_days integer NOT NULL CHECK (period_days BETWEEN 1 AND 366),
  period_start date NOT NULL,
  timezone text NOT NULL,
  enabled boolean NOT NULL,
  reason text,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (park_id, effective_from)
);

-- The periods whose lines are recorded (one row even for a park without cameras).
CREATE TABLE signalq_period (
  park_id text NOT NULL,
  period_start date NOT NULL,
  period_end date NOT NULL,
  config_version_id bigint NOT NULL REFERENCES signalq_config_version (id),
  lines integer NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (park_id, period_start)
);

CREATE TABLE signalq_payment (
  id bigserial PRIMARY KEY,
  park_id text NOT NULL,
  device_id text NOT NULL,
  period_start date NOT NULL,
  period_end date NOT NULL,
  config_version_id bigint NOT NULL REFERENCES signalq_config_version (id),
  active_days integer NOT NULL CHECK (active_days >= 0),
  daily_rate bigint NOT NULL CHECK (daily_rate >= 0),
  amount bigint NOT NULL CHECK (amount = active_days * daily_rate),
  currency character(3) NOT NULL,
  payment_progress text NOT NULL CHECK (payment_progress IN ('NOT_CREATED', 'IN_PROGRESS', 'CREATED')),
  payout_id uuid,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  -- The first failure of the current streak: after a day of them the line waits for an admin.
  failing_since timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (park_id, device_id, period_start),
  CHECK (payment_progress = 'CREATED' OR payout_id IS NULL),
  CHECK (payment_progress <> 'CREATED' OR (payout_id IS NOT NULL) = (amount > 0))
);
CREATE INDEX signalq_payment_open_idx ON signalq_payment (park_id, id) WHERE payment_progress <> 'CREATED';
CREATE INDEX signalq_payment_period_idx ON signalq_payment (period_start, park_id);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE signalq_payment;
DROP TABLE signalq_period;
DROP TABLE signalq_config_version;
DROP TABLE signalq_device;
DROP FUNCTION signalq_status_partition;
DROP TABLE signalq_device_status;
`);
  }
}
