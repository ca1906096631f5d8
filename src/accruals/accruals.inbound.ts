import { InvalidInputError } from '../platform/errors';
import type { InboundHandler } from '../platform/kafka/inbound';
import { parseAccrual, type Accrual, type AccrualService } from './accrual.service';

/** The `accruals` topic: earnings computed elsewhere, credited to a payee's account once per reference. */
export function accrualsHandler(topic: string, accruals: AccrualService): InboundHandler<Accrual> {
  return {
    topic,
    parse(json) {
      const accrual = parseAccrual(json);
      if (!accrual.occurredAt) throw new InvalidInputError('occurredAt is required', { field: 'occurredAt' });
      return { ...accrual, occurredAt: accrual.occurredAt };
    },
    async apply(em, accrual, origin) {
      await accruals.apply(em, accrual, origin);
    },
  };
}
