import { Migration } from '@mikro-orm/migrations';

/**
 * Drivers (from `fleet.drivers`, owned by the parks module), park wallets with their encrypted
 * credentials and callback links (the wallets module), and top-up transactions with their Excel
 * exports (the topups module).
 */
export class Migration20261214000000_drivers_wallets extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE driver (
  park_id text NOT NULL REFERENCES park (id),
  id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  name text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 300),
  -- Digits with the country code: a payer may name the driver by it.
  phone text CHECK (phone ~ '^[0-9]{8,15}$'),
  status text NOT NULL CHECK (status IN ('WORKING', 'FIRED')),
  -- The occurredAt of the upsert this row holds: an older one arriving later changes nothing.
  version_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (park_id, id)
);
CREATE INDEX driver_phone_idx ON driver (park_id, phone) WHERE phone IS NOT NULL;
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE driver;');
  }
}
