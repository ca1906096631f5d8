import { Migration } from '@mikro-orm/migrations';

/**
 * Shops and scheduled payouts (the scheduled-payout-worker): calendars and payout schedules,
 * shops from `party-management`, their operations from `invoicing`, and one run record per shop
 * and cut-off.
 */
export class Migration20261122020000_shops_schedules extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE calendar (
  id            text        PRIMARY KEY,
  timezone      text        NOT NULL,
  holidays      date[]      NOT NULL DEFAULT '{}',
  weekend_days  smallint[]  NOT NULL DEFAULT '{6,7}',
  description   text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payout_schedule (
  id            text        PRIMARY KEY,
  cron          text        NOT NULL,
  calendar_id   text        NOT NULL REFERENCES calendar (id),
  delay_days    integer     NOT NULL DEFAULT 0 CHECK (delay_days BETWEEN 0 AND 365),
  description   text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_schedule_calendar_idx ON payout_schedule (calendar_id);

-- A shop's schedule is named by party-management; it may be defined by an admin later, so no FK.
CREATE TABLE shop (
  party_id            text        NOT NULL,
  shop_id             text        NOT NULL,
  currency            char(3)     NOT NULL,
  -- Blocking and suspension are separate switches in party-management; a blocked shop stays
  -- blocked when it is activated, and a suspended one stays suspended when it is unblocked.
  blocked             boolean     NOT NULL DEFAULT false,
  blocked_reason      text,
  suspended           boolean     NOT NULL DEFAULT false,
  status              text        GENERATED ALWAYS AS (
                        CASE WHEN blocked THEN 'BLOCKED' WHEN suspended THEN 'SUSPENDED' ELSE 'ACTIVE' END) STORED,
  payout_tool_id      text,
  payout_schedule_id  text,
  -- Cut-offs after this instant belong to the current schedule: when it was set, or the last run.
  schedule_since      timestamptz,
  last_cutoff         timestamptz,
  next_cutoff         timestamptz,
  next_fire_at        timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (party_id, shop_id)
);
CREATE INDEX shop_schedule_idx ON shop (payout_schedule_id) WHERE payout_schedule_id IS NOT NULL;
CREATE INDEX shop_status_idx ON shop (status);

-- One row per business operation (invoice, payment and refund / adjustment / chargeback id):
-- the same operation under another eventId is not counted twice.
CREATE TABLE shop_operation (
  id            bigint      GENERATED ALWAYS AS IDENTITY,
  party_id      text        NOT NULL,
  shop_id       text        NOT NULL,
  business_id   text        NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('PAYMENT', 'REFUND', 'ADJUSTMENT', 'CHARGEBACK')),
  invoice_id    text        NOT NULL,
  payment_id    text        NOT NULL,
  amount        bigint      NOT NULL,
  fee           bigint      NOT NULL DEFAULT 0 CHECK (fee >= 0),
  -- What the operation adds to the shop's payable amount (contracts.md, "invoicing").
  payable       bigint      NOT NULL,
  currency      char(3)     NOT NULL,
  occurred_at   timestamptz NOT NULL,
  event_id      text        NOT NULL,
  -- No foreign key: a run marks a shop's whole period at once, and a per-row check against
  -- payout is a tenth of that work. "payouts ledger check" verifies instead that every marked
  -- operation belongs to a live scheduled payout of its shop and that each such payout's amount
  -- is exactly the sum of its operations.
  payout_id     uuid,
  -- Payouts that held the operation but gave the money back (cancelled, rejected, returned).
  released_from uuid[]      NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- Keyed by shop first: the same index lists a shop's operations, newest recorded first, so
  -- recording and paying an operation touch one index fewer.
  CONSTRAINT shop_operation_pkey PRIMARY KEY (party_id, shop_id, id),
  CONSTRAINT shop_operation_business_key UNIQUE (business_id),
  CONSTRAINT shop_operation_shop_fk FOREIGN KEY (party_id, shop_id) REFERENCES shop (party_id, shop_id)
);
-- A run sums the shop's unpaid operations before its cut-off.
CREATE INDEX shop_operation_unpaid_idx ON shop_operation (party_id, shop_id, occurred_at) WHERE payout_id IS NULL;
CREATE INDEX shop_operation_payout_idx ON shop_operation (payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX shop_operation_released_idx ON shop_operation USING gin (released_from) WHERE released_from <> '{}';

-- What each scheduled run did; the unique key makes a retried or doubled run harmless.
CREATE TABLE shop_payout_run (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  party_id         text        NOT NULL,
  shop_id          text        NOT NULL,
  cutoff           timestamptz NOT NULL,
  fire_at          timestamptz NOT NULL,
  ran_at           timestamptz NOT NULL DEFAULT now(),
  result           text        NOT NULL CHECK (result IN ('PAID', 'SKIPPED', 'NOTHING_TO_PAY')),
  reason           text,
  payout_id        uuid        REFERENCES payout (id),
  amount           bigint      NOT NULL DEFAULT 0,
  currency         char(3)     NOT NULL,
  operation_count  integer     NOT NULL DEFAULT 0,
  CONSTRAINT shop_payout_run_cutoff_key UNIQUE (party_id, shop_id, cutoff),
  CONSTRAINT shop_payout_run_paid_has_payout CHECK ((result = 'PAID') = (payout_id IS NOT NULL)),
  CONSTRAINT shop_payout_run_shop_fk FOREIGN KEY (party_id, shop_id) REFERENCES shop (party_id, shop_id)
);

-- Settles a batch of transfers in one call: the set-based ledger_post for high-volume feeds.
-- Each transfer is still its own immutable row with its own idempotency key; balances change
-- once per account, locked in id order like ledger_post.
CREATE FUNCTION ledger_post_many(
  p_keys text[], p_debits bigint[], p_credits bigint[], p_amounts bigint[],
  p_currency text[], p_kinds text[], p_references text[]
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  new_debits bigint[];
  new_credits bigint[];
  new_amounts bigint[];
  conflicting text;
BEGIN
  WITH inserted AS (
    INSERT INTO ledger_transfer (idempotency_key, debit_account_id, credit_account_id, amount, currency, kind, reference)
    SELECT * FROM unnest(p_keys, p_debits, p_credits, p_amounts, p_currency, p_kinds, p_references)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING debit_account_id, credit_account_id, amount
  )
  SELECT array_agg(debit_account_id), array_agg(credit_account_id), array_agg(amount)
    INTO new_debits, new_credits, new_amounts FROM inserted;

  -- A key seen before must name the same transfer, as in ledger_post. When every transfer was
  -- new there is nothing to compare, and the common case skips a second look-up per key.
  IF coalesce(cardinality(new_amounts), 0) < cardinality(p_keys) THEN
    SELECT t.idempotency_key INTO conflicting
      FROM unnest(p_keys, p_debits, p_credits, p_amounts) AS i(idempotency_key, debit_account_id, credit_account_id, amount)
      JOIN ledger_transfer t USING (idempotency_key)
     WHERE t.debit_account_id <> i.debit_account_id OR t.credit_account_id <> i.credit_account_id OR t.amount <> i.amount
     LIMIT 1;
    IF conflicting IS NOT NULL THEN
      RAISE EXCEPTION 'idempotency key % was used for a different transfer', conflicting USING ERRCODE = 'PL002';
    END IF;
  END IF;
  IF new_amounts IS NULL THEN
    RETURN 0;
  END IF;

  PERFORM 1 FROM ledger_account
    WHERE id = ANY (new_debits) OR id = ANY (new_credits)
    ORDER BY id FOR NO KEY UPDATE;
  UPDATE ledger_account a
     SET balance = a.balance + d.delta, updated_at = now()
    FROM (SELECT account_id, sum(delta) AS delta FROM (
            SELECT unnest(new_credits) AS account_id, unnest(new_amounts) AS delta
            UNION ALL
            SELECT unnest(new_debits), -unnest(new_amounts)) legs
          GROUP BY account_id) d
   WHERE a.id = d.account_id AND d.delta <> 0;
  RETURN cardinality(new_amounts);
END $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP FUNCTION ledger_post_many;
DROP TABLE shop_payout_run, shop_operation, shop, payout_schedule, calendar;
`);
  }
}
