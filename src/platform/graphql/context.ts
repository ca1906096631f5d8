import type { EntityManager } from '@mikro-orm/postgresql';
import type { App } from '../../app';
import type { Principal } from '../auth';
import { createLoaders, type Loaders } from './loaders';

/** What every resolver gets: the app's services, a request-scoped EntityManager, the caller. */
export interface GraphQLContext {
  app: App;
  em: EntityManager;
  principal: Principal;
  loaders: Loaders;
}

export function createContext(app: App, principal: Principal): GraphQLContext {
  const em = app.orm.em.fork();
  return { app, em, principal, loaders: createLoaders(em, app.cashPaymentFacts, app.schedules) };
}
