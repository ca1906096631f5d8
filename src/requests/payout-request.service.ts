import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { isTransient } from '../platform/database-errors';
import { ConflictError, DomainError, InvalidInputError, NotFoundError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { parsePayee, payeeId } from '../access/payee';
import type { AccountBalance, LedgerService } from '../ledger/ledger.service';
import { PayoutAccount } from '../payouts/lifecycle';
import type { CreatePayoutInput, PayoutLifecycle } from '../payouts/payout-lifecycle';

export type PayoutRequestStatus = 'NEW' | 'DONE' | 'ERROR';

export interface PayoutRequestRow {
  id: string;
  client_id: string;
  idempotency_key: string;
  status: PayoutRequestStatus;
  error: string | null;
  attempts: number;
  requested_by: string | null;
  created_at: Date;
  updated_at: Date;
  processed_at: Date | null;
}

interface PendingRequest {
  id: string;
  client_id: string;
}

/** A client's positive `payout` balance, locked for the batch; counted as zero once a request pays it. */
interface PayableAccount {
  clientId: string;
  currency: string;
  balance: bigint;
}

/**
 * Payout requests: `record` only stores a request (the API answers at once, whatever the burst);
 * `processBatch` (the req-gate) pays each client's positive `payout` balances in full.
 */
export class PayoutRequestService {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
    private readonly payouts: PayoutLifecycle,
    private readonly logger: Logger,
  ) {}

  /** Stores a NEW request; the same idempotency key for the same client returns the first one. */
  async record(
    em: EntityManager,
    input: { clientId: string; idempotencyKey: string; actor?: string | null },
  ): Promise<{ request: PayoutRequestRow; created: boolean }> {
    const client = parsePayee({ kind: 'CLIENT', id: input.clientId });
    const key = input.idempotencyKey;
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
      throw new InvalidInputError('idempotencyKey must be 1–200 characters', { field: 'idempotencyKey' });
    }
    const clientId = payeeId(client);
    // One statement on the common path: insert when the client is known to the ledger (its SQL
    // function, not its table) and the key is new. Prepared once per connection: a burst of
    // requests is this statement thousands of times a second.
    const [inserted] = await queryBound<PayoutRequestRow>(
      em,
      `INSERT INTO payout_request (id, client_id, idempotency_key, requested_by)
       SELECT ?::uuid, ?, ?, ? WHERE ledger_owner_known('CLIENT', ?)
       ON CONFLICT (client_id, idempotency_key) DO NOTHING
       RETURNING *`,
      [randomUUID(), clientId, key, input.actor ?? null, clientId],
      { name: 'payout_request_record' },
    );
    if (inserted) return { request: inserted, created: true };
    const [existing] = await em.execute<PayoutRequestRow[]>(
      'SELECT * FROM payout_request WHERE client_id = ? AND idempotency_key = ?',
      [clientId, key],
    );
    if (existing) return { request: existing, created: false };
    throw new NotFoundError(`Client ${clientId} has no accounts`, { clientId });
  }

  /**
   * Takes up to `limit` NEW requests that no other worker holds (SKIP LOCKED) and settles them in
   * one transaction. The fast path creates every payout of the batch in one call and takes no
   * savepoints; when that fails, the batch is redone with a savepoint around each request, so
   * only the failing one becomes ERROR.
   */
  async processBatch(limit: number): Promise<number> {
    try {
      return await this.orm.em.fork().transactional((em) => this.settle(em, limit, false));
    } catch (error) {
      if (!(error instanceof RequestFailed)) throw error;
      return this.orm.em.fork().transactional((em) => this.settle(em, limit, true));
    }
  }

  /** Puts an ERROR request back in the queue (an admin's retry after fixing the cause). */
  async retry(em: EntityManager, id: string): Promise<PayoutRequestRow> {
    const [row] = await em.execute<PayoutRequestRow[]>(
      `UPDATE payout_request SET status = 'NEW', error = NULL, updated_at = now()
        WHERE id = ? AND status = 'ERROR' RETURNING *`,
      [id],
    );
    if (row) return row;
    const [existing] = await em.execute<PayoutRequestRow[]>('SELECT status FROM payout_request WHERE id = ?', [id]);
    if (!existing) throw new NotFoundError(`Payout request ${id} not found`, { id });
    throw new ConflictError(`Only a request in ERROR can be retried; this one is ${existing.status}`, { id });
  }

  private async settle(em: EntityManager, limit: number, isolate: boolean): Promise<number> {
    const requests = await em.execute<{ id: string; client_id: string }[]>(
      `SELECT id, client_id FROM payout_request WHERE status = 'NEW'
        ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    if (requests.length === 0) return 0;
    const clients = [...new Set(requests.map((r) => r.client_id))];
    // Locked (in one order for every worker) until the batch commits: another worker settling
    // another request of the same client waits and then reads the balance this batch left.
    const locked = await this.ledger.lockPositiveBalances(em, 'CLIENT', clients, PayoutAccount.available);
    const accounts = locked.map(payable);
    const done = isolate ? await this.settleEach(em, requests, accounts) : await this.settleAll(em, requests, accounts);
    if (done.length > 0) {
      await em.execute(
        `UPDATE payout_request SET status = 'DONE', error = NULL, attempts = attempts + 1, processed_at = now(),
                updated_at = now() WHERE id IN (?)`,
        [done],
        'run',
      );
    }
    return requests.length;
  }

  /** Every request's payouts in one call; returns the requests settled (all of them). */
  private async settleAll(em: EntityManager, requests: readonly PendingRequest[], accounts: PayableAccount[]): Promise<string[]> {
    const payouts: CreatePayoutInput[] = [];
    for (const request of requests) {
      const owed = this.owedTo(request, accounts);
      payouts.push(...owed.payouts);
      // All or nothing: if the call fails, the batch is read and settled again request by request.
      markPaid(owed.accounts);
    }
    try {
      await this.payouts.createMany(em, payouts);
    } catch (error) {
      // A deadlock or a lost connection is not a request's fault: the whole batch runs again later.
      throw isTransient(error) ? error : new RequestFailed(error);
    }
    return requests.map((request) => request.id);
  }

  /** One request at a time, each behind a savepoint: a failing one becomes ERROR, the rest go on. */
  private async settleEach(em: EntityManager, requests: readonly PendingRequest[], accounts: PayableAccount[]): Promise<string[]> {
    const done: string[] = [];
    for (const request of requests) {
      await em.execute('SAVEPOINT payout_request', [], 'run');
      const owed = this.owedTo(request, accounts);
      try {
        await this.payouts.createMany(em, owed.payouts);
        await em.execute('RELEASE SAVEPOINT payout_request', [], 'run');
        // Only now, with the payouts kept: a later request of the client finds nothing left to pay.
        markPaid(owed.accounts);
        done.push(request.id);
      } catch (error) {
        if (isTransient(error)) throw error;
        await em.execute('ROLLBACK TO SAVEPOINT payout_request', [], 'run');
        const reason = error instanceof DomainError ? error.message : `internal error: ${(error as Error).message}`;
        this.logger.warn({ requestId: request.id, clientId: request.client_id, reason }, 'payout request failed');
        await em.execute(
          `UPDATE payout_request SET status = 'ERROR', error = ?, attempts = attempts + 1, processed_at = now(),
                  updated_at = now() WHERE id = ?`,
          [reason, request.id],
          'run',
        );
      }
    }
    return done;
  }

  /** One payout per positive `payout` balance of the request's client, for the whole balance, and the accounts it pays from. */
  private owedTo(request: PendingRequest, accounts: readonly PayableAccount[]): { payouts: CreatePayoutInput[]; accounts: PayableAccount[] } {
    const paying = accounts.filter((account) => account.clientId === request.client_id && account.balance > 0n);
    const payouts = paying.map((account): CreatePayoutInput => {
      const { currency } = account;
      return {
        payee: { kind: 'CLIENT', id: request.client_id },
        amount: account.balance,
        currency,
        source: 'REQUEST',
        sourceRef: request.id,
        idempotencyKey: `request:${request.id}:${currency}`,
        actor: 'req-gate',
      };
    });
    return { payouts, accounts: paying };
  }
}

/** Balances paid out in full count as zero for the rest of the batch. */
function markPaid(accounts: readonly PayableAccount[]): void {
  for (const account of accounts) account.balance = 0n;
}

function payable(account: AccountBalance): PayableAccount {
  return { clientId: account.key.owner.id, currency: account.key.currency, balance: account.balance };
}

class RequestFailed extends Error {
  constructor(cause: unknown) {
    super('a payout request failed', { cause });
  }
}
