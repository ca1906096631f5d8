import { Migration } from '@mikro-orm/migrations';

/** Payout requests (billing-payout's api and req-gate) and cash-payment facts (its oebs-gate). */
export class Migration20261122010000_payout_requests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE payout_request (
  id               uuid        PRIMARY KEY,
  client_id        text        NOT NULL,
  idempotency_key  text        NOT NULL,
  status           text        NOT NULL DEFAULT 'NEW' CHECK (status IN ('NEW', 'DONE', 'ERROR')),
  error            text,
  attempts         integer     NOT NULL DEFAULT 0,
  requested_by     text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  processed_at     timestamptz,
  CONSTRAINT payout_request_client_key UNIQUE (client_id, idempotency_key),
  CONSTRAINT payout_request_error_has_text CHECK (status <> 'ERROR' OR error IS NOT NULL)
);
-- The req-gate's queue: only NEW requests, oldest first.
CREATE INDEX payout_request_new_idx ON payout_request (created_at, id) WHERE status = 'NEW';
CREATE INDEX payout_request_client_idx ON payout_request (client_id, created_at DESC, id DESC);
CREATE INDEX payout_request_created_idx ON payout_request (created_at DESC, id DESC);

-- The oebs-gate's queue and the payouts of a request.
CREATE INDEX payout_created_queue_idx ON payout (created_at, id) WHERE status = 'CREATED';
CREATE INDEX payout_source_ref_idx ON payout (source, source_ref) WHERE source_ref IS NOT NULL;

-- What moved when a payout was sent: from which account, by which transfer, how much.
CREATE TABLE cash_payment_fact (
  id           uuid        PRIMARY KEY,
  payout_id    uuid        NOT NULL REFERENCES payout (id),
  account_id   bigint      NOT NULL REFERENCES ledger_account (id),
  transfer_id  bigint      NOT NULL REFERENCES ledger_transfer (id),
  amount       bigint      NOT NULL CHECK (amount > 0),
  currency     char(3)     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cash_payment_fact_payout_key UNIQUE (payout_id)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TABLE cash_payment_fact, payout_request;
DROP INDEX payout_created_queue_idx, payout_source_ref_idx;
`);
  }
}
