import { Migration } from '@mikro-orm/migrations';

/**
 * The money core: ledger, payouts, outbox, inbox de-duplication, dead letters and accruals.
 * The invariants live here, in the database, so no code path can skip them.
 */
export class Migration20261122000000_money_core extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE ledger_account (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_kind      text        NOT NULL,
  owner_id        text        NOT NULL,
  type            text        NOT NULL,
  currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  balance         bigint      NOT NULL DEFAULT 0,
  allow_negative  boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_account_owner_type_currency_key UNIQUE (owner_kind, owner_id, type, currency),
  CONSTRAINT ledger_account_id_currency_key UNIQUE (id, currency),
  CONSTRAINT ledger_account_balance_non_negative CHECK (allow_negative OR balance >= 0)
);

CREATE TABLE ledger_transfer (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  idempotency_key    text        NOT NULL,
  debit_account_id   bigint      NOT NULL,
  credit_account_id  bigint      NOT NULL,
  amount             bigint      NOT NULL CHECK (amount > 0),
  currency           char(3)     NOT NULL,
  kind               text        NOT NULL,
  reference          text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_transfer_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT ledger_transfer_distinct_accounts CHECK (debit_account_id <> credit_account_id),
  -- Both sides must be accounts in the transfer's currency: the foreign keys include it.
  CONSTRAINT ledger_transfer_debit_fk FOREIGN KEY (debit_account_id, currency) REFERENCES ledger_account (id, currency),
  CONSTRAINT ledger_transfer_credit_fk FOREIGN KEY (credit_account_id, currency) REFERENCES ledger_account (id, currency)
);
CREATE INDEX ledger_transfer_debit_idx ON ledger_transfer (debit_account_id, id);
CREATE INDEX ledger_transfer_credit_idx ON ledger_transfer (credit_account_id, id);

-- Transfers are facts: corrections are new transfers, never edits.
CREATE FUNCTION ledger_transfer_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger transfers are immutable' USING ERRCODE = 'PL001';
END $$;
CREATE TRIGGER ledger_transfer_immutable BEFORE UPDATE OR DELETE ON ledger_transfer
  FOR EACH ROW EXECUTE FUNCTION ledger_transfer_immutable();
CREATE TRIGGER ledger_transfer_no_truncate BEFORE TRUNCATE ON ledger_transfer
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfer_immutable();

-- Posts one transfer and both balance changes atomically. Idempotent: the same key with the same
-- accounts and amount returns the first transfer and changes nothing; with different ones it fails.
-- Accounts are locked in id order so concurrent transfers cannot deadlock on each other.
CREATE FUNCTION ledger_post(
  p_idempotency_key text, p_debit bigint, p_credit bigint, p_amount bigint,
  p_currency text, p_kind text, p_reference text,
  OUT transfer_id bigint, OUT created boolean
) LANGUAGE plpgsql AS $$
DECLARE
  existing ledger_transfer%ROWTYPE;
BEGIN
  INSERT INTO ledger_transfer (idempotency_key, debit_account_id, credit_account_id, amount, currency, kind, reference)
  VALUES (p_idempotency_key, p_debit, p_credit, p_amount, p_currency, p_kind, p_reference)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id INTO transfer_id;

  IF transfer_id IS NULL THEN
    SELECT * INTO existing FROM ledger_transfer WHERE idempotency_key = p_idempotency_key;
    IF existing.debit_account_id <> p_debit OR existing.credit_account_id <> p_credit
       OR existing.amount <> p_amount THEN
      RAISE EXCEPTION 'idempotency key % was used for a different transfer', p_idempotency_key
        USING ERRCODE = 'PL002';
    END IF;
    transfer_id := existing.id;
    created := false;
    RETURN;
  END IF;

  -- NO KEY UPDATE: the INSERT's foreign-key checks already hold KEY SHARE on both rows, which
  -- FOR UPDATE would conflict with, deadlocking two concurrent posts to the same accounts.
  PERFORM 1 FROM ledger_account WHERE id IN (p_debit, p_credit) ORDER BY id FOR NO KEY UPDATE;
  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END,
         updated_at = now()
   WHERE id IN (p_debit, p_credit);
  created := true;
END $$;

CREATE TABLE payout (
  id               uuid        PRIMARY KEY,
  payee_kind       text        NOT NULL,
  payee_id         text        NOT NULL,
  party_id         text,
  shop_id          text,
  account_id       bigint      NOT NULL REFERENCES ledger_account (id),
  amount           bigint      NOT NULL CHECK (amount > 0),
  currency         char(3)     NOT NULL,
  status           text        NOT NULL CHECK (status IN ('CREATED','SENT','ACCEPTED','PAID','REJECTED','RETURNED','CANCELLED')),
  source           text        NOT NULL CHECK (source IN ('SCHEDULE','REQUEST','INSTANT','PERIODIC','SIGNALQ','MANUAL')),
  source_ref       text,
  idempotency_key  text        NOT NULL,
  cutoff           timestamptz,
  payout_tool_id   text,
  sequence         integer     NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payout_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT payout_shop_payee CHECK (payee_kind <> 'SHOP' OR (party_id IS NOT NULL AND shop_id IS NOT NULL))
);
CREATE INDEX payout_created_idx ON payout (created_at DESC, id DESC);
CREATE INDEX payout_payee_idx ON payout (payee_kind, payee_id, created_at DESC, id DESC);
CREATE INDEX payout_shop_idx ON payout (party_id, shop_id, created_at DESC) WHERE party_id IS NOT NULL;
CREATE INDEX payout_status_idx ON payout (status, created_at);

CREATE TABLE payout_status_change (
  payout_id    uuid        NOT NULL REFERENCES payout (id),
  sequence     integer     NOT NULL,
  status       text        NOT NULL,
  reason       text,
  actor        text,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payout_id, sequence)
);

CREATE TABLE outbox_message (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic       text        NOT NULL,
  key         text,
  value       text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- Wakes the publisher; one notification per statement, and Postgres folds duplicates per transaction.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox_message
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox_event (
  topic        text        NOT NULL,
  event_id     text        NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, event_id)
);

CREATE TABLE dead_letter (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic        text        NOT NULL,
  "partition"  integer,
  "offset"     text,
  key          text,
  value        text        NOT NULL,
  reason       text        NOT NULL,
  error_code   text        NOT NULL,
  attempts     integer     NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  retried_at   timestamptz,
  resolved_at  timestamptz
);
-- One dead letter per source position; an ingest file has no partition, so NULL counts as one.
CREATE UNIQUE INDEX dead_letter_position_key ON dead_letter (topic, coalesce("partition", -1), "offset") WHERE "offset" IS NOT NULL;
CREATE INDEX dead_letter_open_idx ON dead_letter (id) WHERE resolved_at IS NULL;

CREATE TABLE accrual (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payee_kind    text        NOT NULL,
  payee_id      text        NOT NULL,
  account_type  text        NOT NULL,
  amount        bigint      NOT NULL CHECK (amount <> 0),
  currency      char(3)     NOT NULL,
  reference     text        NOT NULL,
  reason        text,
  origin        text        NOT NULL CHECK (origin IN ('KAFKA','MANUAL','INGEST')),
  actor         text,
  occurred_at   timestamptz NOT NULL,
  transfer_id   bigint      NOT NULL REFERENCES ledger_transfer (id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accrual_payee_reference_key UNIQUE (payee_kind, payee_id, reference)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE accrual, dead_letter, inbox_event, outbox_message, payout_status_change, payout, ledger_transfer, ledger_account;
DROP FUNCTION ledger_post, ledger_transfer_immutable, outbox_notify;
`);
  }
}
