import { Migration } from '@mikro-orm/migrations';

/**
 * A wallet's key replaced while top-ups opened with it still await payment: a QIWI bill is seen,
 * closed or found paid only with a key of the account that opened it, and the new key may be
 * another account's. The replaced key is kept here (sealed as it was) until no top-up opened
 * before its retirement is open, then erased.
 */
export class Migration20261222100000_wallet_retired_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE wallet_retired_key (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wallet_id uuid NOT NULL REFERENCES wallet (id),
  credentials_key_id text NOT NULL,
  credentials_sealed bytea NOT NULL CHECK (length(credentials_sealed) > 28),
  retired_at timestamptz NOT NULL
);
CREATE INDEX wallet_retired_key_wallet_idx ON wallet_retired_key (wallet_id, retired_at DESC);
COMMENT ON TABLE wallet_retired_key IS 'Replaced wallet keys kept for the top-ups opened with them, until none of those is open';
COMMENT ON COLUMN wallet_retired_key.retired_at IS 'When it was replaced (clock time, after the wallet was locked): top-ups created before it may need it';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`DROP TABLE wallet_retired_key;`);
  }
}
