import { EntityManager, TransactionPropagation } from '@mikro-orm/postgresql';
import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { Principal } from '../auth';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import { retryingVictims } from '../retry';
import { NO_TARGETS, notRecorded, type GraphQLContext, type RequestInfo, type StatementRecord } from './context';

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
  /**
   * The record as an SQL expression, for a mutation that writes it in its own one statement
   * (`RECORDED_IN_STATEMENT`): given the SQL expression of the outcome, the call that writes it.
   */
  inStatement?(record: Omit<MutationRecord, 'outcome'>): Pick<StatementRecord, 'sql' | 'values'>;
}

/**
 * Marks a mutation that is one statement and writes its own record in it (type-graphql
 * `@Extensions(RECORDED_IN_STATEMENT)`): the wrapper opens no transaction for it, and the resolver
 * puts `ctx.statementRecord()` in its statement. One round trip instead of BEGIN, the record's
 * INSERT, the effect and COMMIT; for the hottest mutations, where those round trips are most of
 * the time a request holds its connection.
 */
export const RECORDED_IN_STATEMENT = { recordedInStatement: true } as const;

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
    const resolve = field.resolve ?? defaultFieldResolver;
    const inStatement = field.extensions?.recordedInStatement === true && recorder.inStatement;
    field.resolve = inStatement ? recordedInStatement(resolve, recorder, logger) : recorded(resolve, recorder, logger);
  }
  return schema;
}

/** The record of a mutation being resolved, as far as it is known: its targets grow until its effect begins. */
function recordBuilder(ctx: GraphQLContext, args: Record<string, unknown>, operation: string) {
  let targets = new Set<string>();
  return {
    reset(): void {
      targets = new Set();
    },
    add(more: string[]): void {
      more.forEach((target) => targets.add(target));
    },
    known(): Omit<MutationRecord, 'outcome'> {
      return { operation, arguments: args, targets: [...targets], principal: ctx.principal, request: ctx.request };
    },
    of(outcome: string): MutationRecord {
      return { ...this.known(), outcome };
    },
  };
}

/** A refused mutation whose refusal no statement of its own recorded: recorded in a transaction of its own. */
async function recordRefusal(ctx: GraphQLContext, recorder: MutationRecorder, logger: Logger, record: MutationRecord): Promise<void> {
  try {
    await ctx.em.fork().transactional((em) => recorder.record(em, record));
    recorder.committed?.(record);
  } catch (recordError) {
    logger.error({ err: recordError, operation: record.operation, outcome: record.outcome }, 'a refused mutation could not be recorded');
  }
}

/**
 * A mutation marked `RECORDED_IN_STATEMENT`: its resolver's one statement writes the record,
 * refused or done, with the outcome that statement decided (`written`). A refusal decided before
 * that statement ran (bad input), or that undid it (the statement failed), is recorded in a
 * transaction of its own, as any mutation's. A deadlock or serialization victim is run again whole.
 */
function recordedInStatement(
  resolve: GraphQLFieldResolver<unknown, GraphQLContext>,
  recorder: MutationRecorder,
  logger: Logger,
): GraphQLFieldResolver<unknown, GraphQLContext> {
  return async (source, args: Record<string, unknown>, ctx, info) => {
    const record = recordBuilder(ctx, args, info.fieldName);
    const written: { outcome: string | null } = { outcome: null };
    try {
      const value = await retryingVictims(async () => {
        record.reset();
        written.outcome = null;
        let taken = false;
        ctx.targets = {
          add: (...more) => {
            if (taken) throw new Error(`${info.fieldName} adds audit targets after its statement was built: add them before`);
            record.add(more);
          },
        };
        ctx.statementRecord = () => {
          taken = true;
          const { sql, values } = recorder.inStatement!(record.known());
          return { key: '_recorded', sql, values, written: (outcome) => (written.outcome = outcome) };
        };
        return resolve(source, args, ctx, info);
      });
      if (written.outcome === null) throw new Error(`${info.fieldName} is recorded in its statement but wrote no record`);
      recorder.committed?.(record.of(written.outcome));
      return value;
    } catch (error) {
      if (written.outcome !== null) recorder.committed?.(record.of(written.outcome));
      else await recordRefusal(ctx, recorder, logger, record.of(outcomeOf(error)));
      throw error;
    } finally {
      ctx.targets = NO_TARGETS;
      ctx.statementRecord = notRecorded;
    }
  };
}

function recorded(
  resolve: GraphQLFieldResolver<unknown, GraphQLContext>,
  recorder: MutationRecorder,
  logger: Logger,
): GraphQLFieldResolver<unknown, GraphQLContext> {
  return async (source, args: Record<string, unknown>, ctx, info) => {
    const requestEm = ctx.em;
    const builder = recordBuilder(ctx, args, info.fieldName);
    try {
      const { value, record } = await retryingVictims(async () => {
        let written: MutationRecord | null = null;
        builder.reset();
        ctx.targets = {
          add: (...more) => {
            if (written) throw new Error(`${info.fieldName} adds audit targets after its effect began: add them before`);
            builder.add(more);
          },
        };
        // begin/commit on one fork rather than `transactional`, which forks twice and merges back:
        // for a one-statement mutation that machinery would cost more than the audit entry.
        const em = requestEm.fork();
        await em.begin();
        const write = async () => {
          if (written) return;
          written = builder.of('OK');
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
      await recordRefusal(ctx, recorder, logger, builder.of(outcomeOf(error)));
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
