import { Migration } from '@mikro-orm/migrations';

/**
 * The instant-payout button in one statement: `fleet_instant_press` takes the park's row, applies
 * the rules (contracts.md's order), and creates the payout with its history, its `payouts.events`
 * message and its reservation; the caller's statement writes the audit entry beside it
 * (`audit_entry_append`), so a press is one round trip and one transaction, refused or paid.
 *
 * Each module keeps its own tables behind a function of its own, as `ledger_balance` and
 * `park_payable` do: `ledger_account_open` (the ledger), `payout_by_idempotency_key`,
 * `payout_created_message` and `payout_create` (payouts), `audit_entry_append` (the audit log).
 * PL/pgSQL throughout, so each statement's plan is cached per connection.
 */
export class Migration20261218000000_instant_press extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- The ledger: the id of an owner's account that may not go negative, opened if it never was.
CREATE FUNCTION ledger_account_open(p_owner_kind text, p_owner_id text, p_type text, p_currency text) RETURNS bigint
  LANGUAGE plpgsql AS $$
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
END $$;

-- Payouts: the payout an idempotency key made, if any.
CREATE FUNCTION payout_by_idempotency_key(p_idempotency_key text) RETURNS SETOF payout
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY SELECT * FROM payout WHERE idempotency_key = p_idempotency_key;
END $$;

-- The payouts.events message of a payout's step, as JSON text byte for byte as the service's
-- payoutEvent + JSON.stringify write it (keys in its order, no spaces, times in milliseconds).
CREATE FUNCTION payout_created_message(p payout, p_occurred_at timestamptz) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
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
END $$;

-- Payouts: creates one payout of a payee that is not a shop, as PayoutLifecycle.createMany does:
-- the row, its CREATED history entry, its payouts.events message, and the reservation (payout →
-- payout-reserved, the ledger refusing if the balance is short).
CREATE FUNCTION payout_create(
  p_id uuid, p_payee_kind text, p_payee_id text, p_amount bigint, p_currency text, p_source text, p_source_ref text,
  p_idempotency_key text, p_actor text, p_at timestamptz, p_events_topic text
) RETURNS payout LANGUAGE plpgsql AS $$
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
END $$;

-- The audit log: one entry, in the caller's transaction.
CREATE FUNCTION audit_entry_append(
  p_subject text, p_role text, p_operation text, p_arguments jsonb, p_targets text[], p_outcome text,
  p_request_id text, p_client_address text, p_user_agent text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_entry (subject, role, operation, arguments, targets, outcome, request_id, client_address, user_agent)
  VALUES (p_subject, p_role, p_operation, p_arguments, p_targets, p_outcome, p_request_id, p_client_address, p_user_agent);
END $$;

-- Fleet payouts: one press of a park's instant-payout button. The park's fleet_park_payouts row
-- is locked first (presses of one park take turns, on any number of API processes); then the
-- idempotency key's payout, if it made one, is the answer whatever happened since; then the
-- rules, first match wins: FORBIDDEN (park disabled, instant payouts off for it), COOLDOWN,
-- LIMIT_EXCEEDED, INSUFFICIENT_FUNDS. A press that pays creates the payout and becomes the park's
-- latest; a refused one changes nothing. Returns the outcome (OK, NOT_FOUND or the refusal's code),
-- the facts the rules read (for the refusal's details) and the payout.
CREATE FUNCTION fleet_instant_press(
  p_park_id text, p_requested bigint, p_idempotency_key text, p_source_ref text, p_actor text, p_now timestamptz,
  p_payout_id uuid, p_default_cooldown_hours integer, p_default_limit_currencies text[], p_default_limits bigint[],
  p_events_topic text,
  OUT outcome text, OUT park_status text, OUT instant_enabled boolean, OUT last_instant_at timestamptz,
  OUT cooldown_hours integer, OUT limit_minor bigint, OUT balance bigint, OUT created boolean, OUT paid payout
) LANGUAGE plpgsql AS $$
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
END $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP FUNCTION fleet_instant_press;
DROP FUNCTION audit_entry_append;
DROP FUNCTION payout_create;
DROP FUNCTION payout_created_message;
DROP FUNCTION payout_by_idempotency_key;
DROP FUNCTION ledger_account_open;
`);
  }
}
