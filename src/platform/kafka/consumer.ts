import type { Kafka, Consumer, KafkaMessage } from 'kafkajs';
import type { KernelSettings } from '../config';
import type { Logger } from '../logger';
import type { KernelMetrics } from '../metrics';
import type { InboundMessage } from './inbound';
import type { InboundProcessor } from './inbound-processor';

export interface ConsumerOptions {
  groupId: string;
  /** Messages applied per database transaction. */
  chunkSize?: number;
  /** Partitions applied at once; each partition stays in order. */
  partitionsConsumedConcurrently?: number;
  fromBeginning?: boolean;
}

/** The consumer options the settings call for. */
export function consumerOptions(settings: Pick<KernelSettings, 'KAFKA_GROUP_ID' | 'KAFKA_CHUNK_SIZE' | 'KAFKA_CONSUMER_CONCURRENCY'>): ConsumerOptions {
  return {
    groupId: settings.KAFKA_GROUP_ID,
    chunkSize: settings.KAFKA_CHUNK_SIZE,
    partitionsConsumedConcurrently: settings.KAFKA_CONSUMER_CONCURRENCY,
  };
}

export function toInbound(topic: string, partition: number, message: KafkaMessage): InboundMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value ? message.value.toString('utf8') : '',
  };
}

/**
 * Runs the inbound topics through the processor. Offsets are committed explicitly, only after the
 * transaction that applied the messages has committed: a crash in between redelivers them, and
 * the inbox makes the redelivery harmless.
 */
export class InboundConsumer {
  private consumer: Consumer | null = null;
  private joined = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly processor: InboundProcessor,
    private readonly metrics: KernelMetrics,
    private readonly logger: Logger,
    private readonly options: ConsumerOptions,
  ) {}

  isJoined(): boolean {
    return this.joined;
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: this.options.groupId, allowAutoTopicCreation: false });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.joined = false;
      this.logger.error({ err: event.payload.error }, 'kafka consumer crashed');
    });
    consumer.on(consumer.events.STOP, () => {
      this.joined = false;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.processor.topics(), fromBeginning: this.options.fromBeginning ?? true });
    const chunkSize = this.options.chunkSize ?? 500;
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        let applied: string | null = null;
        try {
          for (let start = 0; start < batch.messages.length; start += chunkSize) {
            // On a rebalance or shutdown stop between chunks; the rest is redelivered to whoever owns it.
            if (!isRunning() || isStale()) return;
            const chunk = batch.messages.slice(start, start + chunkSize);
            await this.processor.processBatch(
              chunk.map((m) => toInbound(batch.topic, batch.partition, m)),
              'KAFKA',
            );
            applied = chunk[chunk.length - 1]!.offset;
            resolveOffset(applied);
            await heartbeat();
          }
        } finally {
          // Once per fetched batch (thousands of messages), not per chunk: a chunk's commit was a
          // round trip to the broker that held the partition's next chunk back. A crash before it
          // redelivers the batch's applied chunks, which their eventIds make harmless.
          if (applied !== null && !isStale()) await this.commit(batch.topic, batch.partition, applied, batch.highWatermark);
        }
      },
    });
  }

  /** Commits the partition's offset past `applied` and records the lag left behind it. */
  private async commit(topic: string, partition: number, applied: string, highWatermark: string): Promise<void> {
    await this.consumer!.commitOffsets([{ topic, partition, offset: (BigInt(applied) + 1n).toString() }]);
    const lag = BigInt(highWatermark) - BigInt(applied) - 1n;
    this.metrics.consumerLag.set({ topic, partition: String(partition) }, Number(lag));
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
    this.joined = false;
  }
}
