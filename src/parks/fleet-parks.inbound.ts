import type { InboundHandler } from '../platform/kafka/inbound';
import { parseParkEvent, type ParkEvent } from './park-events';
import type { ParkService } from './park.service';

/** The `fleet.parks` topic: parks and their status, the latest `occurredAt` winning. */
export function fleetParksHandler(topic: string, parks: ParkService): InboundHandler<ParkEvent> {
  return {
    topic,
    parse: (json, eventId) => parseParkEvent(eventId, json),
    apply: async (em, event) => {
      await parks.upsert(em, event, null);
    },
  };
}
