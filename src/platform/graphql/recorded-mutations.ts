import { EntityManager, TransactionPropagation } from '@mikro-orm/postgresql';
import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { Principal } from '../auth';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import { retryingVictims } from '../retry';
import { NO_TARGETS, type GraphQLContext, type RequestInfo } from './context';

/** One mutation as it is recorded: who, what, on what, with which outcome, from where. */
export interface MutationRecord {
  operation: string;
  arguments: Record<string, unknown>;
  /** What the resolver added through `ctx.targets` (the recorder derives more from the arguments). */
  targets: readonly string[];
  /** `OK`, or the refusal's error code. */
  outcome: string;
  principal: Principal;
  request: RequestInfo;
}

/** Keeps mutation records (the audit log): in the transaction it is handed. */
export interface MutationRecorder {
  /** Writes the record in `em`'s transaction: the mutation's own, or one of its own for a refusal. */
  record(em: EntityManager, record: MutationRecord): Promise<void>;
  /** Called once the record is committed. */
  committed?(record: MutationRecord): void;
}

/**
 * Runs every Mutation field of the schema in one transaction with its record, and records a
 * refused one too. The wrapper opens the transaction; the resolver's own `em.transactional` blocks
 * join it (see `joining`), and the record is written in it, so the effect and its record commit
 * together or not at all: a record says `OK` only if its transaction committed. A refusal (any
 * error) rolls the effect back and is recorded in a transaction of its own, with its error code.
 * A deadlock or serialization victim is run again whole, as `transactionalRetrying` did for one
 * resolver. Fields added later are wrapped as well: the wrapping is of the built schema, not of a
 * list.
 */
export function recordMutations(schema: GraphQLSchema, recorder: MutationRecorder, logger: Logger): GraphQLSchema {
  const mutation = schema.getMutationType();
  if (!mutation) return schema;
  for (const field of Object.values(mutation.getFields())) {
    field.resolve = recorded(field.resolve ?? defaultFieldResolver, recorder, logger);
  }
  return schema;
}

function recorded(
  resolve: GraphQLFieldResolver<unknown, GraphQLContext>,
  recorder: MutationRecorder,
  logger: Logger,
): GraphQLFieldResolver<unknown, GraphQLContext> {
  return async (source, args: Record<string, unknown>, ctx, info) => {
    const requestEm = ctx.em;
    let targets = new Set<string>();
    const recordOf = (outcome: string): MutationRecord => ({
      operation: info.fieldName,
      arguments: args,
      targets: [...targets],
      outcome,
      principal: ctx.principal,
      request: ctx.request,
    });
    try {
      const { value, record } = await retryingVictims(async () => {
        let written: MutationRecord | null = null;
        targets = new Set();
        ctx.targets = {
          add: (...more) => {
            if (written) throw new Error(`${info.fieldName} adds audit targets after its effect began: add them before`);
            more.forEach((target) => targets.add(target));
          },
        };
        // begin/commit on one fork rather than `transactional`, which forks twice and merges back:
        // for a one-statement mutation that machinery would cost more than the audit entry.
        const em = requestEm.fork();
        await em.begin();
        const write = async () => {
          if (written) return;
          written = recordOf('OK');
          await recorder.record(em, written);
        };
        // A first block that fails, and that the resolver gets past, leaves what it would have left
        // in a transaction of its own: nothing. The record goes with it and is written again later.
        const restart = async () => {
          await em.rollback();
          await em.begin();
          written = null;
        };
        try {
          ctx.em = joining(em, { beforeEffect: write, restart });
          const value: unknown = await resolve(source, args, ctx, info);
          await write();
          await em.commit();
          return { value, record: written! };
        } catch (error) {
          if (em.isInTransaction()) await em.rollback().catch(() => undefined);
          throw error;
        } finally {
          ctx.em = requestEm;
        }
      });
      recorder.committed?.(record);
      return value;
    } catch (error) {
      const record = recordOf(outcomeOf(error));
      try {
        await requestEm.fork().transactional((em) => recorder.record(em, record));
        recorder.committed?.(record);
      } catch (recordError) {
        logger.error({ err: recordError, operation: record.operation, outcome: record.outcome }, 'a refused mutation could not be recorded');
      }
      throw error;
    } finally {
      ctx.targets = NO_TARGETS;
    }
  };
}

/** A refusal's code as the client sees it (`extensions.code`); anything unexpected is an internal error. */
export function outcomeOf(error: unknown): string {
  if (error instanceof DomainError) return error.code;
  const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

/**
 * The mutation's transactional EntityManager, whose own `transactional` joins the transaction it
 * is in, keeping what a block of its own would mean:
 * - the first block runs in the mutation's transaction as it is (no savepoint: PostgreSQL
 *   savepoints cost round trips). If it fails, the whole transaction is rolled back and begun
 *   again before the error goes on, so a resolver that catches it and goes on (a refused instant
 *   payout looks its key up in a second block) finds nothing of the failed block, as before;
 * - a later block, after one that succeeded, gets a savepoint (NESTED): its failure must not undo
 *   the earlier one's effect. Few mutations have two blocks.
 * A block that names a propagation of its own keeps it. Each block flushes at its end.
 *
 * The record is written as the first block begins, before the effect takes its locks: written just
 * before COMMIT it would lengthen the time a hot row stays locked (every accrual locks the currency's
 * `world` account) by one round trip, and throughput on such a row is one over that time. A
 * mutation with no block of its own gets its record just before COMMIT.
 */
function joining(em: EntityManager, hooks: { beforeEffect: () => Promise<void>; restart: () => Promise<void> }): EntityManager {
  const transactional = EntityManager.prototype.transactional;
  let blocksDone = 0;
  const flushed = <T>(work: (em: EntityManager) => T | Promise<T>) => async (inner: EntityManager) => {
    const result = await work(inner);
    await inner.flush();
    return result;
  };
  em.transactional = async (work, options = {}) => {
    if (options.propagation || blocksDone > 0) {
      return transactional.call(em, flushed(work), { propagation: TransactionPropagation.NESTED, ...options }) as never;
    }
    await hooks.beforeEffect();
    try {
      const result = await flushed(work)(em);
      blocksDone += 1;
      return result as never;
    } catch (error) {
      await hooks.restart().catch(() => undefined); // the commit then fails, if the connection is gone
      throw error;
    }
  };
  return em;
}
