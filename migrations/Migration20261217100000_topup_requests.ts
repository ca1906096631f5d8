import { Migration } from '@mikro-orm/migrations';

/**
 * Top-ups a driver starts from the Pro app (QIWI bills, Paystack transactions): recorded ACCEPTED
 * before the payment system is asked, so a retried request and a crash after the call find the
 * same row. Unlike a callback's ACCEPTED (paid, credited at once) such a top-up is awaiting
 * payment until the payment system says it was paid: `awaiting_payment` keeps its credit job
 * from being booked (and the overdue sweep from booking one) until then.
 */
export class Migration20261217100000_topup_requests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE topup_transaction
  ADD COLUMN awaiting_payment boolean NOT NULL DEFAULT false,
  -- The driver's key for createTopUp: the same key returns the same top-up.
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  -- Where the driver pays (the bill's or the checkout's page), once the payment system answered.
  ADD COLUMN pay_url text CHECK (length(pay_url) <= 2000),
  -- When an unpaid request is given up (the bill rejected at the payment system).
  ADD COLUMN expires_at timestamptz,
  -- When the payment system said it was paid (a callback's top-up: when it was recorded); the credit lag counts from it.
  ADD COLUMN paid_at timestamptz,
  ADD CONSTRAINT topup_transaction_awaiting_check CHECK (NOT awaiting_payment OR (status = 'ACCEPTED' AND idempotency_key IS NOT NULL AND expires_at IS NOT NULL));
CREATE UNIQUE INDEX topup_transaction_request_key ON topup_transaction (park_id, driver_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX topup_transaction_accepted_idx;
CREATE INDEX topup_transaction_accepted_idx ON topup_transaction (id) WHERE status = 'ACCEPTED' AND NOT awaiting_payment;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP INDEX topup_transaction_request_key;
DROP INDEX topup_transaction_accepted_idx;
ALTER TABLE topup_transaction DROP CONSTRAINT topup_transaction_awaiting_check,
  DROP COLUMN awaiting_payment, DROP COLUMN idempotency_key, DROP COLUMN pay_url, DROP COLUMN expires_at, DROP COLUMN paid_at;
CREATE INDEX topup_transaction_accepted_idx ON topup_transaction (id) WHERE status = 'ACCEPTED';
`);
  }
}
