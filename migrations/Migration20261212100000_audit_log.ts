import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log: one row per API mutation and admin CLI action, refused ones included. It is kept
 * for years, so it is range-partitioned by month on `at` (old months stay untouched, a period is
 * read from its partitions only) and append-only in the database itself: UPDATE, DELETE and
 * TRUNCATE raise for every role, the owner too. `audit_entry_ensure_partitions` makes the months
 * ahead (this migration, then the `audit__ensure_partitions` task daily); the DEFAULT partition
 * takes whatever falls outside them, so an insert never fails for want of a partition.
 */
export class Migration20261212100000_audit_log extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE audit_entry (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  at timestamptz NOT NULL DEFAULT now(),
  subject text NOT NULL,
  role text NOT NULL,
  operation text NOT NULL,
  arguments jsonb NOT NULL,
  targets text[] NOT NULL DEFAULT '{}',
  outcome text NOT NULL,
  request_id text NOT NULL,
  client_address text,
  user_agent text,
  PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);
CREATE INDEX audit_entry_subject_idx ON audit_entry (subject, at);
CREATE INDEX audit_entry_operation_idx ON audit_entry (operation, at);
CREATE INDEX audit_entry_outcome_idx ON audit_entry (outcome, at);
CREATE INDEX audit_entry_targets_idx ON audit_entry USING gin (targets);

CREATE FUNCTION audit_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
-- Row triggers on a partitioned table are cloned to every partition, present and future.
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
  FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change();
-- Statement triggers are not: each partition gets its own TRUNCATE trigger where it is made.
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
  FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change();

-- Makes the monthly partitions from this month to \`months_ahead\` months on, those missing. A month
-- whose rows already sit in the DEFAULT partition (a clock far off) is left to it: moving them
-- would take a DELETE the log refuses. Returns the partitions it made.
CREATE FUNCTION audit_entry_ensure_partitions(months_ahead integer) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  month date;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('audit_entry_ensure_partitions'));
  FOR i IN 0..months_ahead LOOP
    month := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
    name := format('audit_entry_%s', to_char(month, 'YYYY_MM'));
    CONTINUE WHEN to_regclass(name) IS NOT NULL;
    CONTINUE WHEN EXISTS (SELECT 1 FROM audit_entry_default
                           WHERE at >= month::timestamp AT TIME ZONE 'UTC'
                             AND at < (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_entry FOR VALUES FROM (%L) TO (%L)', name,
                   month::timestamp AT TIME ZONE 'UTC', (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON %I
                      FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change()', name);
    RETURN NEXT name;
  END LOOP;
END $$;

CREATE TABLE audit_entry_default PARTITION OF audit_entry DEFAULT;
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry_default
  FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change();
SELECT audit_entry_ensure_partitions(2);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE audit_entry;
DROP FUNCTION audit_entry_ensure_partitions(integer);
DROP FUNCTION audit_entry_refuse_change();
`);
  }
}
