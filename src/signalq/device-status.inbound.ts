import type { InboundHandler } from '../platform/kafka/inbound';
import { parseDeviceStatus, type DeviceStatusEvent, type DeviceStatusHistory } from './device-status';

/**
 * The `signalq.device-status` topic (and `payouts ingest signalq-status`): camera status events
 * into the history, a whole batch in one statement that also drops the events seen before (the
 * history keeps each eventId under a unique key: no inbox row for millions of events a month).
 */
export function deviceStatusHandler(topic: string, history: DeviceStatusHistory): InboundHandler<DeviceStatusEvent> {
  return {
    topic,
    parse: (json, eventId) => parseDeviceStatus(eventId, json),
    applyOnce: (em, events) => history.record(em, events.map((e) => e.message)),
  };
}
