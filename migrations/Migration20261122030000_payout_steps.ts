import { Migration } from '@mikro-orm/migrations';

/**
 * Every payout step in one database call, and no NOTIFY per outbox write: what the ERP sender
 * needs to hand over payouts one transaction each at thousands per second.
 */
export class Migration20261122030000_payout_steps extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- A notifying commit takes a cluster-wide lock through its WAL flush, so every transaction that
-- wrote to the outbox queued behind every other. The publisher polls the outbox instead.
DROP TRIGGER outbox_notify ON outbox_message;
DROP FUNCTION outbox_notify;

-- Writes one step of a payout's lifecycle, decided and described by the caller: the payout must
-- still be in p_from at p_sequence, and a row another transaction holds is skipped (false,
-- nothing written). Then, in the caller's transaction (or as a transaction of its own when called
-- alone): the ledger movement (when p_transfer_key is set; amount and currency are the payout's),
-- the new status and sequence, the history entry, the cash-payment fact (when p_fact is set: the
-- money left p_debit by this step's transfer) and the outbox messages, keyed by the payout id.
CREATE FUNCTION payout_step(
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
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP FUNCTION payout_step;
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox_message
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
`);
  }
}
