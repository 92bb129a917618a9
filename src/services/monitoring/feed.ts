// A live feed of one job (its state, metric points and log lines as the
// trainer publishes them), over the event bus, for subscriptions and SSE.
import type { Db } from '../../infra/db.ts'
import type { EventBus } from '../../infra/event-bus.ts'
import { endedStatuses, type JobView } from '../../domain/views.ts'
import {
  logSeverity,
  topics,
  type JobLogEvent,
  type JobLogView,
  type JobMetricsEvent,
  type JobUpdatedEvent,
  type LogLevel,
  type MetricPointView,
  type Topic,
} from '../../events/index.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { checkMetricNames, type ParamNames } from './inputs.ts'

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

export function createFeed(deps: { db: Db; bus: EventBus; jobs: JobService }) {
  const { db, bus, jobs } = deps
  let watching = 0

  return {
    /**
     * A live feed of one job: its current state first, then its updates,
     * metric points and log lines as the trainer publishes them, ending after
     * the update that reports the job ended (at once for an ended job).
     * Access and filters are checked before it resolves (E1101, E1108);
     * returning the iterator (or aborting `signal`) releases the bus.
     */
    async watch(principal: Principal, jobId: string, options: WatchOptions, params: ParamNames<'names'> = {}): Promise<AsyncIterableIterator<MonitorEvent>> {
      const job = await jobs.get(principal, jobId)
      const names = options.metrics && options.names ? new Set(await checkMetricNames(db, job, options.names, params.names ?? 'names')) : undefined
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
      const subscribe = async <T>(topic: Topic<T>, handle: (event: T) => void) => {
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
              subscribe<JobMetricsEvent>(topics.jobMetrics(jobId), (event) => {
                const points = names ? event.points.filter((point) => names.has(point.name)) : event.points
                if (points.length > 0) deliver({ kind: 'metrics', jobId, points, emittedAt: event.emittedAt })
              }),
            ]
          : []),
        ...(options.logs
          ? [
              subscribe<JobLogEvent>(topics.jobLogs(jobId), (event) => {
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
      for (const loop of loops)
        void loop()
          .finally(() => queue.end())
          .catch(() => {})

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
