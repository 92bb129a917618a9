// A live feed of one job (its state, metric points and log lines as the
// trainer publishes them), for subscriptions and SSE: a live view (see
// ../live.ts) over the job's three topics.
import type { Db } from '../../infra/db.ts'
import { endedStatuses, type JobView } from '../../domain/views.ts'
import { logSeverity, topics, type JobLogView, type LogLevel, type MetricPointView } from '../../events/index.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { flatMapView, source, type LiveSource, type LiveViews } from '../live.ts'
import { checkMetricNames, type ParamNames } from './inputs.ts'

export type MonitorEvent =
  | { kind: 'job'; job: JobView }
  | { kind: 'metrics'; jobId: string; points: MetricPointView[]; emittedAt: string }
  | { kind: 'log'; jobId: string; log: JobLogView; emittedAt: string }

/** The metric points of one trainer event. */
export interface MetricBatch {
  jobId: string
  points: MetricPointView[]
  emittedAt: string
}

export interface WatchOptions {
  /** Relay metric points (only these names when given). */
  metrics?: boolean
  names?: readonly string[]
  /** Relay log lines at this level and above. */
  logs?: boolean
  minLevel?: LogLevel
  signal?: AbortSignal
}

export function createFeed(deps: { db: Db; live: LiveViews; jobs: JobService }) {
  const { db, live, jobs } = deps

  /**
   * A live feed of one job: its current state first, then its updates,
   * metric points and log lines as the trainer publishes them, ending after
   * the update that reports the job ended (at once for an ended job).
   * Access and filters are checked before it resolves (E1101, E1108);
   * returning the iterator (or aborting `signal`) releases the bus.
   */
  async function watch(
    principal: Principal,
    jobId: string,
    options: WatchOptions,
    params: ParamNames<'names'> = {},
  ): Promise<AsyncIterableIterator<MonitorEvent>> {
    const job = await jobs.get(principal, jobId)
    const names = options.metrics && options.names ? new Set(await checkMetricNames(db, job, options.names, params.names ?? 'names')) : undefined
    const minSeverity = logSeverity[options.minLevel ?? 'info']
    const sources: LiveSource<MonitorEvent>[] = [source(topics.job(jobId), (event) => ({ kind: 'job', job: event.job }))]
    if (options.metrics) {
      sources.push(
        source(topics.jobMetrics(jobId), (event) => {
          const points = names ? event.points.filter((point) => names.has(point.name)) : event.points
          return points.length > 0 ? { kind: 'metrics', jobId, points, emittedAt: event.emittedAt } : undefined
        }),
      )
    }
    if (options.logs) {
      sources.push(
        source(topics.jobLogs(jobId), (event) =>
          logSeverity[event.log.level] >= minSeverity ? { kind: 'log', jobId, log: event.log, emittedAt: event.emittedAt } : undefined,
        ),
      )
    }
    return live.watch<MonitorEvent>({
      sources,
      current: { load: async () => ({ kind: 'job', job: await jobs.get(principal, jobId) }), send: 'always' },
      isFinal: (event) => event.kind === 'job' && endedStatuses.includes(event.job.status),
      signal: options.signal,
    })
  }

  return {
    watch,

    /** Metric points of one job as they are measured, one item per point, in step order; ends when the job ends. */
    async watchMetrics(principal: Principal, jobId: string, names?: readonly string[]): Promise<AsyncIterableIterator<MetricPointView>> {
      const feed = await watch(principal, jobId, { metrics: true, names })
      return flatMapView(feed, (event) => (event.kind === 'metrics' ? event.points : []))
    },

    /** Like watchMetrics, one item per trainer event (several steps of a fast job). */
    async watchMetricBatches(principal: Principal, jobId: string, names?: readonly string[]): Promise<AsyncIterableIterator<MetricBatch>> {
      const feed = await watch(principal, jobId, { metrics: true, names })
      return flatMapView(feed, (event) => (event.kind === 'metrics' ? [{ jobId: event.jobId, points: event.points, emittedAt: event.emittedAt }] : []))
    },

    /** Log lines of one job at `minLevel` and above as they are written; ends when the job ends. */
    async watchLogs(principal: Principal, jobId: string, minLevel?: LogLevel): Promise<AsyncIterableIterator<JobLogView>> {
      const feed = await watch(principal, jobId, { logs: true, minLevel })
      return flatMapView(feed, (event) => (event.kind === 'log' ? [event.log] : []))
    },

    /** Live views open right now (feeds and every other subscription); for operations and tests. */
    watching: live.watching,
  }
}
