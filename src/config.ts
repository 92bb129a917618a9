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
  })
}
