import type { EntityManager } from '@mikro-orm/postgresql';
import { InvalidInputError } from '../platform/errors';
import { parseCurrency, parseMinor } from '../platform/money';
import { parseInstant } from '../platform/time';
import { parsePayee, payeeId, type Payee } from '../access/payee';
import { worldAccount, type LedgerService } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';

export type AccrualOrigin = 'KAFKA' | 'MANUAL' | 'INGEST';

export interface Accrual {
  payee: Payee;
  account: string;
  amount: bigint;
  currency: string;
  /** Applied once per payee: the same reference again is a no-op. */
  reference: string;
  occurredAt: Date;
  reason?: string | null;
  actor?: string | null;
}

export interface AppliedAccrual {
  transferId: string;
  created: boolean;
}

/** Accounts only the payout lifecycle may move; an accrual into them would break its books. */
const LIFECYCLE_ACCOUNTS = new Set<string>([PayoutAccount.reserved, PayoutAccount.inFlight]);
const ACCOUNT_TYPE = /^[a-z][a-z0-9_-]{0,31}$/;

/** Validates an accrual from any channel (Kafka message, GraphQL input, ingest file). */
export function parseAccrual(input: Record<string, unknown>): Omit<Accrual, 'occurredAt'> & { occurredAt?: Date } {
  const account = input.account ?? PayoutAccount.available;
  if (typeof account !== 'string' || !ACCOUNT_TYPE.test(account) || LIFECYCLE_ACCOUNTS.has(account)) {
    throw new InvalidInputError('account must be an account type such as "payout"', { field: 'account' });
  }
  const amount = parseMinor(input.amount);
  if (amount === 0n) throw new InvalidInputError('amount must not be zero', { field: 'amount' });
  const reference = input.reference;
  if (typeof reference !== 'string' || reference.length === 0 || reference.length > 200) {
    throw new InvalidInputError('reference must be a non-empty string of at most 200 characters', { field: 'reference' });
  }
  // As strict as every other topic's times: a date without a time or offset is refused, not guessed.
  const occurredAt = input.occurredAt === undefined ? undefined : parseInstant(input.occurredAt, 'occurredAt');
  return {
    payee: parsePayee(input.payee, ['CLIENT', 'PARK']),
    account,
    amount,
    currency: parseCurrency(input.currency),
    reference,
    occurredAt,
  };
}

/** Credits (or, for a negative amount, debits) a payee's account from the outside world. */
export class AccrualService {
  constructor(private readonly ledger: LedgerService) {}

  async apply(em: EntityManager, accrual: Accrual, origin: AccrualOrigin): Promise<AppliedAccrual> {
    const payeeAccount = {
      owner: { kind: accrual.payee.kind, id: payeeId(accrual.payee) },
      type: accrual.account,
      currency: accrual.currency,
    };
    const world = worldAccount(accrual.currency);
    const credit = accrual.amount > 0n;
    const [from, to] = credit ? [world, payeeAccount] : [payeeAccount, world];
    const posted = await this.ledger.move(em, from, to, {
      idempotencyKey: `accrual:${accrual.payee.kind}:${payeeId(accrual.payee)}:${accrual.reference}`,
      amount: credit ? accrual.amount : -accrual.amount,
      kind: 'accrual',
      reference: accrual.reference,
    });
    if (posted.created) {
      await em.execute(
        `INSERT INTO accrual (payee_kind, payee_id, account_type, amount, currency, reference, reason, origin, actor,
                              occurred_at, transfer_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          accrual.payee.kind,
          payeeId(accrual.payee),
          accrual.account,
          accrual.amount.toString(),
          accrual.currency,
          accrual.reference,
          accrual.reason ?? null,
          origin,
          accrual.actor ?? null,
          accrual.occurredAt,
          posted.transferId,
        ],
        'run',
      );
    }
    return posted;
  }
}
