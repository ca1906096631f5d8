import 'reflect-metadata';
import { MikroORM, PostgreSqlDriver, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { migrationsList } from '../../migrations';
import { LedgerAccount, LedgerTransfer } from '../ledger/entities';
import { Payout, PayoutStatusChange } from '../payouts/entities';
import { DeadLetter } from './kafka/dead-letter.entity';
import type { Logger } from './logger';

export const entities = [LedgerAccount, LedgerTransfer, Payout, PayoutStatusChange, DeadLetter];

export function ormOptions(databaseUrl: string, poolMax: number, logger?: Logger): Options {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    pool: { min: 0, max: poolMax },
    forceUtcTimezone: true,
    allowGlobalContext: false,
    discovery: { warnWhenNoEntities: true },
    // graphile-worker owns its schema; the schema tools must never touch it.
    schemaGenerator: { skipTables: [], ignoreSchema: ['graphile_worker'] },
    migrations: { migrationsList, tableName: 'mikro_orm_migrations', transactional: true, allOrNothing: true },
    logger: (message) => logger?.debug({ component: 'orm' }, message),
    debug: false,
  };
}

export async function initORM(databaseUrl: string, poolMax: number, logger?: Logger): Promise<MikroORM> {
  return MikroORM.init(ormOptions(databaseUrl, poolMax, logger));
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}
