import { Migration } from '@mikro-orm/migrations';

/**
 * A change that can make a resolved callback link wrong — a link revoked or replaced, a wallet
 * switched off, edited or deleted — says so on the `callback_links_changed` channel, so that the
 * processes serving callbacks drop the links they keep (`LinkCache`). Per row, so that a statement
 * that changes nothing says nothing; PostgreSQL sends a transaction's identical notifications once.
 * These are a dispatcher's rare edits; `last_used_at`, which the look-up itself writes, says nothing.
 */
export class Migration20261220000000_callback_link_changes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE FUNCTION callback_links_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('callback_links_changed', '');
  RETURN NULL;
END $$;
CREATE TRIGGER callback_link_changed AFTER DELETE OR UPDATE OF revoked_at, secret_hash, wallet_id ON callback_link
  FOR EACH ROW EXECUTE FUNCTION callback_links_changed();
CREATE TRIGGER wallet_changed AFTER UPDATE OR DELETE ON wallet
  FOR EACH ROW EXECUTE FUNCTION callback_links_changed();`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TRIGGER wallet_changed ON wallet;
DROP TRIGGER callback_link_changed ON callback_link;
DROP FUNCTION callback_links_changed();`);
  }
}
