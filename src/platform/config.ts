import { z } from 'zod';

/** Durations in settings are written like `500ms`, `5s`, `2m`, `1h`, `7d` or as plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration (use e.g. 500ms, 5s, 2m, 1h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  return Number(match[1]) * unit;
}

/** Building blocks for the modules' settings slices. */
export const setting = {
  duration: z.string().transform((text, ctx) => {
    try {
      return parseDuration(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  positiveInt: z.coerce.number().int().positive(),
  flag: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
  optionalText: z.string().trim().min(1).optional(),
  /** When a graphile-worker crontab line fires: five fields, as crontab(5) writes them. */
  crontab: z.string().trim().regex(/^\S+( \S+){4}$/, 'must be a 5-field cron expression (minute hour day-of-month month day-of-week)'),
};

/** The longest a token may live unless `JWT_MAX_TTL` says otherwise. */
export const DEFAULT_JWT_MAX_TTL = 7 * 86_400_000;

/**
 * What each process shows of itself: the port a process without the API serves its health and
 * metrics on, whether the API answers introspection and serves the GraphiQL explorer (unset: only
 * in development and test, see `surfaceDefaults`), how logs are written, and how often a scrape
 * may read the database.
 */
const processSurfaceSettings = {
  // 8082: the contract gives 8081 to the payment-system callbacks (`CALLBACK_PORT`).
  WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  GRAPHQL_INTROSPECTION: setting.flag.optional(),
  GRAPHQL_EXPLORER: setting.flag.optional(),
  /** `auto`: readable lines on a terminal, JSON lines otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** The least time between two refreshes of the gauges read from the database: `/metrics` is unauthenticated, on every port. */
  METRICS_REFRESH_MIN_INTERVAL: setting.duration.default(5000),
};

/** The kernel's own settings: the process, the database, Kafka, auth, the worker, the outbox, GraphQL limits. */
const kernelSettingsSchema = z.object({
  /** Unset is neither: the public development JWT secret is used only in development and test. */
  NODE_ENV: z.enum(['development', 'production', 'test']).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: setting.optionalText,
  // At least 2: the outbox publisher flushes the WAL on a second connection while its batch is held.
  DATABASE_POOL_MAX: z.coerce.number().int().min(2).default(10),
  PAYOUTS_DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  KAFKA_BROKERS: setting.optionalText,
  KAFKA_CLIENT_ID: z.string().default('payouts'),
  KAFKA_GROUP_ID: z.string().default('payouts'),
  KAFKA_CREATE_TOPICS: setting.flag.default(true),
  /** Partitions a consumer applies at once (each in order); they overlap parsing with the database. */
  KAFKA_CONSUMER_CONCURRENCY: setting.positiveInt.default(4),
  /** Messages applied per database transaction. */
  KAFKA_CHUNK_SIZE: setting.positiveInt.default(1000),
  JWT_SECRET: setting.optionalText,
  /** The longest lifetime a token may have: longer ones are neither signed nor accepted. */
  JWT_MAX_TTL: setting.duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(DEFAULT_JWT_MAX_TTL),
  WORKER_CONCURRENCY: setting.positiveInt.default(4),
  /** Jobs a worker fetches (and locks) at once and hands out locally; 0 fetches one per free slot. */
  WORKER_LOCAL_QUEUE: z.coerce.number().int().min(0).default(16),
  OUTBOX_BATCH_SIZE: setting.positiveInt.default(500),
  /** How often an idle worker looks for outbox messages to publish (most wait less). */
  OUTBOX_POLL_INTERVAL: setting.duration.default(100),
  GRAPHQL_MAX_DEPTH: setting.positiveInt.default(8),
  GRAPHQL_MAX_COST: setting.positiveInt.default(5000),
  /** Aliased fields per operation (fragments counted where spread). */
  GRAPHQL_MAX_ALIASES: setting.positiveInt.default(30),
  /** Fields per operation (fragments counted where spread). */
  GRAPHQL_MAX_FIELDS: setting.positiveInt.default(500),
  /** Lexical tokens per document, counted while parsing: the cap on what is parsed and validated at all. */
  GRAPHQL_MAX_TOKENS: setting.positiveInt.default(5000),
  ...processSurfaceSettings,
});

export type KernelSettings = Omit<z.infer<typeof kernelSettingsSchema>, 'JWT_SECRET' | 'GRAPHQL_INTROSPECTION' | 'GRAPHQL_EXPLORER'> & {
  /** Null when none is set and the process is not in development or test (see `jwtSecret`). */
  JWT_SECRET: string | null;
  GRAPHQL_INTROSPECTION: boolean;
  GRAPHQL_EXPLORER: boolean;
};

/** Public: only for development and tests. Anywhere else a real secret must be set. */
export const DEVELOPMENT_JWT_SECRET = 'payouts-development-secret-do-not-use-in-production';

export class ConfigError extends Error {}

/** A settings slice to validate: the kernel's or a module's, by name. */
export interface SettingsSlice {
  name: string;
  schema: z.ZodType<unknown>;
}

/**
 * Reads and validates the kernel's settings and every module's slice at once, naming each bad
 * variable in one message. Returns the kernel's settings and each slice's parsed value by name.
 */
export function loadSettings(
  env: NodeJS.ProcessEnv = process.env,
  slices: readonly SettingsSlice[] = [],
): { kernel: KernelSettings; slices: Map<string, unknown> } {
  // An empty variable means "not set", as shells and compose files commonly write it.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const problems: string[] = [];
  const parse = <T>(schema: z.ZodType<T>): T | undefined => {
    const parsed = schema.safeParse(given);
    if (parsed.success) return parsed.data;
    problems.push(...parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`));
    return undefined;
  };
  const kernel = parse(kernelSettingsSchema);
  const parsedSlices = new Map<string, unknown>();
  for (const slice of slices) parsedSlices.set(slice.name, parse(slice.schema));
  if (kernel) problems.push(...jwtProblems(kernel));
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  return {
    kernel: { ...kernel!, JWT_SECRET: kernel!.JWT_SECRET ?? developmentSecretFor(kernel!.NODE_ENV), ...surfaceDefaults(kernel!) },
    slices: parsedSlices,
  };
}

/** The kernel's settings alone (commands and tests that need no module's settings). */
export function loadKernelSettings(env: NodeJS.ProcessEnv = process.env): KernelSettings {
  return loadSettings(env).kernel;
}

function isDevelopment(nodeEnv: KernelSettings['NODE_ENV']): boolean {
  return nodeEnv === 'development' || nodeEnv === 'test';
}

/**
 * Introspection and the explorer show the whole API to anyone who can reach it: on for local work
 * and tests, off elsewhere (production, or NODE_ENV unset) unless turned on.
 */
function surfaceDefaults(settings: z.infer<typeof kernelSettingsSchema>): Pick<KernelSettings, 'GRAPHQL_INTROSPECTION' | 'GRAPHQL_EXPLORER'> {
  return {
    GRAPHQL_INTROSPECTION: settings.GRAPHQL_INTROSPECTION ?? isDevelopment(settings.NODE_ENV),
    GRAPHQL_EXPLORER: settings.GRAPHQL_EXPLORER ?? isDevelopment(settings.NODE_ENV),
  };
}

function developmentSecretFor(nodeEnv: KernelSettings['NODE_ENV']): string | null {
  return isDevelopment(nodeEnv) ? DEVELOPMENT_JWT_SECRET : null;
}

function jwtProblems(settings: z.infer<typeof kernelSettingsSchema>): string[] {
  const secret = settings.JWT_SECRET;
  if (!secret) {
    return settings.NODE_ENV === 'production' ? ['  JWT_SECRET: required when NODE_ENV=production'] : [];
  }
  if (secret === DEVELOPMENT_JWT_SECRET && !isDevelopment(settings.NODE_ENV)) {
    return ['  JWT_SECRET: the public development secret is refused unless NODE_ENV is development or test'];
  }
  if (secret.length < 32) return ['  JWT_SECRET: must be at least 32 characters'];
  return [];
}

/**
 * The secret tokens are signed and verified with. Only what handles tokens asks for it, so a
 * worker or a migration runs without one.
 */
export function jwtSecret(settings: Pick<KernelSettings, 'JWT_SECRET'>): string {
  if (settings.JWT_SECRET) return settings.JWT_SECRET;
  throw new ConfigError(
    'Invalid configuration:\n  JWT_SECRET: required to sign or verify tokens (for local work, NODE_ENV=development uses the public development secret)',
  );
}
