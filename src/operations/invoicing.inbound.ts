import type { InboundHandler } from '../platform/kafka/inbound';
import { parseOperation, type ShopOperation } from './operation';
import type { OperationService } from './operation.service';

/**
 * The `invoicing` topic: payments, refunds, adjustments and chargebacks of shops. Applied a whole
 * batch at a time; a batch with an operation that cannot be applied is redone one by one, so only
 * that one becomes a dead letter.
 */
export function invoicingHandler(topic: string, operations: OperationService): InboundHandler<ShopOperation> {
  return {
    topic,
    parse: (json, eventId) => parseOperation(eventId, json),
    apply: async (em, operation) => {
      await operations.record(em, [operation]);
    },
    applyBatch: async (em, batch) => {
      await operations.record(em, batch);
    },
  };
}
