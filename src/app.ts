// The composition root: storage, database (migrated), event bus and
// services; Yoga and the REST routes on one Fastify server; graphql-ws on
// the same port and path. Returns { start, stop } and starts nothing itself.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Config } from './config.ts'
import { DomainError, InvalidInputError, NotFoundError, PayloadTooLargeError } from './errors/index.ts'
import { failGraphql, registerGraphql } from './graphql/server.ts'
import { createDatabase } from './infra/db.ts'
import { createEventBus, type EventBus } from './infra/event-bus.ts'
import { createHistoryWriter } from './infra/history-writer.ts'
import { createLogger } from './infra/logger.ts'
import { migrateDatabase } from './infra/migrate.ts'
import { createStorage } from './infra/storage.ts'
import { loadInstanceTypes, machineResources } from './domain/instance-types.ts'
import { parseApiTokens } from './services/auth.ts'
import { createServices, type Services } from './services/index.ts'
import { errorBody, fail, internalErrorCode, ok } from './rest/envelope.ts'
import { clientErrorHandler, frameworkErrors } from './rest/framework-errors.ts'
import { registerRequestGuard } from './rest/rate-limits.ts'
import { registerRestRoutes } from './rest/routes.ts'
import { createTrainer, type Trainer } from '../trainer/index.ts'
import { createPredictor } from '../trainer/serving.ts'

export interface App {
  fastify: FastifyInstance
  services: Services
  /** The event bus (in-process or Redis); the services and the trainer publish on it. */
  bus: EventBus
  /** The embedded trainer (TRAINER=embedded), or null when training runs in `npm run worker`. */
  trainer: Trainer | null
  /** Listens on config.port (0: any free port); resolves to the base URL. */
  start(): Promise<string>
  /** Idempotent: closes sockets, the server, the bus and the database. */
  stop(): Promise<void>
}

const jsonBodyLimit = 1024 * 1024

/** Fastify's own request errors (bad JSON, content types, sizes) as contract errors. */
function requestError(error: FastifyError): DomainError | undefined {
  if (error instanceof DomainError) return error
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidInputError('Unsupported Content-Type; send application/json (or multipart/form-data for dataset uploads)')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(`Request body is larger than ${jsonBodyLimit} bytes`)
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new InvalidInputError(`Malformed request: ${error.message}`)
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidInputError(`Bad request: ${error.message}`)
  }
  return undefined
}

export async function buildApp(config: Config): Promise<App> {
  const logger = createLogger(config)
  const storage = createStorage(config.dataDir)
  await storage.init()
  const migration = await migrateDatabase(config.databaseUrl)
  if (migration.applied.length > 0) logger.info({ applied: migration.applied }, 'database migrated')
  const database = await createDatabase(config.databaseUrl)
  const bus = await createEventBus(config.redisUrl)
  const machine = machineResources()
  const instanceTypes = loadInstanceTypes(config.instanceTypesFile, machine)
  const services = createServices({
    db: database.db,
    reads: database.reads,
    bus,
    storage,
    instanceTypes,
    trainerConcurrency: config.trainerConcurrency,
    gpus: machine.gpus,
    maxUploadBytes: config.maxUploadBytes,
    uploadLimits: config.uploadLimits,
    trainerHeartbeatTimeoutSeconds: config.trainerHeartbeatTimeoutSeconds,
    predictor: createPredictor({
      dataDir: config.dataDir,
      maxBatch: config.predictMaxBatch,
      backend: config.trainerBackend ?? null,
      onModelLoaded: (load) => logger.info(load, 'model loaded for prediction'),
    }),
  })
  await services.auth.bootstrap(config.apiTokens ? parseApiTokens(config.apiTokens) : [])
  if (!config.apiTokens && (await services.auth.countUsers()) === 0) {
    // A fresh install with no configured tokens: make one admin token so the service works on the first try.
    const created = await services.auth.createToken('admin', ['read', 'write', 'admin'], 'first start')
    logger.warn({ user: created.user, token: created.token }, 'no users yet: created an admin token (shown once; `npm run token -- create <user>` makes more)')
  }

  const history = config.trainer === 'embedded' ? createHistoryWriter(database.target) : null
  const trainer = history
    ? createTrainer({
        db: database.db,
        history,
        bus,
        storage,
        logger,
        instanceTypes,
        concurrency: config.trainerConcurrency,
        backend: config.trainerBackend ?? null,
      })
    : null

  const fastify = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines go out at debug level (onResponse below), not at info for every request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: jsonBodyLimit,
    return503OnClosing: true,
    // stop() ends subscriptions first (SSE streams then finish); idle keep-alive sockets must not hold it.
    forceCloseConnections: 'idle',
    // Bad percent-encoding, over-long ids and what Node's HTTP parser refuses (431 headers) answer the envelope too.
    frameworkErrors,
    clientErrorHandler,
  })
  // Only when debug lines are wanted: a hook on every request costs the hot paths otherwise.
  if (logger.isLevelEnabled('debug')) {
    fastify.addHook('onResponse', async (request, reply) => {
      request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
    })
  }
  fastify.decorateRequest('principal', null)
  fastify.removeContentTypeParser(['application/json'])
  fastify.addContentTypeParser(/^application\/([\w.+-]+\+)?json/i, { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch (error) {
      done(new InvalidInputError(`Malformed JSON body: ${(error as Error).message}`), undefined)
    }
  })
  // Multipart bodies stream to their handlers (dataset uploads, GraphQL multipart requests).
  fastify.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null))
  // Before every route (REST, GraphQL, 404): reads the bearer token, then the rate and concurrency limits.
  const guard = await registerRequestGuard(fastify, services, { limits: config.rateLimit, redisUrl: config.redisUrl, databaseUrl: config.databaseUrl })

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const known = requestError(error)
    if (known && request.url.split('?')[0] === '/graphql') return failGraphql(reply, known)
    if (known) return fail(reply, known)
    request.log.error({ err: error, url: request.url, method: request.method }, 'unexpected error')
    return reply.code(500).send(errorBody(internalErrorCode, 'Internal error; the service log has the details'))
  })
  fastify.setNotFoundHandler((request, reply) =>
    fail(reply, new NotFoundError('route', `${request.method} ${request.url}`, `No endpoint ${request.method} ${request.url.split('?')[0]}`)),
  )

  fastify.get('/healthz', async (_request, reply) => ok(reply, 200, { status: 'ok' }))
  fastify.get('/readyz', async (_request, reply) => {
    const up = await database.ping()
    return ok(reply.code(up ? 200 : 503), up ? 200 : 503, {
      status: up ? 'ready' : 'unavailable',
      database: up ? 'ok' : 'unreachable',
      eventBus: config.redisUrl ? 'redis' : 'in-process',
      // A missing trainer does not make the API unready (it still answers): the body says so and the status stays 200.
      trainer: { mode: trainer ? 'embedded' : 'off', ...trainer?.status(), ...(up ? await services.resources.trainerLiveness() : { alive: false }) },
    })
  })

  const graphql = registerGraphql(fastify, services, logger, config.graphqlLimits)
  registerRestRoutes(fastify, services)

  let stopping: Promise<void> | undefined
  return {
    fastify,
    services,
    bus,
    trainer,
    async start() {
      const address = await fastify.listen({ port: config.port, host: config.host })
      await trainer?.start()
      const url = new URL(address)
      if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = '127.0.0.1'
      return url.origin
    },
    stop() {
      stopping ??= (async () => {
        // Running jobs checkpoint and go back to the queue first: they need the database and the bus.
        await trainer?.stop()
        await history?.close()
        // Closing the bus first ends every subscription, so SSE and graphql-ws clients get `complete`.
        await bus.close()
        await graphql.dispose()
        await fastify.close()
        await guard.close()
        await database.close()
        services.predictor.close()
      })()
      return stopping
    },
  }
}
