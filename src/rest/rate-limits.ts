// Who is asking, and whether they may ask now: one onRequest hook for every
// HTTP route except /healthz and /readyz (REST, GraphQL over HTTP, unknown
// routes). It reads the bearer token once (the /v1 routes answer its
// failure), then applies @fastify/rate-limit's counters, in this process or
// in Redis when REDIS_URL is set (every process of a deployment shares them):
//   1. failed-auth lockout per client address: after RATE_LIMIT_AUTH_FAILURES
//      rejected Authorization headers in a window, every token the address
//      has not already used successfully gets 429 without being looked up,
//      the right one included, so a guess cannot be told apart from a miss;
//   2. a request budget per user (valid token) or per client address (none);
//   3. a lower budget per user for each expensive endpoint;
//   4. the dataset uploads a user has in flight (counted in this process).
// Every refusal is 429 E1111 with Retry-After. RATE_LIMIT=off keeps only
// the authentication.
import { createHash } from 'node:crypto'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import type { RateLimitConfig } from '../config.ts'
import { RateLimitedError, UnauthenticatedError } from '../errors/index.ts'
import { hashToken } from '../services/auth.ts'
import type { Services } from '../services/index.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `expensive`: the route has its own lower budget (RATE_LIMIT_EXPENSIVE); `upload`: that, and uploads in flight per user. */
    cost?: 'expensive' | 'upload'
  }
}

/** Never limited and never authenticated: a probe must always get through. */
const openRoutes = new Set(['/healthz', '/readyz'])

type Limiter = ReturnType<FastifyInstance['createRateLimit']>
type LimitState = Extract<Awaited<ReturnType<Limiter>>, { isAllowed: false }>

export interface RequestGuardOptions {
  limits: RateLimitConfig
  redisUrl: string | undefined
  /** Processes on the same database (and REDIS_URL) share counters; test servers with their own database do not. */
  databaseUrl: string
}

const addressOf = (request: FastifyRequest) => normalizeIP(request.ip)

/** Tokens that authenticated from an address lately: they keep working while the address is locked out. */
function createKnownTokens(windowMs: number) {
  const byAddress = new Map<string, Map<string, number>>()
  const maxAddresses = 10_000
  const maxPerAddress = 64
  const evictOldest = <K, V>(map: Map<K, V>) => {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  return {
    remember(address: string, hash: string) {
      let tokens = byAddress.get(address)
      if (!tokens) {
        if (byAddress.size >= maxAddresses) evictOldest(byAddress)
        tokens = new Map()
        byAddress.set(address, tokens)
      }
      if (tokens.size >= maxPerAddress && !tokens.has(hash)) evictOldest(tokens)
      tokens.set(hash, Date.now() + 2 * windowMs)
    },
    knows(address: string, hash: string) {
      return (byAddress.get(address)?.get(hash) ?? 0) > Date.now()
    },
  }
}

/** Per-user counters of work in flight (this process only). */
function createGate(limit: number) {
  const inFlight = new Map<string, number>()
  return {
    /** A release function, or null when the user is at the limit. */
    enter(key: string): (() => void) | null {
      const current = inFlight.get(key) ?? 0
      if (current >= limit) return null
      inFlight.set(key, current + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (inFlight.get(key) ?? 1) - 1
        if (left > 0) inFlight.set(key, left)
        else inFlight.delete(key)
      }
    },
  }
}

function refuse(reply: FastifyReply, retryAfterSeconds: number, message: string): RateLimitedError {
  const seconds = Math.max(1, retryAfterSeconds)
  reply.header('retry-after', String(seconds))
  return new RateLimitedError(`${message}; retry in ${seconds} s`, seconds)
}

const exceeded = (state: Awaited<ReturnType<Limiter>>): state is LimitState => !state.isAllowed && state.isExceeded

/** The four limits, checked by the guard's hook. */
function createLimits(fastify: FastifyInstance, limits: RateLimitConfig) {
  const window = `${limits.windowMs / 1000} s`
  const subject = (request: FastifyRequest) => (request.principal ? `user:${request.principal.userId}` : `address:${addressOf(request)}`)
  const failures = fastify.createRateLimit({ max: limits.authFailures, timeWindow: limits.windowMs, keyGenerator: (r) => `auth-failures:${addressOf(r)}` })
  const requests = fastify.createRateLimit({ max: limits.requests, timeWindow: limits.windowMs, keyGenerator: (r) => `requests:${subject(r)}` })
  const expensive = fastify.createRateLimit({
    max: limits.expensive,
    timeWindow: limits.windowMs,
    keyGenerator: (r) => `expensive:${r.method} ${r.routeOptions.url}:${subject(r)}`,
  })
  const known = createKnownTokens(limits.windowMs)
  const uploads = createGate(limits.concurrentUploads)
  const lockout = (reply: FastifyReply, state: LimitState) =>
    refuse(
      reply,
      state.ttlInSeconds,
      `Too many failed authentication attempts from this address: at most ${state.max} per ${window} (RATE_LIMIT_AUTH_FAILURES); tokens not already in use from it are refused until the window ends`,
    )

  return {
    /** Before a token is looked up: an address that is locked out gets no lookup for a token it has not used. */
    async beforeAuth(request: FastifyRequest, reply: FastifyReply, hash: string) {
      const state = await failures(request, { increment: false })
      if (exceeded(state) && !known.knows(addressOf(request), hash)) throw lockout(reply, state)
    },
    succeeded(request: FastifyRequest, hash: string) {
      known.remember(addressOf(request), hash)
    },
    async failed(request: FastifyRequest, reply: FastifyReply) {
      const state = await failures(request)
      if (exceeded(state)) throw lockout(reply, state)
    },
    /** The request budget, then an expensive route's own, then uploads in flight. */
    async admit(request: FastifyRequest, reply: FastifyReply) {
      const budget = await requests(request)
      if (!budget.isAllowed) {
        reply.header('x-ratelimit-limit', budget.max).header('x-ratelimit-remaining', budget.remaining).header('x-ratelimit-reset', budget.ttlInSeconds)
      }
      const per = request.principal ? 'user' : 'client address (no valid token)'
      if (exceeded(budget))
        throw refuse(reply, budget.ttlInSeconds, `Rate limit reached: at most ${budget.max} requests per ${window} per ${per} (RATE_LIMIT_REQUESTS)`)
      const cost = request.routeOptions.config.cost
      const principal = request.principal
      if (!cost || !principal) return
      const own = await expensive(request)
      if (exceeded(own)) {
        const what = `${request.method} ${request.routeOptions.url}`
        throw refuse(reply, own.ttlInSeconds, `Rate limit reached for ${what}: at most ${own.max} requests per ${window} per user (RATE_LIMIT_EXPENSIVE)`)
      }
      if (cost !== 'upload') return
      const release = uploads.enter(principal.userId)
      if (!release) {
        throw refuse(reply, 1, `At most ${limits.concurrentUploads} dataset uploads at once per user (RATE_LIMIT_CONCURRENT_UPLOADS); wait for one to finish`)
      }
      // 'close' comes once the answer is sent or the connection is gone, whichever way the upload ends.
      reply.raw.once('close', release)
    },
  }
}

/** The Redis connection for the counters: failing fast, so a Redis outage lets requests through (skipOnError) instead of stalling them. */
async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false })
  await redis.connect()
  return redis
}

/** Registers the guard (authentication, then the limits); `close` ends its Redis connection. */
export async function registerRequestGuard(fastify: FastifyInstance, services: Services, options: RequestGuardOptions): Promise<{ close(): Promise<void> }> {
  fastify.decorateRequest('authFailure', null)
  const redis = options.limits.enabled && options.redisUrl ? await connectRedis(options.redisUrl) : undefined
  let limits: ReturnType<typeof createLimits> | undefined
  if (options.limits.enabled) {
    const deployment = createHash('sha256').update(options.databaseUrl).digest('hex').slice(0, 12)
    await fastify.register(rateLimit, { global: false, redis, nameSpace: `training-service:rate-limit:${deployment}:`, skipOnError: true })
    limits = createLimits(fastify, options.limits)
  }

  async function identify(request: FastifyRequest, reply: FastifyReply, header: string) {
    const hash = hashToken(header)
    await limits?.beforeAuth(request, reply, hash)
    try {
      request.principal = await services.auth.authenticate(header)
      limits?.succeeded(request, hash)
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error
      request.authFailure = error
      await limits?.failed(request, reply)
    }
  }

  fastify.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== undefined && openRoutes.has(request.routeOptions.url)) return
    const header = request.headers.authorization
    if (header !== undefined) await identify(request, reply, header)
    await limits?.admit(request, reply)
  })
  return {
    async close() {
      await redis?.quit().catch(() => undefined)
    },
  }
}
