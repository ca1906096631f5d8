import { Migration20261122000000_money_core } from './Migration20261122000000_money_core';
import { Migration20261122010000_payout_requests } from './Migration20261122010000_payout_requests';
import { Migration20261122020000_shops_schedules } from './Migration20261122020000_shops_schedules';
import { Migration20261122030000_payout_steps } from './Migration20261122030000_payout_steps';
import { Migration20261128000000_send_each } from './Migration20261128000000_send_each';
import { Migration20261203000000_ledger_owner_known } from './Migration20261203000000_ledger_owner_known';
import { Migration20261210000000_dead_letter_discard } from './Migration20261210000000_dead_letter_discard';
import { Migration20261211000000_parks_fleet_payouts } from './Migration20261211000000_parks_fleet_payouts';
import { Migration20261212100000_audit_log } from './Migration20261212100000_audit_log';
import { Migration20261214000000_drivers_wallets } from './Migration20261214000000_drivers_wallets';
import { Migration20261215000000_signalq } from './Migration20261215000000_signalq';
import { Migration20261216000000_signalq_event_ids } from './Migration20261216000000_signalq_event_ids';
import { Migration20261217100000_topup_requests } from './Migration20261217100000_topup_requests';
import { Migration20261217110000_wallet_key_notices } from './Migration20261217110000_wallet_key_notices';
import { Migration20261218000000_instant_press } from './Migration20261218000000_instant_press';
import { Migration20261219000000_signalq_byte_order_ids } from './Migration20261219000000_signalq_byte_order_ids';
import { Migration20261220000000_callback_link_changes } from './Migration20261220000000_callback_link_changes';
import { Migration20261221000000_topups_awaiting_by_wallet } from './Migration20261221000000_topups_awaiting_by_wallet';
import { Migration20261221100000_email_outbox } from './Migration20261221100000_email_outbox';
import { Migration20261222000000_email_given_up } from './Migration20261222000000_email_given_up';
import { Migration20261222100000_wallet_retired_keys } from './Migration20261222100000_wallet_retired_keys';

/** Every migration in order. Listed explicitly so the same code runs from TypeScript and from the build. */
export const migrationsList = [
  { name: 'Migration20261122000000_money_core', class: Migration20261122000000_money_core },
  { name: 'Migration20261122010000_payout_requests', class: Migration20261122010000_payout_requests },
  { name: 'Migration20261122020000_shops_schedules', class: Migration20261122020000_shops_schedules },
  { name: 'Migration20261122030000_payout_steps', class: Migration20261122030000_payout_steps },
  { name: 'Migration20261128000000_send_each', class: Migration20261128000000_send_each },
  { name: 'Migration20261203000000_ledger_owner_known', class: Migration20261203000000_ledger_owner_known },
  { name: 'Migration20261210000000_dead_letter_discard', class: Migration20261210000000_dead_letter_discard },
  { name: 'Migration20261211000000_parks_fleet_payouts', class: Migration20261211000000_parks_fleet_payouts },
  { name: 'Migration20261212100000_audit_log', class: Migration20261212100000_audit_log },
  { name: 'Migration20261214000000_drivers_wallets', class: Migration20261214000000_drivers_wallets },
  { name: 'Migration20261215000000_signalq', class: Migration20261215000000_signalq },
  { name: 'Migration20261216000000_signalq_event_ids', class: Migration20261216000000_signalq_event_ids },
  { name: 'Migration20261217100000_topup_requests', class: Migration20261217100000_topup_requests },
  { name: 'Migration20261217110000_wallet_key_notices', class: Migration20261217110000_wallet_key_notices },
  { name: 'Migration20261218000000_instant_press', class: Migration20261218000000_instant_press },
  { name: 'Migration20261219000000_signalq_byte_order_ids', class: Migration20261219000000_signalq_byte_order_ids },
  { name: 'Migration20261220000000_callback_link_changes', class: Migration20261220000000_callback_link_changes },
  { name: 'Migration20261221000000_topups_awaiting_by_wallet', class: Migration20261221000000_topups_awaiting_by_wallet },
  { name: 'Migration20261221100000_email_outbox', class: Migration20261221100000_email_outbox },
  { name: 'Migration20261222000000_email_given_up', class: Migration20261222000000_email_given_up },
  { name: 'Migration20261222100000_wallet_retired_keys', class: Migration20261222100000_wallet_retired_keys },
];
