import { Migration } from '@mikro-orm/migrations';

/**
 * `ledger_owner_known`: whether the ledger has any account of an owner. Another module asks the
 * ledger through this function instead of reading `ledger_account` (a payout request for a client
 * the ledger has never heard of is refused in the one statement that records it). PL/pgSQL, so
 * its plan is cached per connection: a SQL function would be planned again at every call.
 */
export class Migration20261203000000_ledger_owner_known extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE FUNCTION ledger_owner_known(p_owner_kind text, p_owner_id text) RETURNS boolean
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM ledger_account WHERE owner_kind = p_owner_kind AND owner_id = p_owner_id);
END $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP FUNCTION ledger_owner_known;');
  }
}
