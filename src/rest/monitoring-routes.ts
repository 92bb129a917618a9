// REST for training monitoring (spec §4) and results: logs, metric history,
// checkpoints, evaluation, comparison, and a Server-Sent Events feed. Query
// strings are parsed here (strictly: unknown parameters are E1108); the
// monitoring service checks the values.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Principal } from '../services/auth.ts'
import type { Services } from '../services/index.ts'
import type { MonitorEvent } from '../services/monitoring.ts'
import { parseInput } from '../domain/validation.ts'
import { endedStatuses } from '../domain/views.ts'
import { logLevels } from '../events/index.ts'
import { ok } from './envelope.ts'
import { defaultHeartbeatMs, writeEventStream, type SseMessage } from './sse.ts'

type Request = FastifyRequest<{ Params: { jobId: string }; Querystring: Record<string, unknown> }>

const isoPattern = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/

/** A date-time with its zone (or a plain date, midnight UTC). A `+` that a query string turned into a space is taken back. */
const isoTime = z
  .string()
  .transform((text) => text.replace(/ (\d{2}:?\d{2})$/, '+$1'))
  .refine((text) => {
    const match = isoPattern.exec(text)
    if (!match || Number.isNaN(Date.parse(text))) return false
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
    return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate()
  }, 'must be an ISO 8601 date-time with a time zone, e.g. 2026-02-03T12:00:00.000Z')
  .transform((text) => new Date(text))

const integer = z.coerce.number('must be an integer').int('must be an integer')
const level = z.enum(logLevels, `must be one of ${logLevels.join(', ')}`)
/** `a,b,c`: the list as given (the service rejects empty entries). */
const commaList = z.string().transform((text) => text.split(',').map((part) => part.trim()))

const logsQuery = z.strictObject({
  level: level.optional(),
  startTime: isoTime.optional(),
  endTime: isoTime.optional(),
  limit: integer.optional(),
  cursor: z.string().optional(),
})
const metricsQuery = z.strictObject({ metrics: commaList.optional(), maxPoints: integer.optional() })
const compareQuery = z.strictObject({ ids: commaList })
const eventsQuery = z.strictObject({ metrics: commaList.optional(), level: level.optional() })
const noQuery = z.strictObject({})

function principalOf(request: FastifyRequest): Principal {
  // Set by the onRequest hook of every /v1 route.
  return request.principal as Principal
}

function sseMessage(event: MonitorEvent): SseMessage {
  switch (event.kind) {
    case 'job':
      return { event: 'job', data: event.job }
    case 'metrics':
      return { event: 'metrics', data: { jobId: event.jobId, points: event.points, emittedAt: event.emittedAt } }
    case 'log':
      return { event: 'log', data: event.log }
  }
}

/** Routes inside the /v1 scope (its auth hook applies); call from registerRestRoutes. */
export function registerMonitoringRoutes(v1: FastifyInstance, services: Services, options: { heartbeatMs?: number } = {}) {
  const { monitoring } = services
  const get = (url: string, handler: (request: Request, reply: FastifyReply, principal: Principal) => Promise<unknown>) =>
    v1.get<{ Params: { jobId: string }; Querystring: Record<string, unknown> }>(url, (request, reply) => handler(request, reply, principalOf(request)))

  // §4 Monitoring. `/jobs/compare` is a static path: the router prefers it over `/jobs/:jobId`.
  get('/v1/training/jobs/compare', async (request, reply, principal) => {
    const { ids } = parseInput(compareQuery, request.query)
    const { jobs, differences, best } = await monitoring.compare(principal, ids, 'ids')
    return ok(reply, 200, { jobs: jobs.map(({ job: _job, ...entry }) => entry), differences, best })
  })
  get('/v1/training/jobs/:jobId/logs', async (request, reply, principal) => {
    const query = parseInput(logsQuery, request.query)
    const page = await monitoring.logs(
      principal,
      request.params.jobId,
      { minLevel: query.level, startTime: query.startTime, endTime: query.endTime, limit: query.limit, after: query.cursor },
      { minLevel: 'level', after: 'cursor' },
    )
    return ok(reply, 200, page)
  })
  get('/v1/training/jobs/:jobId/metrics', async (request, reply, principal) => {
    const query = parseInput(metricsQuery, request.query)
    const metrics = await monitoring.metricHistory(principal, request.params.jobId, { names: query.metrics, maxPoints: query.maxPoints }, { names: 'metrics' })
    return ok(reply, 200, { metrics })
  })
  get('/v1/training/jobs/:jobId/checkpoints', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    return ok(reply, 200, { checkpoints: await monitoring.checkpoints(principal, request.params.jobId) })
  })
  get('/v1/training/jobs/:jobId/evaluation', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    return ok(reply, 200, { evaluation: await monitoring.evaluation(principal, request.params.jobId) })
  })

  // A live feed: `job` (current state first), `metrics` and `log` events; ends after the job ends.
  get('/v1/training/jobs/:jobId/events', async (request, reply, principal) => {
    const query = parseInput(eventsQuery, request.query)
    const feed = await monitoring.watch(
      principal,
      request.params.jobId,
      { metrics: true, names: query.metrics, logs: true, minLevel: query.level },
      { names: 'metrics' },
    )
    const first = await feed.next()
    const current = first.done ? undefined : first.value
    // An EventSource reconnects whenever a stream ends; 204 tells it to stop once the job is over.
    if (request.headers['last-event-id'] !== undefined && current?.kind === 'job' && endedStatuses.includes(current.job.status)) {
      await feed.return?.()
      return reply.code(204).send()
    }
    reply.hijack()
    let replayed = false
    const source: AsyncIterator<MonitorEvent> = {
      next: () => {
        if (replayed || !current) return feed.next()
        replayed = true
        return Promise.resolve({ done: false, value: current })
      },
      return: () => feed.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    }
    await writeEventStream(reply.raw, source, sseMessage, { heartbeatMs: options.heartbeatMs ?? defaultHeartbeatMs })
    return reply
  })
}
