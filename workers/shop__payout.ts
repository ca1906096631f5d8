import type { Task } from 'graphile-worker';
import type { App } from '../src/app';
import { InvalidInputError } from '../src/platform/errors';
import { parsePayee } from '../src/platform/payee';

/** A shop's scheduled payout run, booked by the shop scheduler under the shop's job key. */
export default function shopPayout(app: App): Task {
  return async (payload) => {
    const shop = parsePayee({ kind: 'SHOP', ...(payload as object) });
    if (shop.kind !== 'SHOP') throw new InvalidInputError('shop__payout needs partyId and shopId');
    await app.shopPayoutRunner.run(shop);
  };
}
