import type { InboundHandler } from '../platform/kafka/inbound';
import { parseDeviceStatus, type DeviceStatusEvent, type DeviceStatusHistory } from './device-status';

/**
 * The `signalq.device-status` topic (and `payouts ingest signalq-status`): camera status events
 * into the history, a whole batch in one statement. A repeated eventId never gets here (the inbox).
 */
export function deviceStatusHandler(topic: string, history: DeviceStatusHistory): InboundHandler<DeviceStatusEvent> {
  return {
    topic,
    parse: (json, eventId) => parseDeviceStatus(eventId, json),
    apply: (em, event) => history.record(em, [event]),
    applyBatch: (em, events) => history.record(em, events),
  };
}
