import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The kernel's Prometheus metrics (inbound messages, the outbox, jobs, GraphQL), in one registry
 * per process; modules register theirs in the same registry (`ModuleDefinition.metrics`).
 */
export function createKernelMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'payouts_' });
  return {
    registry,
    inboundMessages: new Counter({
      name: 'payouts_inbound_messages_total',
      help: 'Inbound messages by topic and outcome (applied, duplicate, dead-lettered)',
      labelNames: ['topic', 'outcome'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'payouts_dead_letters_total',
      help: 'Inbound messages this process sent to the dead-letter table, by topic and error code',
      labelNames: ['topic', 'code'] as const,
      registers: [registry],
    }),
    deadLettersUnresolved: new Gauge({
      name: 'payouts_dead_letters_unresolved',
      help: 'Dead letters neither applied again nor discarded, by topic and error code, read from the database at scrape time (every process\'s, a CLI ingest\'s too)',
      labelNames: ['topic', 'code'] as const,
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'payouts_kafka_consumer_lag',
      help: 'Messages behind the high watermark after the last processed batch',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    outboxPublished: new Counter({
      name: 'payouts_outbox_published_total',
      help: 'Outbox messages published to Kafka, by topic',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'payouts_job_duration_seconds',
      help: 'graphile-worker job durations by task and result',
      labelNames: ['task', 'result'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    }),
    graphqlRequests: new Histogram({
      name: 'payouts_graphql_request_duration_seconds',
      help: 'GraphQL request durations by operation name',
      labelNames: ['operation'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}

export type KernelMetrics = ReturnType<typeof createKernelMetrics>;
