import { Migration } from '@mikro-orm/migrations';

/**
 * Parks (from `fleet.parks`) and their payouts: the global instant/periodic settings (a NULL
 * column means "the environment's default"), per-currency instant limits, each park's instant
 * state and override, and the shared throttle of the periodic run.
 *
 * `park_payable(id)` and `ledger_balance(...)` let the fleet-payouts module read a park's status,
 * currency and balance from its own SQL (one round trip per button press) without reading the
 * parks and ledger modules' tables.
 */
export class Migration20261211000000_parks_fleet_payouts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE park (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  name text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 300),
  currency character(3) NOT NULL,
  email text CHECK (length(email) <= 320),
  timezone text NOT NULL,
  status text NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
  -- The occurredAt of the upsert this row holds: an older one arriving later changes nothing.
  version_at timestamptz NOT NULL,
  updated_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX park_active_idx ON park (id) WHERE status = 'ACTIVE';
CREATE INDEX park_name_idx ON park (lower(name), id);

CREATE FUNCTION park_payable(p_park_id text, OUT status text, OUT currency text)
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT p.status, p.currency INTO status, currency FROM park p WHERE p.id = p_park_id;
END $$;

-- The ledger's answer to "what is on this account", for other modules' SQL (0 when never opened).
CREATE FUNCTION ledger_balance(p_owner_kind text, p_owner_id text, p_type text, p_currency text) RETURNS bigint
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT balance FROM ledger_account
                    WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id AND type = p_type AND currency = p_currency), 0);
END $$;

CREATE TABLE fleet_payout_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  instant_cooldown_hours integer CHECK (instant_cooldown_hours BETWEEN 0 AND 8784),
  periodic_days integer CHECK (periodic_days BETWEEN 1 AND 366),
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fleet_instant_limit (
  currency character(3) PRIMARY KEY,
  limit_minor bigint NOT NULL CHECK (limit_minor >= 0),
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per park that has used or been configured for instant payouts. Its row lock is what
-- makes two presses of the button, on any number of API processes, take turns.
CREATE TABLE fleet_park_payouts (
  park_id text PRIMARY KEY,
  instant_enabled boolean NOT NULL DEFAULT true,
  last_instant_at timestamptz,
  -- What last_instant_at was before the latest press: the press's own transaction compares it
  -- with the cooldown (a refused press rolls both back).
  previous_instant_at timestamptz,
  override_reason text,
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fleet_park_payouts_instant_idx ON fleet_park_payouts (last_instant_at) WHERE last_instant_at IS NOT NULL;

-- The periodic run's rate, shared by every worker process: the next free moment to create payouts.
CREATE TABLE fleet_throttle (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_slot_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fleet_throttle DEFAULT VALUES;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE fleet_throttle, fleet_park_payouts, fleet_instant_limit, fleet_payout_settings;
DROP FUNCTION park_payable;
DROP FUNCTION ledger_balance;
DROP TABLE park;
`);
  }
}
