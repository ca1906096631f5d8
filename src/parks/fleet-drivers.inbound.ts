import type { InboundHandler } from '../platform/kafka/inbound';
import { parseDriverEvent, type DriverEvent } from './driver-events';
import type { DriverService } from './driver.service';

/** The `fleet.drivers` topic: a park's drivers, the latest `occurredAt` winning; an unknown park is a dead letter. */
export function fleetDriversHandler(topic: string, drivers: DriverService): InboundHandler<DriverEvent> {
  return {
    topic,
    parse: (json, eventId) => parseDriverEvent(eventId, json),
    apply: async (em, event) => {
      await drivers.upsert(em, event);
    },
  };
}
