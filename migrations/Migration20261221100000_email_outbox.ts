import { Migration } from '@mikro-orm/migrations';

/**
 * E-mail was a job and nothing else: once the job ran out of attempts, or ended without SMTP_URL,
 * no row said the message was never sent, and `wallet_key_notice.sent_to` read as if the park had
 * been mailed. Every message is now a row of `email_message` (the mail module's), written in the
 * transaction that wants it sent; the send job sets `sent_at` when the SMTP server accepts it and
 * records each failed try, so whether a warning was delivered is a question for the database.
 * A notice points at its message (`email_id`); `sent_to` stays, the address it was written to.
 */
export class Migration20261221100000_email_outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE email_message (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- What the message is about (e.g. qiwi-key-7d): for metrics, logs and finding a kind's messages.
  kind text NOT NULL,
  recipient text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
COMMENT ON COLUMN email_message.sent_at IS 'When the SMTP server accepted the message; NULL: not delivered (yet)';
COMMENT ON COLUMN email_message.attempts IS 'Tries to hand the message to the SMTP server, the accepted one included';
COMMENT ON COLUMN email_message.last_error IS 'Why the latest failed try failed (an SMTP error code and reply code, never the server URL)';
-- The messages still waiting, oldest first: what an operator asks for when mail stops going out.
CREATE INDEX email_message_unsent_idx ON email_message (queued_at) WHERE sent_at IS NULL;

ALTER TABLE wallet_key_notice ADD COLUMN email_id uuid REFERENCES email_message (id);
COMMENT ON COLUMN wallet_key_notice.sent_to IS 'The address the notice was written to; not proof of delivery (see email_id)';
COMMENT ON COLUMN wallet_key_notice.email_id IS 'The notice''s e-mail: delivered once its email_message.sent_at is set';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
COMMENT ON COLUMN wallet_key_notice.sent_to IS NULL;
ALTER TABLE wallet_key_notice DROP COLUMN email_id;
DROP TABLE email_message;
`);
  }
}
