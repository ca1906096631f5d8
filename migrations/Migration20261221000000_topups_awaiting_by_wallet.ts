import { Migration } from '@mikro-orm/migrations';

/**
 * The top-ups a wallet still has open at its payment system, found by wallet: deleting a wallet
 * (or removing its key) asks for them, and a wallet holds many transactions but few open ones.
 */
export class Migration20261221000000_topups_awaiting_by_wallet extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE INDEX topup_transaction_awaiting_idx ON topup_transaction (wallet_id) WHERE awaiting_payment;`);
  }

  override async down(): Promise<void> {
    this.addSql(`DROP INDEX topup_transaction_awaiting_idx;`);
  }
}
