import { Migration } from '@mikro-orm/migrations';

/**
 * A message could end unsent in three ways the row did not tell apart from "still trying": its job
 * ran out of attempts, the SMTP server refused the message for good (a 5xx to its recipient or
 * content), or it was queued while SMTP_URL was unset. `given_up_at` says no more tries will be
 * made, so "which warnings never reached the park" is one query, and the sweep that sends the
 * messages kept without SMTP_URL (once it is set) knows which are still its to send.
 */
export class Migration20261222000000_email_given_up extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE email_message ADD COLUMN given_up_at timestamptz;
ALTER TABLE email_message ADD CONSTRAINT email_message_settled_once CHECK (sent_at IS NULL OR given_up_at IS NULL);
COMMENT ON COLUMN email_message.given_up_at IS 'When no more tries were left (the SMTP server refused it for good, its attempts ran out, or it waited too long for SMTP_URL); NULL while it is sent or may still be';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`ALTER TABLE email_message DROP COLUMN given_up_at;`);
  }
}
