import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth';
import type { RequestLoaders } from './loaders';

/** What every resolver gets per request: a request-scoped EntityManager, the caller, the loaders. */
export interface GraphQLContext {
  em: EntityManager;
  principal: Principal;
  loaders: RequestLoaders;
}
