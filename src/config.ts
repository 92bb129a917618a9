// The environment, parsed once into a typed, frozen object. Every variable
// read anywhere in the service is read here (and documented in README.md).
import os from 'node:os'
import path from 'node:path'
import { resolveDatabaseUrl } from './infra/database-url.ts'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

export interface Config {
  port: number
  host: string
  /** Absolute path: database file (SQLite), dataset files, checkpoints, exports. */
  dataDir: string
  databaseUrl: string
  redisUrl: string | undefined
  /** `user:token[:scope+scope]`, comma-separated; created idempotently at start. */
  apiTokens: string | undefined
  trainerConcurrency: number
  /** TRAINER: `embedded` runs the trainer inside the API process; `off` leaves training to `npm run worker`. */
  trainer: 'embedded' | 'off'
  /** TRAINER_BACKEND: force a TensorFlow.js backend (`wasm`, `cpu`, `tensorflow`); unset picks the fastest present. */
  trainerBackend: string | undefined
  logLevel: LogLevel
  maxUploadBytes: number
  /** Optional JSON file that replaces the built-in instance-type catalog. */
  instanceTypesFile: string | undefined
  /** PREDICT_MAX_BATCH: inputs one prediction request may carry. */
  predictMaxBatch: number
  /** UPLOAD_MAX_*: what one dataset file may hold, checked while it is read (src/ingest/limits.ts). */
  uploadLimits: UploadLimits
  /** GRAPHQL_MAX_*: what one GraphQL operation may ask for, and how many subscriptions a socket or a user may hold. */
  graphqlLimits: GraphqlLimits
  /** TRAINER_HEARTBEAT_TIMEOUT_SECONDS: a trainer silent this long counts as gone (readyz, job creates, start estimates). */
  trainerHeartbeatTimeoutSeconds: number
  /** RATE_LIMIT and RATE_LIMIT_*: request rates per user or client address, failed logins, expensive endpoints, uploads at once. */
  rateLimit: RateLimitConfig
}

/** The limits of src/rest/rate-limits.ts; counts are per window (RATE_LIMIT_WINDOW_S). */
export interface RateLimitConfig {
  /** RATE_LIMIT=off turns every rate and concurrency limit off (benchmarks). */
  enabled: boolean
  windowMs: number
  /** Requests per window per user (valid token) or per client address (none). */
  requests: number
  /** Requests per window per user to each expensive endpoint (uploads, job/tuning/export creates, predict). */
  expensive: number
  /** Rejected Authorization headers per window per client address before it gets 429. */
  authFailures: number
  /** Dataset uploads one user may have in flight at once. */
  concurrentUploads: number
}

function rateLimitConfig(env: NodeJS.ProcessEnv): RateLimitConfig {
  const mode = optional(env, 'RATE_LIMIT') ?? 'on'
  if (mode !== 'on' && mode !== 'off') throw new Error(`RATE_LIMIT must be on or off (got ${JSON.stringify(env.RATE_LIMIT)})`)
  return {
    enabled: mode === 'on',
    windowMs: positiveInt(env, 'RATE_LIMIT_WINDOW_S', 60) * 1000,
    requests: positiveInt(env, 'RATE_LIMIT_REQUESTS', 1200),
    expensive: positiveInt(env, 'RATE_LIMIT_EXPENSIVE', 120),
    authFailures: positiveInt(env, 'RATE_LIMIT_AUTH_FAILURES', 100),
    concurrentUploads: positiveInt(env, 'RATE_LIMIT_CONCURRENT_UPLOADS', 4),
  }
}

/** The limits of src/graphql/limits.ts (one operation) and src/graphql/subscription-limits.ts (open subscriptions). */
export interface GraphqlLimits {
  /** GRAPHQL_MAX_DEPTH: nesting of selections (and of input values and list types while parsing). */
  maxDepth: number
  /** GRAPHQL_MAX_ALIASES: aliased fields in one operation. */
  maxAliases: number
  /** GRAPHQL_MAX_TOKENS: lexical tokens in one document. */
  maxTokens: number
  /** GRAPHQL_MAX_DIRECTIVES: directives in one operation. */
  maxDirectives: number
  /** GRAPHQL_MAX_COST: the size-weighted cost budget of one operation (src/graphql/cost.ts). */
  maxCost: number
  /** GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION: subscriptions one graphql-ws socket may hold at once. */
  maxSubscriptionsPerConnection: number
  /** GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER: subscriptions one user may hold at once, over every socket and SSE stream of this process. */
  maxSubscriptionsPerUser: number
}

function graphqlLimits(env: NodeJS.ProcessEnv): GraphqlLimits {
  return {
    maxDepth: positiveInt(env, 'GRAPHQL_MAX_DEPTH', 15),
    maxAliases: positiveInt(env, 'GRAPHQL_MAX_ALIASES', 30),
    maxTokens: positiveInt(env, 'GRAPHQL_MAX_TOKENS', 10_000),
    maxDirectives: positiveInt(env, 'GRAPHQL_MAX_DIRECTIVES', 50),
    maxCost: positiveInt(env, 'GRAPHQL_MAX_COST', 50_000),
    maxSubscriptionsPerConnection: positiveInt(env, 'GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION', 100),
    maxSubscriptionsPerUser: positiveInt(env, 'GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER', 200),
  }
}

/** The bounds of one dataset file (upload analysis and the trainer's reading); each is named in the error that it causes. */
export interface UploadLimits {
  /** CSV header fields; distinct top-level keys of a JSON file; Parquet top-level columns. */
  maxColumns: number
  /** Fields of one CSV record; values (keys and array items, nested ones included) of one JSON row. */
  maxRowWidth: number
  /** Bytes of one CSV record, JSON Lines line or JSON array element. */
  maxLineBytes: number
  /** Bytes of one CSV field or JSON string (as written in the file). */
  maxCellBytes: number
  /** Nesting of objects and arrays in one JSON row (the row itself is 1). */
  maxDepth: number
}

/** The variable that sets each upload limit, for parsing and for the errors that name it. */
export const uploadLimitVariables = {
  maxColumns: 'UPLOAD_MAX_COLUMNS',
  maxRowWidth: 'UPLOAD_MAX_ROW_WIDTH',
  maxLineBytes: 'UPLOAD_MAX_LINE_BYTES',
  maxCellBytes: 'UPLOAD_MAX_CELL_BYTES',
  maxDepth: 'UPLOAD_MAX_DEPTH',
} as const satisfies Record<keyof UploadLimits, string>

/** UPLOAD_MAX_*, with their defaults where unset; the trainer reads datasets with the same ones. */
export function uploadLimits(env: NodeJS.ProcessEnv): UploadLimits {
  const v = uploadLimitVariables
  return Object.freeze({
    maxColumns: positiveInt(env, v.maxColumns, 10_000),
    maxRowWidth: positiveInt(env, v.maxRowWidth, 100_000),
    maxLineBytes: positiveInt(env, v.maxLineBytes, 16 * 1024 * 1024),
    maxCellBytes: positiveInt(env, v.maxCellBytes, 4 * 1024 * 1024),
    maxDepth: positiveInt(env, v.maxDepth, 64),
  })
}

const logLevels: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`)
  }
  return value
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim()
}

function trainerMode(env: NodeJS.ProcessEnv): Config['trainer'] {
  const raw = optional(env, 'TRAINER') ?? 'embedded'
  if (raw !== 'embedded' && raw !== 'off') throw new Error(`TRAINER must be embedded or off (got ${JSON.stringify(env.TRAINER)})`)
  return raw
}

const backends = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']

function trainerBackend(env: NodeJS.ProcessEnv): string | undefined {
  const raw = optional(env, 'TRAINER_BACKEND')
  if (raw !== undefined && !backends.includes(raw)) {
    throw new Error(`TRAINER_BACKEND must be one of ${backends.join(', ')} (got ${JSON.stringify(env.TRAINER_BACKEND)})`)
  }
  return raw
}

/** Parses the environment; throws an Error naming the variable when a value is unusable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const dataDir = path.resolve(optional(env, 'DATA_DIR') ?? './data')
  const logLevel = (optional(env, 'LOG_LEVEL') ?? 'info') as LogLevel
  if (!logLevels.includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of ${logLevels.join(', ')} (got ${JSON.stringify(env.LOG_LEVEL)})`)
  }
  const port = Number(optional(env, 'PORT') ?? '4000')
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer between 0 and 65535 (got ${JSON.stringify(env.PORT)})`)
  }
  return Object.freeze({
    port,
    host: optional(env, 'HOST') ?? '0.0.0.0',
    dataDir,
    databaseUrl: resolveDatabaseUrl({ ...env, DATA_DIR: dataDir }),
    redisUrl: optional(env, 'REDIS_URL'),
    apiTokens: optional(env, 'API_TOKENS'),
    trainerConcurrency: positiveInt(env, 'TRAINER_CONCURRENCY', os.availableParallelism()),
    trainer: trainerMode(env),
    trainerBackend: trainerBackend(env),
    logLevel,
    maxUploadBytes: positiveInt(env, 'MAX_UPLOAD_BYTES', 1024 * 1024 * 1024),
    instanceTypesFile: optional(env, 'INSTANCE_TYPES_FILE'),
    predictMaxBatch: positiveInt(env, 'PREDICT_MAX_BATCH', 256),
    uploadLimits: uploadLimits(env),
    graphqlLimits: graphqlLimits(env),
    trainerHeartbeatTimeoutSeconds: positiveInt(env, 'TRAINER_HEARTBEAT_TIMEOUT_SECONDS', 30),
    rateLimit: rateLimitConfig(env),
  })
}
