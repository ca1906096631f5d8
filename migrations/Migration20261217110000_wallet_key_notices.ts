import { Migration } from '@mikro-orm/migrations';

/**
 * QIWI keys live a year: the parks are warned 30, 7 and 1 days before theirs expires, and when it
 * has. `credentials_set_at` is when the wallet's credentials were last given (re-sealing under a
 * new WALLET_KEYS key keeps it): a key replaced since is another key, and the notices already sent
 * were about the old one. One notice per wallet, key and threshold (the unique key), so a daily
 * run that is repeated or overlaps sends nothing twice.
 */
export class Migration20261217110000_wallet_key_notices extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE wallet ADD COLUMN credentials_set_at timestamptz;
UPDATE wallet SET credentials_set_at = updated_at WHERE credentials_sealed IS NOT NULL;
ALTER TABLE wallet ADD CONSTRAINT wallet_credentials_set_check CHECK ((credentials_sealed IS NULL) = (credentials_set_at IS NULL) OR deleted_at IS NOT NULL);
CREATE INDEX wallet_credentials_expiry_idx ON wallet (credentials_expire_at) WHERE credentials_expire_at IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE wallet_key_notice (
  wallet_id uuid NOT NULL REFERENCES wallet (id),
  credentials_set_at timestamptz NOT NULL,
  -- Days before expiry the notice warns of; 0: the key has expired.
  threshold_days integer NOT NULL CHECK (threshold_days IN (0, 1, 7, 30)),
  expires_at timestamptz NOT NULL,
  sent_to text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (wallet_id, credentials_set_at, threshold_days)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE wallet_key_notice;
DROP INDEX wallet_credentials_expiry_idx;
ALTER TABLE wallet DROP CONSTRAINT wallet_credentials_set_check, DROP COLUMN credentials_set_at;
`);
  }
}
