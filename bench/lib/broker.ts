import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const SCRIPT = path.join(ROOT, 'scripts/kafka.sh');

/**
 * The broker for the `shops` benchmark: KAFKA_BROKERS, else this checkout's broker from
 * scripts/kafka.sh (the one already running, or one started on a free port and stopped after).
 */
export function benchBroker(): { brokers: string; stop(): void } {
  if (process.env.KAFKA_BROKERS) return { brokers: process.env.KAFKA_BROKERS, stop: () => undefined };
  const dir = path.join(ROOT, '.kafka');
  const alreadyRunning = spawnSync('bash', [SCRIPT, 'status', '--dir', dir]).status === 0;
  const started = spawnSync('bash', [SCRIPT, 'start', '--dir', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(started.stdout ?? '')?.[1];
  if (started.status !== 0 || !brokers) {
    throw new Error(`no Kafka broker: set KAFKA_BROKERS, or install Java 17 and Maven for scripts/kafka.sh (exit ${started.status})`);
  }
  return {
    brokers,
    stop: () => {
      if (!alreadyRunning) spawnSync('bash', [SCRIPT, 'stop', '--dir', dir], { stdio: 'inherit' });
    },
  };
}
