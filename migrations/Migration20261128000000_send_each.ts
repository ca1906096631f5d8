import { Migration } from '@mikro-orm/migrations';

/**
 * The ERP sender hands over many payouts per round trip, still one transaction per payout
 * (`payout_step_each`, committed asynchronously); a step's writes are one statement; one payout
 * index serves the sender's queue and the status filter; `ledger_post` updates balances without a
 * separate locking statement, and account rows leave room on their pages for their updates.
 */
export class Migration20261128000000_send_each extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- As before, with the step's writes in one statement instead of four: the new status, the
-- history entry, the cash-payment fact (when p_fact is set) and the outbox messages.
CREATE OR REPLACE FUNCTION payout_step(
  p_payout uuid, p_from text, p_sequence integer, p_to text, p_at timestamptz,
  p_reason text, p_actor text,
  p_transfer_key text, p_debit bigint, p_credit bigint, p_transfer_kind text,
  p_fact uuid, p_topics text[], p_messages text[]
) RETURNS boolean LANGUAGE plpgsql AS $$
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
END $$;

-- The same step for many payouts, each committed on its own: what a caller would do with one
-- payout_step call per payout, without a round trip for each. Per-payout values are arrays (index
-- i for payout i; p_messages holds cardinality(p_topics) messages per payout, in order); the rest
-- is shared. Call it outside a transaction. p_stepped says, per payout, whether this call stepped
-- it. An error stops the call: the payouts before it stay committed, the failing one is rolled back.
--
-- Each commit is asynchronous: it does not wait for its WAL to reach the disk, which is most of
-- what a small transaction costs. A database crash can therefore undo the last moments of steps
-- (each whole: a payout is back where it was, money and messages with it). Nothing outside the
-- database has seen them: the outbox publisher makes the WAL durable before it hands a message on.
CREATE PROCEDURE payout_step_each(
  p_payouts uuid[], p_from text, p_sequences integer[], p_to text, p_at timestamptz[],
  p_reason text, p_actor text,
  p_transfer_keys text[], p_debits bigint[], p_credits bigint[], p_transfer_kind text,
  p_facts uuid[], p_topics text[], p_messages text[],
  INOUT p_stepped boolean[] DEFAULT NULL
) LANGUAGE plpgsql AS $$
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
END $$;

-- One index serves both the ERP sender's queue (status CREATED, oldest first) and the status
-- filter (newest first): the partial queue index was a second entry to write for every payout.
CREATE INDEX payout_status_created_idx ON payout (status, created_at, id);
DROP INDEX payout_status_idx;
DROP INDEX payout_created_queue_idx;

-- Every transfer updates two balances: leave room on each page for the new row versions, so an
-- update stays on its page (HOT) and writes no index entries. Applies to pages written from now on.
ALTER TABLE ledger_account SET (fillfactor = 70);

-- As before, but each balance is updated on its own, lower account id first, instead of locking
-- both rows in a statement of its own and then updating them: the updates' row locks come in one
-- order for every transfer, so concurrent transfers still cannot deadlock, and each row is
-- locked once instead of twice. (The INSERT's foreign-key checks hold KEY SHARE, which a balance
-- update does not conflict with.)
CREATE OR REPLACE FUNCTION ledger_post(
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

  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END, updated_at = now()
   WHERE id = least(p_debit, p_credit);
  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END, updated_at = now()
   WHERE id = greatest(p_debit, p_credit);
  created := true;
END $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP PROCEDURE payout_step_each;
ALTER TABLE ledger_account RESET (fillfactor);
CREATE INDEX payout_status_idx ON payout (status, created_at);
CREATE INDEX payout_created_queue_idx ON payout (created_at, id) WHERE status = 'CREATED';
DROP INDEX payout_status_created_idx;
CREATE OR REPLACE FUNCTION payout_step(
  p_payout uuid, p_from text, p_sequence integer, p_to text, p_at timestamptz,
  p_reason text, p_actor text,
  p_transfer_key text, p_debit bigint, p_credit bigint, p_transfer_kind text,
  p_fact uuid, p_topics text[], p_messages text[]
) RETURNS boolean LANGUAGE plpgsql AS $$
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
  UPDATE payout SET status = p_to, sequence = p_sequence + 1, updated_at = p_at WHERE id = p_payout;
  INSERT INTO payout_status_change (payout_id, sequence, status, reason, actor, occurred_at)
  VALUES (p_payout, p_sequence + 1, p_to, p_reason, p_actor, p_at);
  IF p_fact IS NOT NULL THEN
    INSERT INTO cash_payment_fact (id, payout_id, account_id, transfer_id, amount, currency, created_at)
    VALUES (p_fact, p_payout, p_debit, v_transfer, v_amount, v_currency, p_at);
  END IF;
  INSERT INTO outbox_message (topic, key, value)
  SELECT topic, p_payout::text, value FROM unnest(p_topics, p_messages) AS m(topic, value);
  RETURN true;
END $$;
CREATE OR REPLACE FUNCTION ledger_post(
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

  PERFORM 1 FROM ledger_account WHERE id IN (p_debit, p_credit) ORDER BY id FOR NO KEY UPDATE;
  UPDATE ledger_account
     SET balance = balance + CASE WHEN id = p_credit THEN p_amount ELSE -p_amount END,
         updated_at = now()
   WHERE id IN (p_debit, p_credit);
  created := true;
END $$;
`);
  }
}
