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

/** What every resolver gets per request: a request-scoped EntityManager, the caller, the loaders. */
export interface GraphQLContext {
  em: EntityManager;
  principal: Principal;
  loaders: RequestLoaders;
  request: RequestInfo;
  /** The targets of the mutation being resolved. */
  targets: MutationTargets;
}

export const NO_TARGETS: MutationTargets = { add: () => {} };
