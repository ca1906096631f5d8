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

-- A park's wallet with one payment system. Credentials are sealed (AES-256-GCM, nonce ‖ tag ‖
-- ciphertext) under the key credentials_key_id names; only a masked hint is kept in clear.
CREATE TABLE wallet (
  id uuid PRIMARY KEY,
  park_id text NOT NULL,
  payment_system text NOT NULL CHECK (payment_system IN ('QIWI', 'QIWI_MD', 'QIWI_QVP', 'PAYSTACK', 'ELECSNET', 'TELLCELL',
                                                         'IDRAM', 'EASYPAY', 'MOBILNIK', 'UZPAYNET', 'CITY24', 'TBC')),
  title text NOT NULL CHECK (btrim(title) <> '' AND length(title) <= 200),
  currency character(3) NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  min_amount bigint CHECK (min_amount > 0),
  max_amount bigint CHECK (max_amount > 0 AND max_amount >= coalesce(min_amount, 1)),
  credentials_key_id text,
  credentials_sealed bytea CHECK (length(credentials_sealed) > 28),
  credentials_hint text,
  credentials_expire_at timestamptz,
  created_by text,
  updated_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CHECK ((credentials_key_id IS NULL) = (credentials_sealed IS NULL))
);
-- One live wallet per park and payment system.
CREATE UNIQUE INDEX wallet_park_system_key ON wallet (park_id, payment_system) WHERE deleted_at IS NULL;
-- Key rotation finds what is still sealed under an old key.
CREATE INDEX wallet_key_idx ON wallet (credentials_key_id, id) WHERE credentials_key_id IS NOT NULL;

-- Secret callback links: only the SHA-256 of the secret, unique (a look-up is one index probe);
-- at most one live link per wallet.
CREATE TABLE callback_link (
  id uuid PRIMARY KEY,
  wallet_id uuid NOT NULL REFERENCES wallet (id),
  secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
  prefix text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  CONSTRAINT callback_link_secret_hash_key UNIQUE (secret_hash)
);
CREATE UNIQUE INDEX callback_link_live_key ON callback_link (wallet_id) WHERE revoked_at IS NULL;
CREATE INDEX callback_link_wallet_idx ON callback_link (wallet_id, created_at DESC);

-- Drivers' top-ups: one per wallet and payment-system id (a repeat is the same transaction).
-- Lists are newest first by id; each scope has its index.
CREATE TABLE topup_transaction (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wallet_id uuid NOT NULL,
  park_id text NOT NULL,
  driver_id text NOT NULL,
  payment_system text NOT NULL,
  external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
  amount bigint NOT NULL CHECK (amount > 0),
  currency character(3) NOT NULL,
  status text NOT NULL CHECK (status IN ('ACCEPTED', 'PROCESSED', 'REJECTED')),
  reason text CHECK ((status = 'REJECTED') = (reason IS NOT NULL)),
  created_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  CONSTRAINT topup_transaction_external_key UNIQUE (wallet_id, external_id)
);
CREATE INDEX topup_transaction_park_idx ON topup_transaction (park_id, id DESC);
CREATE INDEX topup_transaction_driver_idx ON topup_transaction (park_id, driver_id, id DESC);
CREATE INDEX topup_transaction_created_idx ON topup_transaction (created_at);
CREATE INDEX topup_transaction_accepted_idx ON topup_transaction (id) WHERE status = 'ACCEPTED';

-- Excel exports: the file is kept in chunks here so any API process can serve it.
CREATE TABLE transaction_export (
  id uuid PRIMARY KEY,
  requested_by text NOT NULL,
  -- The scope of the token that asked ({all, parks, drivers}): the file goes only to a token covering it.
  scope jsonb NOT NULL,
  criteria jsonb NOT NULL,
  timezone text NOT NULL,
  status text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'EXPIRED')),
  rows bigint NOT NULL DEFAULT 0,
  bytes bigint,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  expires_at timestamptz
);
CREATE INDEX transaction_export_expiry_idx ON transaction_export (expires_at) WHERE status = 'DONE';
CREATE TABLE transaction_export_chunk (
  export_id uuid NOT NULL REFERENCES transaction_export (id) ON DELETE CASCADE,
  seq integer NOT NULL CHECK (seq >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (export_id, seq)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE transaction_export_chunk; DROP TABLE transaction_export; DROP TABLE topup_transaction; DROP TABLE callback_link; DROP TABLE wallet; DROP TABLE driver;');
  }
}
