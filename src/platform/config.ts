import { z } from 'zod';

/** Durations in settings are written like `500ms`, `5s`, `2m`, `1h`, `7d` or as plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration (use e.g. 500ms, 5s, 2m, 1h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  return Number(match[1]) * unit;
}

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
const positiveInt = z.coerce.number().int().positive();
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const optionalText = z.string().trim().min(1).optional();

const settingsSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalText,
  // At least 2: the outbox publisher flushes the WAL on a second connection while its batch is held.
  DATABASE_POOL_MAX: z.coerce.number().int().min(2).default(10),
  PAYOUTS_DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  KAFKA_BROKERS: optionalText,
  KAFKA_CLIENT_ID: z.string().default('payouts'),
  KAFKA_GROUP_ID: z.string().default('payouts'),
  KAFKA_CREATE_TOPICS: flag.default(true),
  /** Partitions a consumer applies at once (each in order); they overlap parsing with the database. */
  KAFKA_CONSUMER_CONCURRENCY: positiveInt.default(4),
  /** Messages applied per database transaction. */
  KAFKA_CHUNK_SIZE: positiveInt.default(1000),
  TOPIC_PARTY_MANAGEMENT: z.string().default('party-management'),
  TOPIC_INVOICING: z.string().default('invoicing'),
  TOPIC_ACCRUALS: z.string().default('accruals'),
  TOPIC_ERP_PAYOUTS: z.string().default('erp.payouts'),
  TOPIC_ERP_STATUS_ARD: z.string().default('erp.payout-status.ard'),
  TOPIC_ERP_STATUS_OEBS: z.string().default('erp.payout-status.oebs'),
  TOPIC_PAYOUT_EVENTS: z.string().default('payouts.events'),
  JWT_SECRET: optionalText,
  WORKER_CONCURRENCY: positiveInt.default(4),
  /** Jobs a worker fetches (and locks) at once and hands out locally; 0 fetches one per free slot. */
  WORKER_LOCAL_QUEUE: z.coerce.number().int().min(0).default(16),
  OUTBOX_BATCH_SIZE: positiveInt.default(500),
  /** How often an idle worker looks for outbox messages to publish (most wait less). */
  OUTBOX_POLL_INTERVAL: duration.default(100),
  GRAPHQL_MAX_DEPTH: positiveInt.default(8),
  GRAPHQL_MAX_COST: positiveInt.default(5000),
  PAYOUT_REQ_GATE_INTERVAL: duration.default(5000),
  PAYOUT_REQUEST_LIMIT: positiveInt.default(100),
  PAYOUT_OEBS_GATE_INTERVAL: duration.default(5000),
  PAYOUT_SENDER_LIMIT: positiveInt.default(100),
  PAYOUT_SENDER_CONCURRENCY: positiveInt.default(2),
  PAYOUT_SEND_RATE: z.coerce.number().int().min(0).default(0),
  /** A shop run overdue this long, its job missing or held this long, is booked again. */
  SHOP_RUN_REBOOK_AFTER: duration.default(120_000),
});

export type Settings = Omit<z.infer<typeof settingsSchema>, 'JWT_SECRET'> & {
  JWT_SECRET: string;
  topics: Topics;
};

export interface Topics {
  partyManagement: string;
  invoicing: string;
  accruals: string;
  erpPayouts: string;
  erpStatusArd: string;
  erpStatusOebs: string;
  payoutEvents: string;
}

/** Only for development and tests: production refuses to start without JWT_SECRET. */
export const DEVELOPMENT_JWT_SECRET = 'payouts-development-secret-do-not-use-in-production';

export class ConfigError extends Error {}

/** Reads and validates every setting at once, naming each bad variable in the message. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  // An empty variable means "not set", as shells and compose files commonly write it.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = settingsSchema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  }
  const settings = parsed.data;
  if (!settings.JWT_SECRET && settings.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
  }
  if (settings.JWT_SECRET && settings.JWT_SECRET.length < 32) {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: must be at least 32 characters');
  }
  return {
    ...settings,
    JWT_SECRET: settings.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET,
    topics: {
      partyManagement: settings.TOPIC_PARTY_MANAGEMENT,
      invoicing: settings.TOPIC_INVOICING,
      accruals: settings.TOPIC_ACCRUALS,
      erpPayouts: settings.TOPIC_ERP_PAYOUTS,
      erpStatusArd: settings.TOPIC_ERP_STATUS_ARD,
      erpStatusOebs: settings.TOPIC_ERP_STATUS_OEBS,
      payoutEvents: settings.TOPIC_PAYOUT_EVENTS,
    },
  };
}
