import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth';
import type { RequestLoaders } from './loaders';

/** Where a request came from: its id (`x-request-id`, answered back) and the client's address and agent. */
export interface RequestInfo {
  requestId: string;
  clientAddress: string | null;
  userAgent: string | null;
}

/**
 * What a mutation's record is about, beyond what its arguments name: a resolver adds what it finds
 * (`cancelPayout` adds the payout's payee), as scope strings (`PARK:p1`). Outside a mutation it
 * keeps nothing.
 */
export interface MutationTargets {
  add(...targets: string[]): void;
}

/**
 * The record of a mutation that is one statement, for that statement to write (see
 * `recordedInStatement` in recorded-mutations.ts): the record and its effect are then one
 * transaction and one round trip, and a refusal the statement decides is recorded by it too.
 */
export interface StatementRecord {
  /** Tells the SQL it makes apart, for prepared statements' names ('' when nothing is recorded). */
  key: string;
  /**
   * The SQL expression writing the record, given the SQL expression of its outcome. Its values are
   * `?` placeholders taking `values`, in order, unless `columns` names the SQL expressions that hold
   * them (as text: a statement writing many records binds each value as an array of text).
   */
  sql(outcome: string, columns?: readonly string[]): string;
  values: readonly unknown[];
  /** Tells the wrapper that the statement ran and recorded `outcome` (OK or the refusal's code). */
  written(outcome: string): void;
}

/** What every resolver gets per request: a request-scoped EntityManager, the caller, the loaders. */
export interface GraphQLContext {
  em: EntityManager;
  principal: Principal;
  loaders: RequestLoaders;
  request: RequestInfo;
  /** The targets of the mutation being resolved. */
  targets: MutationTargets;
  /**
   * The record for a mutation that writes it in its own statement; outside one (a query, or a
   * mutation the wrapper records itself), a record that writes nothing.
   */
  statementRecord(): StatementRecord;
}

export const NO_TARGETS: MutationTargets = { add: () => {} };

/** Writes no record: the wrapper writes it, or there is none to write. */
export const NOT_RECORDED: StatementRecord = { key: '', sql: () => 'NULL', values: [], written: () => {} };
export const notRecorded = (): StatementRecord => NOT_RECORDED;
