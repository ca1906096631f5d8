import { Migration } from '@mikro-orm/migrations';

/**
 * A dead letter can be discarded: judged never to be applied, by someone, for a reason. The row
 * keeps who, when and why; an open dead letter is one neither applied again nor discarded.
 */
export class Migration20261210000000_dead_letter_discard extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE dead_letter
  ADD COLUMN discarded_at timestamptz,
  ADD COLUMN discarded_by text,
  ADD COLUMN discard_reason text,
  ADD CONSTRAINT dead_letter_discard_audited CHECK (
    (discarded_at IS NULL AND discarded_by IS NULL AND discard_reason IS NULL)
    OR (discarded_at IS NOT NULL AND btrim(discarded_by) <> '' AND btrim(discard_reason) <> '')),
  ADD CONSTRAINT dead_letter_applied_or_discarded CHECK (resolved_at IS NULL OR discarded_at IS NULL);
DROP INDEX dead_letter_open_idx;
CREATE INDEX dead_letter_open_idx ON dead_letter (id) WHERE resolved_at IS NULL AND discarded_at IS NULL;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP INDEX dead_letter_open_idx;
CREATE INDEX dead_letter_open_idx ON dead_letter (id) WHERE resolved_at IS NULL;
ALTER TABLE dead_letter DROP COLUMN discarded_at, DROP COLUMN discarded_by, DROP COLUMN discard_reason;
`);
  }
}
