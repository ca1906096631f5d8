-- The database schema (`public`) after every migration in migrations/ has run.
-- GENERATED: do not edit. Written by dumpSqlSchema (src/platform/sql-schema-dump.ts) from the
-- PostgreSQL catalogs; test/sql-schema.test.ts fails when the migrations and this file disagree.
-- Regenerate: npm run schema (migrates a scratch database and dumps it)
--
-- Objects are sorted by name; columns keep their table order. Left out: the graphile_worker
-- schema and the mikro_orm_migrations table (the tools' own), owners and grants.

-- Sequences

CREATE SEQUENCE public.signalq_config_version_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1
  OWNED BY public.signalq_config_version.id;

CREATE SEQUENCE public.signalq_payment_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1
  OWNED BY public.signalq_payment.id;

-- Tables

CREATE TABLE public.accrual (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  payee_kind text NOT NULL,
  payee_id text NOT NULL,
  account_type text NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  reference text NOT NULL,
  reason text,
  origin text NOT NULL,
  actor text,
  occurred_at timestamp with time zone NOT NULL,
  transfer_id bigint NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.accrual ADD CONSTRAINT accrual_amount_check CHECK ((amount <> 0));
ALTER TABLE ONLY public.accrual ADD CONSTRAINT accrual_origin_check CHECK ((origin = ANY (ARRAY['KAFKA'::text, 'MANUAL'::text, 'INGEST'::text])));
ALTER TABLE ONLY public.accrual ADD CONSTRAINT accrual_payee_reference_key UNIQUE (payee_kind, payee_id, reference);
ALTER TABLE ONLY public.accrual ADD CONSTRAINT accrual_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.accrual ADD CONSTRAINT accrual_transfer_id_fkey FOREIGN KEY (transfer_id) REFERENCES public.ledger_transfer(id);

CREATE TABLE public.audit_entry (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  at timestamp with time zone NOT NULL DEFAULT now(),
  subject text NOT NULL,
  role text NOT NULL,
  operation text NOT NULL,
  arguments jsonb NOT NULL,
  targets text[] NOT NULL DEFAULT '{}'::text[],
  outcome text NOT NULL,
  request_id text NOT NULL,
  client_address text,
  user_agent text
) PARTITION BY RANGE (at);
ALTER TABLE ONLY public.audit_entry ADD CONSTRAINT audit_entry_pkey PRIMARY KEY (at, id);
CREATE INDEX audit_entry_operation_idx ON ONLY public.audit_entry USING btree (operation, at);
CREATE INDEX audit_entry_outcome_idx ON ONLY public.audit_entry USING btree (outcome, at);
CREATE INDEX audit_entry_subject_idx ON ONLY public.audit_entry USING btree (subject, at);
CREATE INDEX audit_entry_targets_idx ON ONLY public.audit_entry USING gin (targets);
CREATE TRIGGER audit_entry_append_only BEFORE DELETE OR UPDATE ON public.audit_entry FOR EACH ROW EXECUTE FUNCTION public.audit_entry_refuse_change();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON public.audit_entry FOR EACH STATEMENT EXECUTE FUNCTION public.audit_entry_refuse_change();

CREATE TABLE public.calendar (
  id text NOT NULL,
  timezone text NOT NULL,
  holidays date[] NOT NULL DEFAULT '{}'::date[],
  weekend_days smallint[] NOT NULL DEFAULT '{6,7}'::smallint[],
  description text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.calendar ADD CONSTRAINT calendar_pkey PRIMARY KEY (id);

CREATE TABLE public.callback_link (
  id uuid NOT NULL,
  wallet_id uuid NOT NULL,
  secret_hash bytea NOT NULL,
  prefix text NOT NULL,
  created_by text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  last_used_at timestamp with time zone,
  revoked_at timestamp with time zone,
  revoked_by text
);
ALTER TABLE ONLY public.callback_link ADD CONSTRAINT callback_link_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.callback_link ADD CONSTRAINT callback_link_secret_hash_check CHECK ((length(secret_hash) = 32));
ALTER TABLE ONLY public.callback_link ADD CONSTRAINT callback_link_secret_hash_key UNIQUE (secret_hash);
ALTER TABLE ONLY public.callback_link ADD CONSTRAINT callback_link_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES public.wallet(id);
CREATE UNIQUE INDEX callback_link_live_key ON public.callback_link USING btree (wallet_id) WHERE (revoked_at IS NULL);
CREATE INDEX callback_link_wallet_idx ON public.callback_link USING btree (wallet_id, created_at DESC);
CREATE TRIGGER callback_link_changed AFTER DELETE OR UPDATE OF revoked_at, secret_hash, wallet_id ON public.callback_link FOR EACH ROW EXECUTE FUNCTION public.callback_links_changed();

CREATE TABLE public.cash_payment_fact (
  id uuid NOT NULL,
  payout_id uuid NOT NULL,
  account_id bigint NOT NULL,
  transfer_id bigint NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.ledger_account(id);
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_amount_check CHECK ((amount > 0));
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_payout_id_fkey FOREIGN KEY (payout_id) REFERENCES public.payout(id);
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_payout_key UNIQUE (payout_id);
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.cash_payment_fact ADD CONSTRAINT cash_payment_fact_transfer_id_fkey FOREIGN KEY (transfer_id) REFERENCES public.ledger_transfer(id);

CREATE TABLE public.dead_letter (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  partition integer,
  "offset" text,
  key text,
  value text NOT NULL,
  reason text NOT NULL,
  error_code text NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  retried_at timestamp with time zone,
  resolved_at timestamp with time zone,
  discarded_at timestamp with time zone,
  discarded_by text,
  discard_reason text
);
ALTER TABLE ONLY public.dead_letter ADD CONSTRAINT dead_letter_applied_or_discarded CHECK (((resolved_at IS NULL) OR (discarded_at IS NULL)));
ALTER TABLE ONLY public.dead_letter ADD CONSTRAINT dead_letter_discard_audited CHECK ((((discarded_at IS NULL) AND (discarded_by IS NULL) AND (discard_reason IS NULL)) OR ((discarded_at IS NOT NULL) AND (btrim(discarded_by) <> ''::text) AND (btrim(discard_reason) <> ''::text))));
ALTER TABLE ONLY public.dead_letter ADD CONSTRAINT dead_letter_pkey PRIMARY KEY (id);
CREATE INDEX dead_letter_open_idx ON public.dead_letter USING btree (id) WHERE ((resolved_at IS NULL) AND (discarded_at IS NULL));
CREATE UNIQUE INDEX dead_letter_position_key ON public.dead_letter USING btree (topic, COALESCE(partition, '-1'::integer), "offset") WHERE ("offset" IS NOT NULL);

CREATE TABLE public.driver (
  park_id text NOT NULL,
  id text NOT NULL,
  name text NOT NULL,
  phone text,
  status text NOT NULL,
  version_at timestamp with time zone NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_id_check CHECK ((id ~ '^[A-Za-z0-9._:@-]{1,128}$'::text));
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_name_check CHECK (((btrim(name) <> ''::text) AND (length(name) <= 300)));
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_park_id_fkey FOREIGN KEY (park_id) REFERENCES public.park(id);
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_phone_check CHECK ((phone ~ '^[0-9]{8,15}$'::text));
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_pkey PRIMARY KEY (park_id, id);
ALTER TABLE ONLY public.driver ADD CONSTRAINT driver_status_check CHECK ((status = ANY (ARRAY['WORKING'::text, 'FIRED'::text])));
CREATE INDEX driver_phone_idx ON public.driver USING btree (park_id, phone) WHERE (phone IS NOT NULL);

CREATE TABLE public.email_message (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL,
  recipient text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  queued_at timestamp with time zone NOT NULL DEFAULT now(),
  sent_at timestamp with time zone,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  given_up_at timestamp with time zone
);
ALTER TABLE ONLY public.email_message ADD CONSTRAINT email_message_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.email_message ADD CONSTRAINT email_message_settled_once CHECK (((sent_at IS NULL) OR (given_up_at IS NULL)));
CREATE INDEX email_message_unsent_idx ON public.email_message USING btree (queued_at) WHERE (sent_at IS NULL);

CREATE TABLE public.fleet_instant_limit (
  currency character(3) NOT NULL,
  limit_minor bigint NOT NULL,
  updated_by text,
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.fleet_instant_limit ADD CONSTRAINT fleet_instant_limit_limit_minor_check CHECK ((limit_minor >= 0));
ALTER TABLE ONLY public.fleet_instant_limit ADD CONSTRAINT fleet_instant_limit_pkey PRIMARY KEY (currency);

CREATE TABLE public.fleet_park_payouts (
  park_id text NOT NULL,
  instant_enabled boolean NOT NULL DEFAULT true,
  last_instant_at timestamp with time zone,
  previous_instant_at timestamp with time zone,
  override_reason text,
  updated_by text,
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.fleet_park_payouts ADD CONSTRAINT fleet_park_payouts_pkey PRIMARY KEY (park_id);
CREATE INDEX fleet_park_payouts_instant_idx ON public.fleet_park_payouts USING btree (last_instant_at) WHERE (last_instant_at IS NOT NULL);

CREATE TABLE public.fleet_payout_settings (
  singleton boolean NOT NULL DEFAULT true,
  instant_cooldown_hours integer,
  periodic_days integer,
  updated_by text,
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.fleet_payout_settings ADD CONSTRAINT fleet_payout_settings_instant_cooldown_hours_check CHECK (((instant_cooldown_hours >= 0) AND (instant_cooldown_hours <= 8784)));
ALTER TABLE ONLY public.fleet_payout_settings ADD CONSTRAINT fleet_payout_settings_periodic_days_check CHECK (((periodic_days >= 1) AND (periodic_days <= 366)));
ALTER TABLE ONLY public.fleet_payout_settings ADD CONSTRAINT fleet_payout_settings_pkey PRIMARY KEY (singleton);
ALTER TABLE ONLY public.fleet_payout_settings ADD CONSTRAINT fleet_payout_settings_singleton_check CHECK (singleton);

CREATE TABLE public.fleet_throttle (
  singleton boolean NOT NULL DEFAULT true,
  next_slot_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.fleet_throttle ADD CONSTRAINT fleet_throttle_pkey PRIMARY KEY (singleton);
ALTER TABLE ONLY public.fleet_throttle ADD CONSTRAINT fleet_throttle_singleton_check CHECK (singleton);

CREATE TABLE public.inbox_event (
  topic text NOT NULL,
  event_id text NOT NULL,
  received_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.inbox_event ADD CONSTRAINT inbox_event_pkey PRIMARY KEY (topic, event_id);

CREATE TABLE public.ledger_account (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  owner_kind text NOT NULL,
  owner_id text NOT NULL,
  type text NOT NULL,
  currency character(3) NOT NULL,
  balance bigint NOT NULL DEFAULT 0,
  allow_negative boolean NOT NULL DEFAULT false,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
)
WITH (fillfactor=70);
ALTER TABLE ONLY public.ledger_account ADD CONSTRAINT ledger_account_balance_non_negative CHECK ((allow_negative OR (balance >= 0)));
ALTER TABLE ONLY public.ledger_account ADD CONSTRAINT ledger_account_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text));
ALTER TABLE ONLY public.ledger_account ADD CONSTRAINT ledger_account_id_currency_key UNIQUE (id, currency);
ALTER TABLE ONLY public.ledger_account ADD CONSTRAINT ledger_account_owner_type_currency_key UNIQUE (owner_kind, owner_id, type, currency);
ALTER TABLE ONLY public.ledger_account ADD CONSTRAINT ledger_account_pkey PRIMARY KEY (id);

CREATE TABLE public.ledger_transfer (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  idempotency_key text NOT NULL,
  debit_account_id bigint NOT NULL,
  credit_account_id bigint NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  kind text NOT NULL,
  reference text,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_amount_check CHECK ((amount > 0));
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_credit_fk FOREIGN KEY (credit_account_id, currency) REFERENCES public.ledger_account(id, currency);
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_debit_fk FOREIGN KEY (debit_account_id, currency) REFERENCES public.ledger_account(id, currency);
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_distinct_accounts CHECK ((debit_account_id <> credit_account_id));
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_idempotency_key_key UNIQUE (idempotency_key);
ALTER TABLE ONLY public.ledger_transfer ADD CONSTRAINT ledger_transfer_pkey PRIMARY KEY (id);
CREATE INDEX ledger_transfer_credit_idx ON public.ledger_transfer USING btree (credit_account_id, id);
CREATE INDEX ledger_transfer_debit_idx ON public.ledger_transfer USING btree (debit_account_id, id);
CREATE TRIGGER ledger_transfer_immutable BEFORE DELETE OR UPDATE ON public.ledger_transfer FOR EACH ROW EXECUTE FUNCTION public.ledger_transfer_immutable();
CREATE TRIGGER ledger_transfer_no_truncate BEFORE TRUNCATE ON public.ledger_transfer FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_transfer_immutable();

CREATE TABLE public.outbox_message (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  key text,
  value text NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.outbox_message ADD CONSTRAINT outbox_message_pkey PRIMARY KEY (id);

CREATE TABLE public.park (
  id text NOT NULL,
  name text NOT NULL,
  currency character(3) NOT NULL,
  email text,
  timezone text NOT NULL,
  status text NOT NULL,
  version_at timestamp with time zone NOT NULL,
  updated_by text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.park ADD CONSTRAINT park_email_check CHECK ((length(email) <= 320));
ALTER TABLE ONLY public.park ADD CONSTRAINT park_id_check CHECK ((id ~ '^[A-Za-z0-9._:@-]{1,128}$'::text));
ALTER TABLE ONLY public.park ADD CONSTRAINT park_name_check CHECK (((btrim(name) <> ''::text) AND (length(name) <= 300)));
ALTER TABLE ONLY public.park ADD CONSTRAINT park_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.park ADD CONSTRAINT park_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'DISABLED'::text])));
CREATE INDEX park_active_idx ON public.park USING btree (id) WHERE (status = 'ACTIVE'::text);
CREATE INDEX park_name_idx ON public.park USING btree (lower(name), id);

CREATE TABLE public.payout (
  id uuid NOT NULL,
  payee_kind text NOT NULL,
  payee_id text NOT NULL,
  party_id text,
  shop_id text,
  account_id bigint NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  status text NOT NULL,
  source text NOT NULL,
  source_ref text,
  idempotency_key text NOT NULL,
  cutoff timestamp with time zone,
  payout_tool_id text,
  sequence integer NOT NULL DEFAULT 1,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.ledger_account(id);
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_amount_check CHECK ((amount > 0));
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_idempotency_key_key UNIQUE (idempotency_key);
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_shop_payee CHECK (((payee_kind <> 'SHOP'::text) OR ((party_id IS NOT NULL) AND (shop_id IS NOT NULL))));
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_source_check CHECK ((source = ANY (ARRAY['SCHEDULE'::text, 'REQUEST'::text, 'INSTANT'::text, 'PERIODIC'::text, 'SIGNALQ'::text, 'MANUAL'::text])));
ALTER TABLE ONLY public.payout ADD CONSTRAINT payout_status_check CHECK ((status = ANY (ARRAY['CREATED'::text, 'SENT'::text, 'ACCEPTED'::text, 'PAID'::text, 'REJECTED'::text, 'RETURNED'::text, 'CANCELLED'::text])));
CREATE INDEX payout_created_idx ON public.payout USING btree (created_at DESC, id DESC);
CREATE INDEX payout_payee_idx ON public.payout USING btree (payee_kind, payee_id, created_at DESC, id DESC);
CREATE INDEX payout_shop_idx ON public.payout USING btree (party_id, shop_id, created_at DESC) WHERE (party_id IS NOT NULL);
CREATE INDEX payout_source_ref_idx ON public.payout USING btree (source, source_ref) WHERE (source_ref IS NOT NULL);
CREATE INDEX payout_status_created_idx ON public.payout USING btree (status, created_at, id);

CREATE TABLE public.payout_request (
  id uuid NOT NULL,
  client_id text NOT NULL,
  idempotency_key text NOT NULL,
  status text NOT NULL DEFAULT 'NEW'::text,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  requested_by text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now(),
  processed_at timestamp with time zone
);
ALTER TABLE ONLY public.payout_request ADD CONSTRAINT payout_request_client_key UNIQUE (client_id, idempotency_key);
ALTER TABLE ONLY public.payout_request ADD CONSTRAINT payout_request_error_has_text CHECK (((status <> 'ERROR'::text) OR (error IS NOT NULL)));
ALTER TABLE ONLY public.payout_request ADD CONSTRAINT payout_request_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.payout_request ADD CONSTRAINT payout_request_status_check CHECK ((status = ANY (ARRAY['NEW'::text, 'DONE'::text, 'ERROR'::text])));
CREATE INDEX payout_request_client_idx ON public.payout_request USING btree (client_id, created_at DESC, id DESC);
CREATE INDEX payout_request_created_idx ON public.payout_request USING btree (created_at DESC, id DESC);
CREATE INDEX payout_request_new_idx ON public.payout_request USING btree (created_at, id) WHERE (status = 'NEW'::text);

CREATE TABLE public.payout_schedule (
  id text NOT NULL,
  cron text NOT NULL,
  calendar_id text NOT NULL,
  delay_days integer NOT NULL DEFAULT 0,
  description text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.payout_schedule ADD CONSTRAINT payout_schedule_calendar_id_fkey FOREIGN KEY (calendar_id) REFERENCES public.calendar(id);
ALTER TABLE ONLY public.payout_schedule ADD CONSTRAINT payout_schedule_delay_days_check CHECK (((delay_days >= 0) AND (delay_days <= 365)));
ALTER TABLE ONLY public.payout_schedule ADD CONSTRAINT payout_schedule_pkey PRIMARY KEY (id);
CREATE INDEX payout_schedule_calendar_idx ON public.payout_schedule USING btree (calendar_id);

CREATE TABLE public.payout_status_change (
  payout_id uuid NOT NULL,
  sequence integer NOT NULL,
  status text NOT NULL,
  reason text,
  actor text,
  occurred_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.payout_status_change ADD CONSTRAINT payout_status_change_payout_id_fkey FOREIGN KEY (payout_id) REFERENCES public.payout(id);
ALTER TABLE ONLY public.payout_status_change ADD CONSTRAINT payout_status_change_pkey PRIMARY KEY (payout_id, sequence);

CREATE TABLE public.shop (
  party_id text NOT NULL,
  shop_id text NOT NULL,
  currency character(3) NOT NULL,
  blocked boolean NOT NULL DEFAULT false,
  blocked_reason text,
  suspended boolean NOT NULL DEFAULT false,
  status text GENERATED ALWAYS AS (
CASE
    WHEN blocked THEN 'BLOCKED'::text
    WHEN suspended THEN 'SUSPENDED'::text
    ELSE 'ACTIVE'::text
END) STORED,
  payout_tool_id text,
  payout_schedule_id text,
  schedule_since timestamp with time zone,
  last_cutoff timestamp with time zone,
  next_cutoff timestamp with time zone,
  next_fire_at timestamp with time zone,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.shop ADD CONSTRAINT shop_pkey PRIMARY KEY (party_id, shop_id);
CREATE INDEX shop_schedule_idx ON public.shop USING btree (payout_schedule_id) WHERE (payout_schedule_id IS NOT NULL);
CREATE INDEX shop_status_idx ON public.shop USING btree (status);

CREATE TABLE public.shop_operation (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  party_id text NOT NULL,
  shop_id text NOT NULL,
  business_id text NOT NULL,
  kind text NOT NULL,
  invoice_id text NOT NULL,
  payment_id text NOT NULL,
  amount bigint NOT NULL,
  fee bigint NOT NULL DEFAULT 0,
  payable bigint NOT NULL,
  currency character(3) NOT NULL,
  occurred_at timestamp with time zone NOT NULL,
  event_id text NOT NULL,
  payout_id uuid,
  released_from uuid[] NOT NULL DEFAULT '{}'::uuid[],
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.shop_operation ADD CONSTRAINT shop_operation_business_key UNIQUE (business_id);
ALTER TABLE ONLY public.shop_operation ADD CONSTRAINT shop_operation_fee_check CHECK ((fee >= 0));
ALTER TABLE ONLY public.shop_operation ADD CONSTRAINT shop_operation_kind_check CHECK ((kind = ANY (ARRAY['PAYMENT'::text, 'REFUND'::text, 'ADJUSTMENT'::text, 'CHARGEBACK'::text])));
ALTER TABLE ONLY public.shop_operation ADD CONSTRAINT shop_operation_pkey PRIMARY KEY (party_id, shop_id, id);
ALTER TABLE ONLY public.shop_operation ADD CONSTRAINT shop_operation_shop_fk FOREIGN KEY (party_id, shop_id) REFERENCES public.shop(party_id, shop_id);
CREATE INDEX shop_operation_payout_idx ON public.shop_operation USING btree (payout_id) WHERE (payout_id IS NOT NULL);
CREATE INDEX shop_operation_released_idx ON public.shop_operation USING gin (released_from) WHERE (released_from <> '{}'::uuid[]);
CREATE INDEX shop_operation_unpaid_idx ON public.shop_operation USING btree (party_id, shop_id, occurred_at) WHERE (payout_id IS NULL);

CREATE TABLE public.shop_payout_run (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  party_id text NOT NULL,
  shop_id text NOT NULL,
  cutoff timestamp with time zone NOT NULL,
  fire_at timestamp with time zone NOT NULL,
  ran_at timestamp with time zone NOT NULL DEFAULT now(),
  result text NOT NULL,
  reason text,
  payout_id uuid,
  amount bigint NOT NULL DEFAULT 0,
  currency character(3) NOT NULL,
  operation_count integer NOT NULL DEFAULT 0
);
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_cutoff_key UNIQUE (party_id, shop_id, cutoff);
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_paid_has_payout CHECK (((result = 'PAID'::text) = (payout_id IS NOT NULL)));
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_payout_id_fkey FOREIGN KEY (payout_id) REFERENCES public.payout(id);
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_result_check CHECK ((result = ANY (ARRAY['PAID'::text, 'SKIPPED'::text, 'NOTHING_TO_PAY'::text])));
ALTER TABLE ONLY public.shop_payout_run ADD CONSTRAINT shop_payout_run_shop_fk FOREIGN KEY (party_id, shop_id) REFERENCES public.shop(party_id, shop_id);

CREATE TABLE public.signalq_config_version (
  id bigint NOT NULL DEFAULT nextval('public.signalq_config_version_id_seq'::regclass),
  park_id text NOT NULL,
  effective_from date NOT NULL,
  currency character(3) NOT NULL,
  daily_rate bigint NOT NULL,
  min_active_minutes integer NOT NULL,
  period_days integer NOT NULL,
  period_start date NOT NULL,
  timezone text NOT NULL,
  enabled boolean NOT NULL,
  reason text,
  created_by text,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_daily_rate_check CHECK ((daily_rate >= 0));
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_min_active_minutes_check CHECK (((min_active_minutes >= 1) AND (min_active_minutes <= 1440)));
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_park_id_check CHECK ((park_id ~ '^[A-Za-z0-9._:@-]{1,128}$'::text));
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_park_id_effective_from_key UNIQUE (park_id, effective_from);
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_period_days_check CHECK (((period_days >= 1) AND (period_days <= 366)));
ALTER TABLE ONLY public.signalq_config_version ADD CONSTRAINT signalq_config_version_pkey PRIMARY KEY (id);

CREATE TABLE public.signalq_device (
  park_id text COLLATE pg_catalog."C" NOT NULL,
  device_id text COLLATE pg_catalog."C" NOT NULL,
  first_seen_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY public.signalq_device ADD CONSTRAINT signalq_device_device_id_check CHECK (((length(device_id) >= 1) AND (length(device_id) <= 128)));
ALTER TABLE ONLY public.signalq_device ADD CONSTRAINT signalq_device_pkey PRIMARY KEY (park_id, device_id);

CREATE TABLE public.signalq_device_status (
  park_id text COLLATE pg_catalog."C" NOT NULL,
  device_id text COLLATE pg_catalog."C" NOT NULL,
  occurred_at timestamp with time zone NOT NULL,
  online boolean NOT NULL,
  event_id text COLLATE pg_catalog."C"
) PARTITION BY RANGE (occurred_at);
CREATE INDEX signalq_device_status_read_idx ON ONLY public.signalq_device_status USING btree (park_id, device_id, occurred_at, online);

CREATE TABLE public.signalq_payment (
  id bigint NOT NULL DEFAULT nextval('public.signalq_payment_id_seq'::regclass),
  park_id text NOT NULL,
  device_id text NOT NULL,
  period_start date NOT NULL,
  period_end date NOT NULL,
  config_version_id bigint NOT NULL,
  active_days integer NOT NULL,
  daily_rate bigint NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  payment_progress text NOT NULL,
  payout_id uuid,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  failing_since timestamp with time zone,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_active_days_check CHECK ((active_days >= 0));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_check CHECK ((amount = (active_days * daily_rate)));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_check1 CHECK (((payment_progress = 'CREATED'::text) OR (payout_id IS NULL)));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_check2 CHECK (((payment_progress <> 'CREATED'::text) OR ((payout_id IS NOT NULL) = (amount > 0))));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_config_version_id_fkey FOREIGN KEY (config_version_id) REFERENCES public.signalq_config_version(id);
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_daily_rate_check CHECK ((daily_rate >= 0));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_park_id_device_id_period_start_key UNIQUE (park_id, device_id, period_start);
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_payment_progress_check CHECK ((payment_progress = ANY (ARRAY['NOT_CREATED'::text, 'IN_PROGRESS'::text, 'CREATED'::text])));
ALTER TABLE ONLY public.signalq_payment ADD CONSTRAINT signalq_payment_pkey PRIMARY KEY (id);
CREATE INDEX signalq_payment_open_idx ON public.signalq_payment USING btree (park_id, id) WHERE (payment_progress <> 'CREATED'::text);
CREATE INDEX signalq_payment_period_idx ON public.signalq_payment USING btree (period_start, park_id);

CREATE TABLE public.signalq_period (
  park_id text NOT NULL,
  period_start date NOT NULL,
  period_end date NOT NULL,
  config_version_id bigint NOT NULL,
  lines integer NOT NULL,
  recorded_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE ONLY public.signalq_period ADD CONSTRAINT signalq_period_config_version_id_fkey FOREIGN KEY (config_version_id) REFERENCES public.signalq_config_version(id);
ALTER TABLE ONLY public.signalq_period ADD CONSTRAINT signalq_period_pkey PRIMARY KEY (park_id, period_start);

CREATE TABLE public.topup_transaction (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  wallet_id uuid NOT NULL,
  park_id text NOT NULL,
  driver_id text NOT NULL,
  payment_system text NOT NULL,
  external_id text NOT NULL,
  amount bigint NOT NULL,
  currency character(3) NOT NULL,
  status text NOT NULL,
  reason text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  processed_at timestamp with time zone,
  awaiting_payment boolean NOT NULL DEFAULT false,
  idempotency_key text,
  pay_url text,
  expires_at timestamp with time zone,
  paid_at timestamp with time zone
);
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_amount_check CHECK ((amount > 0));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_awaiting_check CHECK (((NOT awaiting_payment) OR ((status = 'ACCEPTED'::text) AND (idempotency_key IS NOT NULL) AND (expires_at IS NOT NULL))));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_check CHECK (((status = 'REJECTED'::text) = (reason IS NOT NULL)));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_external_id_check CHECK (((length(external_id) >= 1) AND (length(external_id) <= 200)));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_external_key UNIQUE (wallet_id, external_id);
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200)));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_pay_url_check CHECK ((length(pay_url) <= 2000));
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.topup_transaction ADD CONSTRAINT topup_transaction_status_check CHECK ((status = ANY (ARRAY['ACCEPTED'::text, 'PROCESSED'::text, 'REJECTED'::text])));
CREATE INDEX topup_transaction_accepted_idx ON public.topup_transaction USING btree (id) WHERE ((status = 'ACCEPTED'::text) AND (NOT awaiting_payment));
CREATE INDEX topup_transaction_awaiting_idx ON public.topup_transaction USING btree (wallet_id) WHERE awaiting_payment;
CREATE INDEX topup_transaction_created_idx ON public.topup_transaction USING btree (created_at);
CREATE INDEX topup_transaction_driver_idx ON public.topup_transaction USING btree (park_id, driver_id, id DESC);
CREATE INDEX topup_transaction_park_idx ON public.topup_transaction USING btree (park_id, id DESC);
CREATE UNIQUE INDEX topup_transaction_request_key ON public.topup_transaction USING btree (park_id, driver_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE TABLE public.transaction_export (
  id uuid NOT NULL,
  requested_by text NOT NULL,
  scope jsonb NOT NULL,
  criteria jsonb NOT NULL,
  timezone text NOT NULL,
  status text NOT NULL,
  rows bigint NOT NULL DEFAULT 0,
  bytes bigint,
  error text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  started_at timestamp with time zone,
  finished_at timestamp with time zone,
  expires_at timestamp with time zone
);
ALTER TABLE ONLY public.transaction_export ADD CONSTRAINT transaction_export_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.transaction_export ADD CONSTRAINT transaction_export_status_check CHECK ((status = ANY (ARRAY['QUEUED'::text, 'RUNNING'::text, 'DONE'::text, 'FAILED'::text, 'EXPIRED'::text])));
CREATE INDEX transaction_export_expiry_idx ON public.transaction_export USING btree (expires_at) WHERE (status = 'DONE'::text);

CREATE TABLE public.transaction_export_chunk (
  export_id uuid NOT NULL,
  seq integer NOT NULL,
  data bytea NOT NULL
);
ALTER TABLE ONLY public.transaction_export_chunk ADD CONSTRAINT transaction_export_chunk_export_id_fkey FOREIGN KEY (export_id) REFERENCES public.transaction_export(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.transaction_export_chunk ADD CONSTRAINT transaction_export_chunk_pkey PRIMARY KEY (export_id, seq);
ALTER TABLE ONLY public.transaction_export_chunk ADD CONSTRAINT transaction_export_chunk_seq_check CHECK ((seq >= 0));

CREATE TABLE public.wallet (
  id uuid NOT NULL,
  park_id text NOT NULL,
  payment_system text NOT NULL,
  title text NOT NULL,
  currency character(3) NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  min_amount bigint,
  max_amount bigint,
  credentials_key_id text,
  credentials_sealed bytea,
  credentials_hint text,
  credentials_expire_at timestamp with time zone,
  created_by text,
  updated_by text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now(),
  deleted_at timestamp with time zone,
  credentials_set_at timestamp with time zone
);
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_check CHECK (((max_amount > 0) AND (max_amount >= COALESCE(min_amount, (1)::bigint))));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_check1 CHECK (((credentials_key_id IS NULL) = (credentials_sealed IS NULL)));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_credentials_sealed_check CHECK ((length(credentials_sealed) > 28));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_credentials_set_check CHECK ((((credentials_sealed IS NULL) = (credentials_set_at IS NULL)) OR (deleted_at IS NOT NULL)));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_min_amount_check CHECK ((min_amount > 0));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_payment_system_check CHECK ((payment_system = ANY (ARRAY['QIWI'::text, 'QIWI_MD'::text, 'QIWI_QVP'::text, 'PAYSTACK'::text, 'ELECSNET'::text, 'TELLCELL'::text, 'IDRAM'::text, 'EASYPAY'::text, 'MOBILNIK'::text, 'UZPAYNET'::text, 'CITY24'::text, 'TBC'::text])));
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.wallet ADD CONSTRAINT wallet_title_check CHECK (((btrim(title) <> ''::text) AND (length(title) <= 200)));
CREATE INDEX wallet_credentials_expiry_idx ON public.wallet USING btree (credentials_expire_at) WHERE ((credentials_expire_at IS NOT NULL) AND (deleted_at IS NULL));
CREATE INDEX wallet_key_idx ON public.wallet USING btree (credentials_key_id, id) WHERE (credentials_key_id IS NOT NULL);
CREATE UNIQUE INDEX wallet_park_system_key ON public.wallet USING btree (park_id, payment_system) WHERE (deleted_at IS NULL);
CREATE TRIGGER wallet_changed AFTER DELETE OR UPDATE ON public.wallet FOR EACH ROW EXECUTE FUNCTION public.callback_links_changed();

CREATE TABLE public.wallet_key_notice (
  wallet_id uuid NOT NULL,
  credentials_set_at timestamp with time zone NOT NULL,
  threshold_days integer NOT NULL,
  expires_at timestamp with time zone NOT NULL,
  sent_to text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  email_id uuid
);
ALTER TABLE ONLY public.wallet_key_notice ADD CONSTRAINT wallet_key_notice_email_id_fkey FOREIGN KEY (email_id) REFERENCES public.email_message(id);
ALTER TABLE ONLY public.wallet_key_notice ADD CONSTRAINT wallet_key_notice_pkey PRIMARY KEY (wallet_id, credentials_set_at, threshold_days);
ALTER TABLE ONLY public.wallet_key_notice ADD CONSTRAINT wallet_key_notice_threshold_days_check CHECK ((threshold_days = ANY (ARRAY[0, 1, 7, 30])));
ALTER TABLE ONLY public.wallet_key_notice ADD CONSTRAINT wallet_key_notice_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES public.wallet(id);

CREATE TABLE public.wallet_retired_key (
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  wallet_id uuid NOT NULL,
  credentials_key_id text NOT NULL,
  credentials_sealed bytea NOT NULL,
  retired_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY public.wallet_retired_key ADD CONSTRAINT wallet_retired_key_credentials_sealed_check CHECK ((length(credentials_sealed) > 28));
ALTER TABLE ONLY public.wallet_retired_key ADD CONSTRAINT wallet_retired_key_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.wallet_retired_key ADD CONSTRAINT wallet_retired_key_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES public.wallet(id);
CREATE INDEX wallet_retired_key_wallet_idx ON public.wallet_retired_key USING btree (wallet_id, retired_at DESC);

-- Functions and procedures

CREATE OR REPLACE FUNCTION public.audit_entry_append(p_subject text, p_role text, p_operation text, p_arguments jsonb, p_targets text[], p_outcome text, p_request_id text, p_client_address text, p_user_agent text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
  INSERT INTO audit_entry (subject, role, operation, arguments, targets, outcome, request_id, client_address, user_agent)
  VALUES (p_subject, p_role, p_operation, p_arguments, p_targets, p_outcome, p_request_id, p_client_address, p_user_agent);
END $function$;

CREATE OR REPLACE FUNCTION public.audit_entry_ensure_partitions(months_ahead integer)
 RETURNS SETOF text
 LANGUAGE plpgsql
AS $function$
DECLARE
  month date;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('audit_entry_ensure_partitions'));
  FOR i IN 0..months_ahead LOOP
    month := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
    name := format('audit_entry_%s', to_char(month, 'YYYY_MM'));
    CONTINUE WHEN to_regclass(name) IS NOT NULL;
    CONTINUE WHEN EXISTS (SELECT 1 FROM audit_entry_default
                           WHERE at >= month::timestamp AT TIME ZONE 'UTC'
                             AND at < (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_entry FOR VALUES FROM (%L) TO (%L)', name,
                   month::timestamp AT TIME ZONE 'UTC', (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON %I
                      FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change()', name);
    RETURN NEXT name;
  END LOOP;
END $function$;

CREATE OR REPLACE FUNCTION public.audit_entry_refuse_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $function$;

CREATE OR REPLACE FUNCTION public.callback_links_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  PERFORM pg_notify('callback_links_changed', '');
  RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.fleet_instant_press(p_park_id text, p_requested bigint, p_idempotency_key text, p_source_ref text, p_actor text, p_now timestamp with time zone, p_payout_id uuid, p_default_cooldown_hours integer, p_default_limit_currencies text[], p_default_limits bigint[], p_events_topic text, OUT outcome text, OUT park_status text, OUT instant_enabled boolean, OUT last_instant_at timestamp with time zone, OUT cooldown_hours integer, OUT limit_minor bigint, OUT balance bigint, OUT created boolean, OUT paid public.payout)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
  park_currency text;
  amount bigint;
BEGIN
  created := false;
  SELECT pp.status, btrim(pp.currency) INTO park_status, park_currency FROM park_payable(p_park_id) pp;
  IF park_status IS NULL THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;

  SELECT s.instant_enabled, s.last_instant_at INTO instant_enabled, last_instant_at
    FROM fleet_park_payouts s WHERE s.park_id = p_park_id FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO fleet_park_payouts (park_id) VALUES (p_park_id) ON CONFLICT (park_id) DO NOTHING;
    SELECT s.instant_enabled, s.last_instant_at INTO instant_enabled, last_instant_at
      FROM fleet_park_payouts s WHERE s.park_id = p_park_id FOR UPDATE;
  END IF;

  SELECT * INTO paid FROM payout_by_idempotency_key(p_idempotency_key);
  IF FOUND THEN
    outcome := 'OK';
    RETURN;
  END IF;
  paid := NULL;

  -- The rules in force: the database's values over the environment's defaults.
  cooldown_hours := coalesce((SELECT instant_cooldown_hours FROM fleet_payout_settings), p_default_cooldown_hours);
  limit_minor := coalesce((SELECT l.limit_minor FROM fleet_instant_limit l WHERE l.currency = park_currency),
                          (SELECT d.minor FROM unnest(p_default_limit_currencies, p_default_limits) AS d(currency, minor)
                            WHERE d.currency = park_currency), 0);
  balance := ledger_balance('PARK', p_park_id, 'payout', park_currency);

  IF park_status <> 'ACTIVE' OR NOT instant_enabled THEN
    outcome := 'FORBIDDEN';
  ELSIF last_instant_at IS NOT NULL AND cooldown_hours > 0 AND last_instant_at + make_interval(hours => cooldown_hours) > p_now THEN
    outcome := 'COOLDOWN';
  ELSIF p_requested IS NOT NULL AND p_requested > limit_minor THEN
    outcome := 'LIMIT_EXCEEDED';
  ELSE
    amount := coalesce(p_requested, least(balance, limit_minor));
    IF amount <= 0 OR amount > balance THEN
      outcome := 'INSUFFICIENT_FUNDS';
    END IF;
  END IF;
  IF outcome IS NOT NULL THEN
    RETURN;
  END IF;

  paid := payout_create(p_payout_id, 'PARK', p_park_id, amount, park_currency, 'INSTANT', p_source_ref, p_idempotency_key,
                        p_actor, p_now, p_events_topic);
  UPDATE fleet_park_payouts SET previous_instant_at = fleet_park_payouts.last_instant_at, last_instant_at = p_now
   WHERE park_id = p_park_id;
  outcome := 'OK';
  created := true;
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_account_open(p_owner_kind text, p_owner_id text, p_type text, p_currency text)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
  found_id bigint;
BEGIN
  SELECT id INTO found_id FROM ledger_account
   WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id AND type = p_type AND currency = p_currency;
  IF found_id IS NULL THEN
    INSERT INTO ledger_account (owner_kind, owner_id, type, currency) VALUES (p_owner_kind, p_owner_id, p_type, p_currency)
    ON CONFLICT (owner_kind, owner_id, type, currency) DO NOTHING
    RETURNING id INTO found_id;
  END IF;
  IF found_id IS NULL THEN -- opened by another transaction meanwhile
    SELECT id INTO found_id FROM ledger_account
     WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id AND type = p_type AND currency = p_currency;
  END IF;
  RETURN found_id;
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_balance(p_owner_kind text, p_owner_id text, p_type text, p_currency text)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN coalesce((SELECT balance FROM ledger_account
                    WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id AND type = p_type AND currency = p_currency), 0);
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_owner_known(p_owner_kind text, p_owner_id text)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN EXISTS (SELECT 1 FROM ledger_account WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id);
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_post(p_idempotency_key text, p_debit bigint, p_credit bigint, p_amount bigint, p_currency text, p_kind text, p_reference text, OUT transfer_id bigint, OUT created boolean)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
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

  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END, updated_at = now()
   WHERE id = least(p_debit, p_credit);
  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END, updated_at = now()
   WHERE id = greatest(p_debit, p_credit);
  created := true;
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_post_many(p_keys text[], p_debits bigint[], p_credits bigint[], p_amounts bigint[], p_currency text[], p_kinds text[], p_references text[])
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.ledger_transfer_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'ledger transfers are immutable' USING ERRCODE = 'PL001';
END $function$;

CREATE OR REPLACE FUNCTION public.park_payable(p_park_id text, OUT status text, OUT currency text)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  SELECT p.status, p.currency INTO status, currency FROM park p WHERE p.id = p_park_id;
END $function$;

CREATE OR REPLACE FUNCTION public.payout_by_idempotency_key(p_idempotency_key text)
 RETURNS SETOF public.payout
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN QUERY SELECT * FROM payout WHERE idempotency_key = p_idempotency_key;
END $function$;

CREATE OR REPLACE FUNCTION public.payout_create(p_id uuid, p_payee_kind text, p_payee_id text, p_amount bigint, p_currency text, p_source text, p_source_ref text, p_idempotency_key text, p_actor text, p_at timestamp with time zone, p_events_topic text)
 RETURNS public.payout
 LANGUAGE plpgsql
AS $function$
DECLARE
  available bigint := ledger_account_open(p_payee_kind, p_payee_id, 'payout', p_currency);
  reserved bigint := ledger_account_open(p_payee_kind, p_payee_id, 'payout-reserved', p_currency);
  created payout;
BEGIN
  INSERT INTO payout (id, payee_kind, payee_id, account_id, amount, currency, status, source, source_ref, idempotency_key,
                      created_at, updated_at)
  VALUES (p_id, p_payee_kind, p_payee_id, available, p_amount, p_currency, 'CREATED', p_source, p_source_ref, p_idempotency_key,
          p_at, p_at)
  RETURNING * INTO created;
  INSERT INTO payout_status_change (payout_id, sequence, status, actor, occurred_at) VALUES (p_id, 1, 'CREATED', p_actor, p_at);
  INSERT INTO outbox_message (topic, key, value) VALUES (p_events_topic, p_id::text, payout_created_message(created, p_at));
  PERFORM ledger_post('payout:' || p_id || ':CREATED', available, reserved, p_amount, p_currency, 'payout_created', p_id::text);
  RETURN created;
END $function$;

CREATE OR REPLACE FUNCTION public.payout_created_message(p public.payout, p_occurred_at timestamp with time zone)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  iso constant text := 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';
  payee text;
BEGIN
  payee := CASE WHEN p.payee_kind = 'SHOP'
    THEN '{"kind":"SHOP","partyId":' || to_json(split_part(p.payee_id, '/', 1)) || ',"shopId":'
         || to_json(substr(p.payee_id, strpos(p.payee_id, '/') + 1)) || '}'
    ELSE '{"kind":' || to_json(p.payee_kind) || ',"id":' || to_json(p.payee_id) || '}' END;
  RETURN '{"payoutId":' || to_json(p.id::text) || ',"sequence":' || p.sequence || ',"status":' || to_json(p.status)
    || ',"occurredAt":"' || to_char(p_occurred_at AT TIME ZONE 'UTC', iso) || '"'
    || ',"payout":{"id":' || to_json(p.id::text) || ',"payee":' || payee
    || ',"accountId":"' || p.account_id || '","amount":"' || p.amount || '","currency":' || to_json(btrim(p.currency))
    || ',"status":' || to_json(p.status) || ',"source":' || to_json(p.source)
    || ',"sourceRef":' || coalesce(to_json(p.source_ref)::text, 'null')
    || ',"cutoff":' || coalesce('"' || to_char(p.cutoff AT TIME ZONE 'UTC', iso) || '"', 'null')
    || ',"payoutToolId":' || coalesce(to_json(p.payout_tool_id)::text, 'null')
    || ',"sequence":' || p.sequence
    || ',"createdAt":"' || to_char(p.created_at AT TIME ZONE 'UTC', iso) || '"'
    || ',"updatedAt":"' || to_char(p.updated_at AT TIME ZONE 'UTC', iso) || '"}}';
END $function$;

CREATE OR REPLACE FUNCTION public.payout_step(p_payout uuid, p_from text, p_sequence integer, p_to text, p_at timestamp with time zone, p_reason text, p_actor text, p_transfer_key text, p_debit bigint, p_credit bigint, p_transfer_kind text, p_fact uuid, p_topics text[], p_messages text[])
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_amount bigint;
  v_currency text;
  v_transfer bigint;
BEGIN
  SELECT amount, currency INTO v_amount, v_currency FROM payout
   WHERE id = p_payout AND status = p_from AND sequence = p_sequence
     FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF p_transfer_key IS NOT NULL THEN
    SELECT transfer_id INTO v_transfer
      FROM ledger_post(p_transfer_key, p_debit, p_credit, v_amount, v_currency, p_transfer_kind, p_payout::text);
  END IF;
  WITH moved AS (
    UPDATE payout SET status = p_to, sequence = p_sequence + 1, updated_at = p_at WHERE id = p_payout),
  history AS (
    INSERT INTO payout_status_change (payout_id, sequence, status, reason, actor, occurred_at)
    VALUES (p_payout, p_sequence + 1, p_to, p_reason, p_actor, p_at)),
  fact AS (
    INSERT INTO cash_payment_fact (id, payout_id, account_id, transfer_id, amount, currency, created_at)
    SELECT p_fact, p_payout, p_debit, v_transfer, v_amount, v_currency, p_at WHERE p_fact IS NOT NULL)
  INSERT INTO outbox_message (topic, key, value)
  SELECT topic, p_payout::text, value FROM unnest(p_topics, p_messages) AS m(topic, value);
  RETURN true;
END $function$;

CREATE OR REPLACE PROCEDURE public.payout_step_each(IN p_payouts uuid[], IN p_from text, IN p_sequences integer[], IN p_to text, IN p_at timestamp with time zone[], IN p_reason text, IN p_actor text, IN p_transfer_keys text[], IN p_debits bigint[], IN p_credits bigint[], IN p_transfer_kind text, IN p_facts uuid[], IN p_topics text[], IN p_messages text[], INOUT p_stepped boolean[] DEFAULT NULL::boolean[])
 LANGUAGE plpgsql
AS $procedure$
DECLARE
  per_payout constant integer := coalesce(cardinality(p_topics), 0);
BEGIN
  p_stepped := '{}';
  FOR i IN 1 .. coalesce(cardinality(p_payouts), 0) LOOP
    PERFORM set_config('synchronous_commit', 'off', true);
    p_stepped := p_stepped || payout_step(
      p_payouts[i], p_from, p_sequences[i], p_to, p_at[i], p_reason, p_actor,
      p_transfer_keys[i], p_debits[i], p_credits[i], p_transfer_kind, p_facts[i],
      p_topics, p_messages[(i - 1) * per_payout + 1 : i * per_payout]);
    COMMIT;
  END LOOP;
END $procedure$;

CREATE OR REPLACE FUNCTION public.signalq_status_partition(p_month date)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_from date := date_trunc('month', p_month)::date;
  v_name text := 'signalq_device_status_' || to_char(v_from, 'YYYY_MM');
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN RETURN; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('signalq_status_partition'));
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF signalq_device_status FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from::timestamp AT TIME ZONE 'UTC', (v_from + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_id)', v_name || '_event_idx', v_name);
  EXCEPTION WHEN duplicate_table THEN
    -- Made by another session since this one last read the catalog (an advisory lock does not refresh it).
    NULL;
  END;
END $function$;

-- Comments

COMMENT ON COLUMN public.email_message.attempts IS 'Tries to hand the message to the SMTP server, the accepted one included';
COMMENT ON COLUMN public.email_message.given_up_at IS 'When no more tries were left (the SMTP server refused it for good, its attempts ran out, or it waited too long for SMTP_URL); NULL while it is sent or may still be';
COMMENT ON COLUMN public.email_message.last_error IS 'Why the latest failed try failed (an SMTP error code and reply code, never the server URL)';
COMMENT ON COLUMN public.email_message.sent_at IS 'When the SMTP server accepted the message; NULL: not delivered (yet)';
COMMENT ON COLUMN public.wallet_key_notice.email_id IS 'The notice''s e-mail: delivered once its email_message.sent_at is set';
COMMENT ON COLUMN public.wallet_key_notice.sent_to IS 'The address the notice was written to; not proof of delivery (see email_id)';
COMMENT ON COLUMN public.wallet_retired_key.retired_at IS 'When it was replaced (clock time, after the wallet was locked): top-ups created before it may need it';
COMMENT ON TABLE public.wallet_retired_key IS 'Replaced wallet keys kept for the top-ups opened with them, until none of those is open';
