import type { Task } from 'graphile-worker';
import { parsePayee } from '../access/payee';
import { InvalidInputError } from '../platform/errors';
import type { ShopPayoutRunner } from './shop-payout-run';

/** A shop's scheduled payout run, booked by the shop scheduler under the shop's job key. */
export function shopPayout(runner: ShopPayoutRunner): Task<'shop__payout'> {
  return async (payload) => {
    // Typed, but read back from the database: checked again.
    const shop = parsePayee({ kind: 'SHOP', ...(payload as object) });
    if (shop.kind !== 'SHOP') throw new InvalidInputError('shop__payout needs partyId and shopId');
    await runner.run(shop);
  };
}
