import { topicSettingDefaults } from '../../src/app/app';
import { BENCH_JWT_SECRET, BENCH_WALLET_KEYS } from './database';

/**
 * The settings of a service reading Kafka in a benchmark: production, the bench secrets, and every
 * topic of every module renamed `<prefix>-<default>`, so no consumer reads what tests or earlier
 * runs left on the broker. `topics` are those names, by setting.
 */
export function ingestEnv(databaseUrl: string, brokers: string, prefix: string): { env: Record<string, string>; topics: Record<string, string> } {
  const topics = Object.fromEntries(Object.entries(topicSettingDefaults()).map(([name, topic]) => [name, `${prefix}-${topic}`]));
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: BENCH_JWT_SECRET,
    WALLET_KEYS: BENCH_WALLET_KEYS,
    KAFKA_BROKERS: brokers,
    KAFKA_CLIENT_ID: prefix,
    KAFKA_GROUP_ID: `${prefix}-service`,
    ...topics,
  };
  // The consumer's tuning, when the run is to try other values than the service's defaults.
  for (const name of ['KAFKA_CHUNK_SIZE', 'KAFKA_CONSUMER_CONCURRENCY']) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return { env, topics };
}
