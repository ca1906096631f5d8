import { isUuid } from '../platform/ids';
import { InvalidInputError } from '../platform/errors';
import type { InboundHandler } from '../platform/kafka/inbound';
import type { PayoutStatus } from '../payouts/lifecycle';
import type { PayoutLifecycle } from '../payouts/payout-lifecycle';

interface ErpStatus {
  payoutId: string;
  status: PayoutStatus;
  reason: string | null;
}

/**
 * What the ERP says back about a payout. The ARD feed acknowledges the document, the OEBS feed
 * reports the money; repeats and late messages change nothing, a RETURNED before its PAID is
 * applied as both (the lifecycle's rule), an unknown payout is refused.
 */
export function erpStatusHandler(
  topic: string,
  allowed: readonly PayoutStatus[],
  payouts: PayoutLifecycle,
): InboundHandler<ErpStatus> {
  return {
    topic,
    parse(json) {
      const { payoutId, status, reason } = json;
      if (!isUuid(payoutId)) {
        throw new InvalidInputError('payoutId must be a payout id', { field: 'payoutId' });
      }
      if (!allowed.includes(status as PayoutStatus)) {
        throw new InvalidInputError(`status must be one of ${allowed.join(', ')}`, { field: 'status' });
      }
      if (reason !== undefined && reason !== null && typeof reason !== 'string') {
        throw new InvalidInputError('reason must be a string', { field: 'reason' });
      }
      return { payoutId, status: status as PayoutStatus, reason: (reason as string | undefined) ?? null };
    },
    async apply(em, message) {
      await payouts.transition(em, message.payoutId, message.status, { reason: message.reason, actor: `erp:${topic}` });
    },
  };
}

export const ARD_STATUSES: readonly PayoutStatus[] = ['ACCEPTED', 'REJECTED'];
export const OEBS_STATUSES: readonly PayoutStatus[] = ['PAID', 'RETURNED', 'REJECTED'];
