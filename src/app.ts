import type { MikroORM } from '@mikro-orm/postgresql';
import { Pool } from 'pg';
import { AccrualService } from './accruals/accrual.service';
import { accrualsHandler } from './accruals/accruals.inbound';
import { CashPaymentFacts } from './erp/cash-payment-facts';
import { ErpGateway } from './erp/erp-gateway';
import { LedgerService, defaultNegativePolicy } from './ledger/ledger.service';
import { invoicingHandler } from './operations/invoicing.inbound';
import { OperationService } from './operations/operation.service';
import { ScheduleService } from './schedules/schedule.service';
import { partyManagementHandler } from './shops/party-management.inbound';
import { shopBalanceMayGoNegative } from './shops/shop';
import { ShopPayoutRunner } from './shops/shop-payout-run';
import { ShopScheduler } from './shops/shop-scheduler';
import { ShopService } from './shops/shop.service';
import { PayoutRequestService } from './requests/payout-request.service';
import { ARD_STATUSES, OEBS_STATUSES, erpStatusHandler } from './payouts/erp-status.inbound';
import { PayoutService } from './payouts/payout.service';
import type { Settings } from './platform/config';
import { DeadLetterService } from './platform/kafka/dead-letters';
import { InboundProcessor } from './platform/kafka/inbound-processor';
import { createKafka, createProducer, ensureTopics, parseBrokers, type Kafka, type Producer } from './platform/kafka/kafka-client';
import type { Logger } from './platform/logger';
import { createMetrics, type Metrics } from './platform/metrics';
import { initORM } from './platform/orm';
import { OutboxPublisher } from './platform/outbox/publisher';

/** Everything a process needs, built once: the composition root of the service. */
export interface App {
  settings: Settings;
  logger: Logger;
  metrics: Metrics;
  orm: MikroORM;
  /** A plain pg pool for graphile-worker, which brings its own queries. */
  pgPool: Pool;
  databaseUrl: string;
  ledger: LedgerService;
  payouts: PayoutService;
  accruals: AccrualService;
  schedules: ScheduleService;
  shops: ShopService;
  shopScheduler: ShopScheduler;
  shopPayoutRunner: ShopPayoutRunner;
  operations: OperationService;
  payoutRequests: PayoutRequestService;
  erpGateway: ErpGateway;
  cashPaymentFacts: CashPaymentFacts;
  inbound: InboundProcessor;
  deadLetters: DeadLetterService;
  outbox: OutboxPublisher;
  kafka: Kafka | null;
  producer: Producer | null;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  settings: Settings;
  logger: Logger;
  databaseUrl: string;
  /** Connect a Kafka producer for the outbox (processes that publish). */
  connectProducer?: boolean;
}

export async function createApp({ settings, logger, databaseUrl, connectProducer = false }: CreateAppOptions): Promise<App> {
  const metrics = createMetrics();
  const orm = await initORM(databaseUrl, settings.DATABASE_POOL_MAX, logger);
  const pgPool = new Pool({ connectionString: databaseUrl, max: Math.max(4, settings.WORKER_CONCURRENCY + 2) });
  pgPool.on('error', (err) => logger.warn({ err }, 'idle pg connection error'));
  pgPool.on('connect', (client) => client.on('error', (err) => logger.warn({ err }, 'pg connection error')));

  const ledger = new LedgerService((key) => defaultNegativePolicy(key) || shopBalanceMayGoNegative(key));
  const cashPaymentFacts = new CashPaymentFacts(settings.topics);
  const payouts = new PayoutService(ledger, settings.topics, cashPaymentFacts);
  const payoutRequests = new PayoutRequestService(orm, payouts, logger.child({ component: 'req-gate' }));
  const erpGateway = new ErpGateway(orm, pgPool, payouts, logger.child({ component: 'oebs-gate' }), {
    concurrency: settings.PAYOUT_SENDER_CONCURRENCY,
    ratePerSecond: settings.PAYOUT_SEND_RATE,
  });
  const accruals = new AccrualService(ledger);
  const schedules = new ScheduleService();
  const shopScheduler = new ShopScheduler(schedules);
  schedules.onRulesChanged((em, scheduleIds) => shopScheduler.rebookSchedules(em, scheduleIds));
  const shops = new ShopService(ledger, shopScheduler);
  const operations = new OperationService(ledger, shops);
  // Money back from a scheduled payout makes its operations unpaid again, in the same transaction.
  payouts.onMoneyBack((em, payout) => operations.releaseOperations(em, payout));
  const shopPayoutRunner = new ShopPayoutRunner(orm, shops, schedules, shopScheduler, operations, payouts, metrics, logger.child({ component: 'shop-runs' }));
  const inbound = new InboundProcessor(orm, metrics, logger.child({ component: 'inbound' }))
    .register(accrualsHandler(settings.topics.accruals, accruals))
    .register(partyManagementHandler(settings.topics.partyManagement, shops))
    .register(invoicingHandler(settings.topics.invoicing, operations))
    .register(erpStatusHandler(settings.topics.erpStatusArd, ARD_STATUSES, payouts))
    .register(erpStatusHandler(settings.topics.erpStatusOebs, OEBS_STATUSES, payouts));

  let kafka: Kafka | null = null;
  let producer: Producer | null = null;
  if (settings.KAFKA_BROKERS) {
    kafka = createKafka(parseBrokers(settings.KAFKA_BROKERS), settings.KAFKA_CLIENT_ID, logger);
    if (settings.KAFKA_CREATE_TOPICS) await ensureTopics(kafka, Object.values(settings.topics));
    if (connectProducer) producer = await createProducer(kafka);
  }
  const outbox = new OutboxPublisher(orm, producer, metrics, logger.child({ component: 'outbox' }), settings.OUTBOX_BATCH_SIZE);

  return {
    settings,
    logger,
    metrics,
    orm,
    pgPool,
    databaseUrl,
    ledger,
    payouts,
    accruals,
    schedules,
    shops,
    shopScheduler,
    shopPayoutRunner,
    operations,
    payoutRequests,
    erpGateway,
    cashPaymentFacts,
    inbound,
    deadLetters: new DeadLetterService(orm, inbound),
    outbox,
    kafka,
    producer,
    async close() {
      await producer?.disconnect();
      await pgPool.end();
      await orm.close();
    },
  };
}
