// Training monitoring (spec §4) and the results of a job: log lines, metric
// history, checkpoints, the test-set evaluation, a side-by-side comparison of
// jobs, and a live feed of one job's events. The trainer writes the rows and
// publishes the events; this service only reads and relays them.
import { empty, join, sqltag as sql } from '@prisma/client/runtime/client'
import type { Db } from '../infra/db.ts'
import type { EventBus } from '../infra/event-bus.ts'
import { DomainError, ErrorCodes, InvalidInputError, NotFoundError, type FieldProblem } from '../errors/index.ts'
import { endedStatuses, metricNamesFor, type JobView } from '../domain/views.ts'
import { logSeverity, topics, trainingTopics, type JobLogEvent, type JobLogView, type JobMetricsEvent, type JobUpdatedEvent, type LogLevel, type MetricPointView } from '../events/index.ts'
import type { Principal } from './auth.ts'
import type { JobService } from './jobs.ts'

export const logLimit = { default: 100, max: 1000 }
export const maxPointsRange = { min: 2, max: 10_000 }
export const compareRange = { min: 2, max: 20 }

/** The name each input has where the caller took it from (REST query parameter or GraphQL argument), for E1108 details. */
type ParamNames<K extends string> = Partial<Record<K, string>>

export interface LogQuery {
  /** Lines at this level and above. Default info. */
  minLevel?: LogLevel
  /** Inclusive bounds on the line's timestamp. */
  startTime?: Date
  endTime?: Date
  limit?: number
  /** `nextCursor` of a previous page: continues right after its last line. */
  after?: string
}

/** A log line as the spec's §4.1 shows it: `metrics` only where the line carries some. */
export type LogLine = Omit<JobLogView, 'metrics'> & { metrics?: Record<string, number> }

export interface LogPage {
  logs: LogLine[]
  /** More lines match after these. */
  hasMore: boolean
  /** Timestamp of the first line not returned (null when none). A new `startTime` from it repeats lines of that same millisecond; `nextCursor` does not. */
  nextStartTime: string | null
  /** Opaque: pass back as `cursor` (REST) or `after` (GraphQL) for the next page. */
  nextCursor: string | null
}

/** One point of a metric series (§4.2): the name is the series' key. */
export type SeriesPoint = Omit<MetricPointView, 'name'>

export interface MetricQuery {
  names?: readonly string[]
  /** Downsample each series to at most this many points. */
  maxPoints?: number
}

export interface CheckpointView {
  id: string
  step: number
  epoch: number
  sizeBytes: number
  metrics: Record<string, number> | null
  isBest: boolean
  createdAt: string
}

export interface PerClassMetrics {
  label: string
  precision: number
  recall: number
  f1: number
  support: number
}

export interface EvaluationView {
  jobId: string
  checkpointId: string | null
  split: string
  sampleCount: number
  metrics: Record<string, number>
  perClass: PerClassMetrics[] | null
  confusionMatrix: number[][] | null
  labels: string[] | null
  createdAt: string
}

export interface ComparedJob {
  id: string
  name: string
  status: JobView['status']
  model: JobView['model']
  dataset: JobView['dataset']
  hyperparameters: JobView['hyperparameters']
  finalMetrics: JobView['metrics']
  testMetrics: Record<string, number> | null
  /** Seconds from start to end; null until the job has ended (or when it never started). */
  duration: number | null
  cost: { actualCost: number | null; estimatedCost: number | null }
  /** The whole job, for callers that want more than the comparison shows. */
  job: JobView
}

export interface Comparison {
  jobs: ComparedJob[]
  /** Configuration paths whose values differ, each with one value per job in the order asked (null where a job lacks it). */
  differences: Record<string, unknown[]>
  /** Highest test accuracy (classification) or lowest test RMSE (regression); null without evaluations or across task families. */
  best: { metric: string; jobId: string; value: number } | null
}

export type MonitorEvent =
  | { kind: 'job'; job: JobView }
  | { kind: 'metrics'; jobId: string; points: MetricPointView[]; emittedAt: string }
  | { kind: 'log'; jobId: string; log: JobLogView; emittedAt: string }

export interface WatchOptions {
  /** Relay metric points (only these names when given). */
  metrics?: boolean
  names?: readonly string[]
  /** Relay log lines at this level and above. */
  logs?: boolean
  minLevel?: LogLevel
  signal?: AbortSignal
}

/** E1109 for a job that has no evaluation (yet). */
export class EvaluationMissingError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.notFound, 404, message)
  }
}

const configGroups = ['model', 'dataset', 'hyperparameters', 'options'] as const

const isRegression = (task: string) => task === 'tabular-regression'

/**
 * Evenly spaced bucket means, the reference for the SQL in `bucketedPoints`:
 * the first and last points stay exact; interior point k (0-based) of I goes
 * to bucket floor(k·B/I) of B = maxPoints - 2 (none when B is 0), and each
 * bucket becomes one point with the mean value at the step, epoch and time
 * of its last point.
 */
export function downsample<P extends SeriesPoint>(points: readonly P[], maxPoints: number): P[] {
  const n = points.length
  if (n <= maxPoints) return [...points]
  const buckets = maxPoints - 2
  const interior = n - 2
  if (buckets === 0) return [points[0], points[n - 1]]
  const out: P[] = [points[0]]
  let sum = 0
  let count = 0
  for (let k = 0; k < interior; k++) {
    sum += points[k + 1].value
    count++
    const bucket = Math.floor((k * buckets) / interior)
    const nextBucket = k + 1 < interior ? Math.floor(((k + 1) * buckets) / interior) : -1
    if (nextBucket !== bucket) {
      out.push({ ...points[k + 1], value: sum / count })
      sum = 0
      count = 0
    }
  }
  out.push(points[n - 1])
  return out
}

/** A DateTime as raw SQL returns it (Date, or ISO text from SQLite) in ISO form. */
function isoOf(value: unknown): string {
  if (value instanceof Date) return value.toISOString()
  const text = String(value)
  return new Date(/^\d{4}-\d{2}-\d{2} /.test(text) ? `${text.replace(' ', 'T')}Z` : text).toISOString()
}

function encodeCursor(timestamp: Date, id: number): string {
  return Buffer.from(`${timestamp.getTime()}:${id}`).toString('base64url')
}

function decodeCursor(cursor: string, field: string): { timestamp: Date; id: number } {
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (!match) throw InvalidInputError.fromProblems([{ field, message: 'is not a cursor this service gave out (use nextCursor of a previous page)' }])
  return { timestamp: new Date(Number(match[1])), id: Number(match[2]) }
}

/** Leaves of plain objects under `prefix`, as dotted paths; arrays are values. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, `${prefix}.${key}`, out)
  } else {
    out.set(prefix, value)
  }
}

function differencesOf(jobs: readonly JobView[]): Record<string, unknown[]> {
  const flat = jobs.map((job) => {
    const out = new Map<string, unknown>()
    for (const group of configGroups) flatten(job[group], group, out)
    return out
  })
  const paths: string[] = []
  for (const map of flat) for (const path of map.keys()) if (!paths.includes(path)) paths.push(path)
  const differences: Record<string, unknown[]> = {}
  for (const path of paths) {
    const values = flat.map((map) => map.get(path) ?? null)
    if (new Set(values.map((v) => JSON.stringify(v))).size > 1) differences[path] = values
  }
  return differences
}

function bestOf(jobs: readonly ComparedJob[]): Comparison['best'] {
  const regression = new Set(jobs.map((job) => isRegression(job.model.task)))
  if (regression.size > 1) return null
  const lowerIsBetter = regression.has(true)
  const metric = lowerIsBetter ? 'rmse' : 'accuracy'
  let best: Comparison['best'] = null
  for (const job of jobs) {
    const value = job.testMetrics?.[metric]
    if (typeof value !== 'number' || !Number.isFinite(value)) continue
    if (!best || (lowerIsBetter ? value < best.value : value > best.value)) best = { metric, jobId: job.id, value }
  }
  return best
}

function missingEvaluationMessage(job: JobView): string {
  const id = job.id
  switch (job.status) {
    case 'pending':
      return `Job ${id} has no evaluation yet: it is queued (pending); the test split is evaluated when training completes`
    case 'running':
      return `Job ${id} has no evaluation yet: it is still running; the test split is evaluated when training completes`
    case 'stopping':
      return `Job ${id} has no evaluation: it is stopping, and a stopped job is not evaluated`
    case 'failed':
      return `Job ${id} has no evaluation: it failed before evaluating${job.error ? ` (${job.error.code}: ${job.error.message})` : ''}`
    case 'cancelled':
      return `Job ${id} has no evaluation: it was cancelled before training completed`
    case 'completed':
      return job.dataset.testSplit === 0
        ? `Job ${id} has no evaluation: it trained without a test split (dataset.testSplit is 0)`
        : `Job ${id} completed but has no evaluation of its test split`
  }
}

/** An async iterator over a queue that producers fill synchronously, so events keep the order they arrived in. */
function createQueue<T>(onClose: () => void) {
  const items: T[] = []
  let waiting: ((result: IteratorResult<T>) => void) | undefined
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    onClose()
    waiting?.({ done: true, value: undefined })
    waiting = undefined
  }
  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (items.length > 0) return Promise.resolve({ done: false, value: items.shift() as T })
      if (closed) return Promise.resolve({ done: true, value: undefined })
      return new Promise((resolve) => (waiting = resolve))
    },
    async return() {
      items.length = 0
      close()
      return { done: true, value: undefined }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
  return {
    iterator,
    push(item: T) {
      if (closed) return
      if (waiting) {
        waiting({ done: false, value: item })
        waiting = undefined
      } else {
        items.push(item)
      }
    },
    /** Ends after the items already queued. */
    end: close,
    get closed() {
      return closed
    },
  }
}

export function createMonitoringService(deps: { db: Db; bus: EventBus; jobs: JobService }) {
  const { db, bus, jobs } = deps
  let watching = 0

  /** Names a metric filter may use: the task's metric names and any stored for the job. E1108 for others. */
  async function checkNames(job: JobView, names: readonly string[], field: string): Promise<string[]> {
    const problems: FieldProblem[] = []
    const unique = [...new Set(names)]
    if (names.some((name) => name.trim() === '')) problems.push({ field, message: 'must not contain empty names' })
    const known = metricNamesFor(job.model.task)
    const unknown = unique.filter((name) => name.trim() !== '' && !known.includes(name))
    if (unknown.length > 0) {
      const stored = (await db.metricPoint.groupBy({ by: ['name'], where: { jobId: job.id } })).map((row) => row.name)
      const invalid = unknown.filter((name) => !stored.includes(name))
      if (invalid.length > 0) {
        const valid = [...known, ...stored.filter((name) => !known.includes(name)).sort()]
        problems.push({ field, message: `unknown metric ${invalid.map((n) => JSON.stringify(n)).join(', ')} for this ${job.model.task} job; valid names: ${valid.join(', ')}` })
      }
    }
    if (problems.length > 0) throw InvalidInputError.fromProblems(problems)
    return unique
  }

  function checkIntRange(value: number | undefined, range: { min: number; max: number }, field: string) {
    if (value === undefined) return
    if (!Number.isInteger(value) || value < range.min || value > range.max) {
      throw InvalidInputError.fromProblems([{ field, message: `must be an integer from ${range.min} to ${range.max}` }])
    }
  }

  type Row = { name: string; step: number; epoch: number | null; value: number; timestamp: string }

  async function allPoints(jobId: string, names: string[] | undefined): Promise<Row[]> {
    const rows = await db.metricPoint.findMany({
      where: { jobId, ...(names ? { name: { in: names } } : {}) },
      orderBy: [{ name: 'asc' }, { step: 'asc' }, { id: 'asc' }],
      select: { name: true, step: true, epoch: true, value: true, timestamp: true },
    })
    return rows.map((row) => ({ ...row, timestamp: row.timestamp.toISOString() }))
  }

  /** Rows of several series (grouped, in order) downsampled series by series. */
  function downsampleRows(rows: Row[], maxPoints: number): Row[] {
    const out: Row[] = []
    for (let start = 0; start < rows.length; ) {
      let end = start
      while (end < rows.length && rows[end].name === rows[start].name) end++
      out.push(...downsample(rows.slice(start, end), maxPoints))
      start = end
    }
    return out
  }

  // Raw SQL names tables without a schema, which on PostgreSQL resolves by search_path rather than the
  // schema of DATABASE_URL: the SQL path is for SQLite only, recognised by its 1-for-true answer (no error either way).
  let sqlite: Promise<boolean> | undefined
  const isSqlite = () => (sqlite ??= db.$queryRaw<{ v: unknown }[]>`SELECT (1 = 1) AS v`.then((rows) => typeof rows[0]?.v !== 'boolean'))

  /**
   * `downsample` of every series, computed by SQLite: rank each point in its
   * series, give it a bucket, and keep each bucket's last point with the
   * bucket's mean value (one index scan, one sort). Only the buckets cross into JavaScript, which is
   * what makes 100k-point series cheap (Prisma spends ~20 µs a row).
   */
  async function bucketedPoints(jobId: string, names: string[] | undefined, maxPoints: number): Promise<Row[]> {
    const nameFilter = names ? sql`AND "name" IN (${join(names)})` : empty
    const rows = await db.$queryRaw<{ name: string; step: number; epoch: number | null; value: number; timestamp: unknown }[]>`
      WITH ranked AS (
        SELECT "name", "step", "epoch", "value", "timestamp",
          ROW_NUMBER() OVER (PARTITION BY "name" ORDER BY "step", "id") - 1 AS i,
          COUNT(*) OVER (PARTITION BY "name") AS n
        FROM "MetricPoint" WHERE "jobId" = ${jobId} ${nameFilter}
      ), bucketed AS (
        SELECT "name", "step", "epoch", "value", "timestamp", i,
          CASE WHEN n <= CAST(${maxPoints} AS INTEGER) THEN i WHEN i = 0 THEN -1 WHEN i = n - 1 THEN n
            WHEN CAST(${maxPoints - 2} AS INTEGER) = 0 THEN NULL
            ELSE ((i - 1) * CAST(${maxPoints - 2} AS INTEGER)) / (n - 2) END AS b
        FROM ranked
      )
      -- SQLite's bare columns beside a single max() come from the row holding the max: the bucket's last point.
      SELECT "name", MAX(i) AS i, "step", "epoch", AVG("value") AS "value", "timestamp"
      FROM bucketed WHERE b IS NOT NULL GROUP BY "name", b ORDER BY "name", i`
    return rows.map((row) => ({
      name: row.name,
      step: Number(row.step),
      epoch: row.epoch === null ? null : Number(row.epoch),
      value: Number(row.value),
      timestamp: isoOf(row.timestamp),
    }))
  }

  /** The job's test-set evaluation, or null when it has none (yet). */
  async function findEvaluation(principal: Principal, jobId: string): Promise<{ job: JobView; evaluation: EvaluationView | null }> {
    const job = await jobs.get(principal, jobId)
    const row = await db.evaluation.findUnique({ where: { jobId } })
    if (!row) return { job, evaluation: null }
    return {
      job,
      evaluation: {
        jobId: row.jobId,
        checkpointId: row.checkpointId,
        split: row.split,
        sampleCount: row.sampleCount,
        metrics: row.metrics as Record<string, number>,
        perClass: (row.perClass as PerClassMetrics[] | null) ?? null,
        confusionMatrix: (row.confusionMatrix as number[][] | null) ?? null,
        labels: (row.labels as string[] | null) ?? null,
        createdAt: row.createdAt.toISOString(),
      },
    }
  }

  return {
    /**
     * Log lines (§4.1) at `minLevel` and above within the time window, oldest
     * first (timestamp, then insertion order), at most `limit`; `nextCursor`
     * continues where the page stops.
     */
    async logs(principal: Principal, jobId: string, query: LogQuery, params: ParamNames<keyof LogQuery> = {}): Promise<LogPage> {
      await jobs.get(principal, jobId)
      const limit = query.limit ?? logLimit.default
      checkIntRange(limit, { min: 1, max: logLimit.max }, params.limit ?? 'limit')
      if (query.startTime && query.endTime && query.startTime > query.endTime) {
        throw InvalidInputError.fromProblems([{ field: params.endTime ?? 'endTime', message: `is before startTime (${query.startTime.toISOString()})` }])
      }
      const after = query.after === undefined ? undefined : decodeCursor(query.after, params.after ?? 'after')
      const rows = await db.jobLog.findMany({
        where: {
          jobId,
          severity: { gte: logSeverity[query.minLevel ?? 'info'] },
          timestamp: { gte: query.startTime, lte: query.endTime },
          ...(after ? { OR: [{ timestamp: { gt: after.timestamp } }, { timestamp: after.timestamp, id: { gt: after.id } }] } : {}),
        },
        orderBy: [{ timestamp: 'asc' }, { id: 'asc' }],
        take: limit + 1,
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      const hasMore = rows.length > limit
      return {
        logs: page.map((row) => ({
          timestamp: row.timestamp.toISOString(),
          level: row.level as LogLevel,
          message: row.message,
          step: row.step,
          epoch: row.epoch,
          ...(row.metrics !== null ? { metrics: row.metrics as Record<string, number> } : {}),
        })),
        hasMore,
        nextStartTime: hasMore ? rows[limit].timestamp.toISOString() : null,
        nextCursor: hasMore && last ? encodeCursor(last.timestamp, last.id) : null,
      }
    },

    /**
     * Metric history (§4.2): each series in step order, downsampled to
     * `maxPoints` when asked (in SQL: only the buckets leave the database).
     * One query for all series. Series with no points are left out, except
     * names asked for by name (empty arrays).
     */
    async metricHistory(principal: Principal, jobId: string, query: MetricQuery, params: ParamNames<keyof MetricQuery> = {}): Promise<Record<string, SeriesPoint[]>> {
      const job = await jobs.get(principal, jobId)
      checkIntRange(query.maxPoints, maxPointsRange, params.maxPoints ?? 'maxPoints')
      const names = query.names ? await checkNames(job, query.names, params.names ?? 'names') : undefined
      const rows =
        query.maxPoints === undefined
          ? await allPoints(jobId, names)
          : (await isSqlite())
            ? await bucketedPoints(jobId, names, query.maxPoints)
            : downsampleRows(await allPoints(jobId, names), query.maxPoints)
      const series = new Map<string, SeriesPoint[]>()
      for (const name of names ?? []) series.set(name, [])
      for (const row of rows) {
        let points = series.get(row.name)
        if (!points) series.set(row.name, (points = []))
        points.push({ step: row.step, epoch: row.epoch, value: row.value, timestamp: row.timestamp })
      }
      // The task's names first, in their usual order, then the rest by name.
      const known = metricNamesFor(job.model.task)
      const rank = (name: string) => (known.includes(name) ? known.indexOf(name) : known.length)
      const order = names ?? [...series.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
      return Object.fromEntries(order.map((name) => [name, series.get(name) ?? []]))
    },

    /** Checkpoints kept for a job, in step order. */
    async checkpoints(principal: Principal, jobId: string): Promise<CheckpointView[]> {
      await jobs.get(principal, jobId)
      const rows = await db.checkpoint.findMany({ where: { jobId }, orderBy: [{ step: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }] })
      return rows.map((row) => ({
        id: row.id,
        step: row.step,
        epoch: row.epoch,
        sizeBytes: Number(row.sizeBytes),
        metrics: (row.metrics as Record<string, number> | null) ?? null,
        isBest: row.isBest,
        createdAt: row.createdAt.toISOString(),
      }))
    },

    /** The job's test-set evaluation, or null when it has none (yet). */
    findEvaluation,

    /** The job's test-set evaluation; E1109 saying why when there is none. */
    async evaluation(principal: Principal, jobId: string): Promise<EvaluationView> {
      const { job, evaluation } = await findEvaluation(principal, jobId)
      if (!evaluation) throw new EvaluationMissingError(missingEvaluationMessage(job))
      return evaluation
    },

    /** Jobs side by side: results, duration, cost, the configuration that differs, and the best by test metric. */
    async compare(principal: Principal, ids: readonly string[], field = 'ids'): Promise<Comparison> {
      const problems: FieldProblem[] = []
      if (ids.length < compareRange.min || ids.length > compareRange.max) {
        problems.push({ field, message: `must list from ${compareRange.min} to ${compareRange.max} job ids (got ${ids.length})` })
      }
      if (ids.some((id) => id.trim() === '')) problems.push({ field, message: 'must not contain empty ids' })
      const repeated = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))]
      if (repeated.length > 0) problems.push({ field, message: `lists ${repeated.join(', ')} more than once` })
      if (problems.length > 0) throw InvalidInputError.fromProblems(problems)

      const found = await Promise.all(ids.map((id) => jobs.get(principal, id).catch((error: unknown) => (error instanceof NotFoundError ? id : Promise.reject(error)))))
      const missing = found.filter((entry): entry is string => typeof entry === 'string')
      if (missing.length > 0) {
        const names = missing.map((id) => JSON.stringify(id)).join(', ')
        throw new NotFoundError('job', missing[0], missing.length === 1 ? `Job ${names} not found` : `Jobs ${names} not found`)
      }
      const views = found as JobView[]
      const evaluations = await db.evaluation.findMany({ where: { jobId: { in: [...ids] } }, select: { jobId: true, metrics: true } })
      const testMetrics = new Map(evaluations.map((row) => [row.jobId, row.metrics as Record<string, number>]))
      const compared = views.map((job): ComparedJob => {
        const { startedAt, completedAt } = job.time
        return {
          id: job.id,
          name: job.name,
          status: job.status,
          model: job.model,
          dataset: job.dataset,
          hyperparameters: job.hyperparameters,
          finalMetrics: job.metrics,
          testMetrics: testMetrics.get(job.id) ?? null,
          duration: startedAt && completedAt ? (Date.parse(completedAt) - Date.parse(startedAt)) / 1000 : null,
          cost: { actualCost: job.cost.actualCost, estimatedCost: job.cost.estimatedCost },
          job,
        }
      })
      return { jobs: compared, differences: differencesOf(views), best: bestOf(compared) }
    },

    /**
     * A live feed of one job: its current state first, then its updates,
     * metric points and log lines as the trainer publishes them, ending after
     * the update that reports the job ended (at once for an ended job).
     * Access and filters are checked before it resolves (E1101, E1108);
     * returning the iterator (or aborting `signal`) releases the bus.
     */
    async watch(principal: Principal, jobId: string, options: WatchOptions, params: ParamNames<'names'> = {}): Promise<AsyncIterableIterator<MonitorEvent>> {
      const job = await jobs.get(principal, jobId)
      const names = options.metrics && options.names ? new Set(await checkNames(job, options.names, params.names ?? 'names')) : undefined
      const minSeverity = logSeverity[options.minLevel ?? 'info']
      const controller = new AbortController()
      const signal = options.signal ? AbortSignal.any([controller.signal, options.signal]) : controller.signal
      const subscriptions: AsyncIterableIterator<unknown>[] = []
      let counted = false
      const queue = createQueue<MonitorEvent>(() => {
        controller.abort()
        for (const subscription of subscriptions) void subscription.return?.()
        if (counted) watching--
      })
      signal.addEventListener('abort', () => queue.end(), { once: true })

      // Until the current state is sent, events wait here: the current state comes first.
      let early: MonitorEvent[] | undefined = []
      let endRequested = false
      // Events published before the end may still sit in other topics' buffers (their loops run in
      // microtasks interleaved with this one): ending after a turn of the event loop lets them through.
      const endSoon = () => setImmediate(() => queue.end())
      const deliver = (event: MonitorEvent) => (early ? early.push(event) : queue.push(event))

      // Each topic's events are delivered as they arrive (nothing awaited in between), so they keep their order.
      const subscribe = async <T>(topic: string, handle: (event: T) => void) => {
        const events = await bus.subscribe<T>(topic, signal)
        subscriptions.push(events as AsyncIterableIterator<unknown>)
        if (queue.closed) void events.return?.()
        return async () => {
          for await (const event of events) handle(event)
        }
      }
      const loops = await Promise.all([
        subscribe<JobUpdatedEvent>(topics.job(jobId), (event) => {
          deliver({ kind: 'job', job: event.job })
          if (endedStatuses.includes(event.job.status) && !endRequested) {
            endRequested = true
            if (!early) endSoon()
          }
        }),
        ...(options.metrics
          ? [
              subscribe<JobMetricsEvent>(trainingTopics.jobMetrics(jobId), (event) => {
                const points = names ? event.points.filter((point) => names.has(point.name)) : event.points
                if (points.length > 0) deliver({ kind: 'metrics', jobId, points, emittedAt: event.emittedAt })
              }),
            ]
          : []),
        ...(options.logs
          ? [
              subscribe<JobLogEvent>(trainingTopics.jobLogs(jobId), (event) => {
                if (logSeverity[event.log.level] >= minSeverity) deliver({ kind: 'log', jobId, log: event.log, emittedAt: event.emittedAt })
              }),
            ]
          : []),
      ]).catch(async (error: unknown) => {
        await queue.iterator.return?.()
        throw error
      })
      if (!queue.closed) {
        watching++
        counted = true
      }
      // A loop ends when the bus closes (the server is stopping): so does the feed.
      for (const loop of loops) void loop().finally(() => queue.end()).catch(() => {})

      // Read after subscribing, so that no change between this read and the first event is lost.
      let current: JobView
      try {
        current = await jobs.get(principal, jobId)
      } catch (error) {
        await queue.iterator.return?.()
        throw error
      }
      queue.push({ kind: 'job', job: current })
      for (const event of early) queue.push(event)
      early = undefined
      if (endRequested || endedStatuses.includes(current.status)) {
        endRequested = true
        endSoon()
      }
      return queue.iterator
    },

    /** Live feeds open right now (each holds bus subscriptions); for operations and tests. */
    watching(): number {
      return watching
    },
  }
}

export type MonitoringService = ReturnType<typeof createMonitoringService>
