import 'reflect-metadata';
import { MikroORM, PostgreSqlDriver, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { MigrationObject } from '@mikro-orm/core';
import { DeadLetter } from './kafka/dead-letter.entity';
import type { Logger } from './logger';

/**
 * The kernel's tables: the inbox and dead letters (inbound messages), and the outbox, which every
 * module writes in its own transactions (INSERT only; the publisher reads and deletes).
 */
export const KERNEL_TABLES = ['inbox_event', 'dead_letter', 'outbox_message'] as const;

/** The kernel's own entities; the modules bring theirs. */
export const kernelEntities = [DeadLetter];

export interface OrmOptions {
  databaseUrl: string;
  poolMax: number;
  /** The modules' entity classes (the kernel adds its own). */
  entities: readonly (new (...args: any[]) => object)[];
  /** Every migration, in order. */
  migrations: readonly MigrationObject[];
  logger?: Logger;
}

export function ormOptions(options: OrmOptions): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: options.databaseUrl,
    entities: [...kernelEntities, ...options.entities],
    extensions: [Migrator],
    pool: { min: 0, max: options.poolMax },
    forceUtcTimezone: true,
    allowGlobalContext: false,
    discovery: { warnWhenNoEntities: true },
    // graphile-worker owns its schema; the schema tools must never touch it.
    schemaGenerator: { skipTables: [], ignoreSchema: ['graphile_worker'] },
    migrations: { migrationsList: [...options.migrations], tableName: 'mikro_orm_migrations', transactional: true, allOrNothing: true },
    logger: (message) => options.logger?.debug({ component: 'orm' }, message),
    debug: false,
  };
}

export async function initORM(options: OrmOptions): Promise<MikroORM> {
  return MikroORM.init(ormOptions(options));
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}
