import type { InboundHandler } from '../platform/kafka/inbound';
import { parsePartyEvent, type PartyEvent } from './party-events';
import type { ShopService } from './shop.service';

/** The `party-management` topic: shops, their status, payout tool and payout schedule. */
export function partyManagementHandler(topic: string, shops: ShopService): InboundHandler<PartyEvent> {
  return {
    topic,
    parse: (json, eventId) => parsePartyEvent(eventId, json),
    apply: (em, event) => shops.apply(em, event),
  };
}
