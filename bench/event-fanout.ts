// Event fan-out: 200 subscribers on one job's metrics, p50/p99/max delivery
// latency from the trainer's emit to the client, over graphql-ws (`jobMetrics`,
// one result per point, and `jobMetricBatches`, one result per event) and SSE
// with the in-process bus, and over graphql-ws with Redis (the trainer
// publishing from its own Redis connection). The baseline is the bare bus with 200
// `bus.subscribe` listeners and no API layer, for each bus.
//   npm run bench:events [-- --subscribers 200 --events 120 --rate 20 --rounds 3]
//
// 20 events/s is the most the trainer sends for one job (trainer/recorder.ts
// publishes a job's metrics at most every 50 ms, batching the points between).
//
// Server, trainer and clients share this process, so one monotonic clock
// (performance.now) times both ends: event k carries its sequence number as
// the points' `step`, and the receive time minus emitAt[k] is its latency.
// An event counts as delivered to a subscriber when all its points are there
// (`jobMetrics` sends one result per point, `jobMetricBatches` one per event). The clients' own work (parsing
// 200 sockets' messages) runs on the server's event loop: the figures are an
// upper bound of what separate clients would see. The trainer's timer waits
// for that loop too; "emit lag" is how late it emitted against its schedule.
// The machine is shared: CPU time per delivery moves far less with other
// load than the latencies do, and the machine's CPU pressure is printed.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { buildApp, type App } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { topics, type JobMetricsEvent, type MetricPointView, type Topic } from '../src/events/index.ts'
import { createEventBus, type EventBus } from '../src/infra/event-bus.ts'
import { machine, median, numberOption, table } from './lib.ts'

const subscribers = numberOption('subscribers', 200)
const eventCount = numberOption('events', 120)
const rate = numberOption('rate', 20)
const rounds = numberOption('rounds', 3)
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Give up on missing deliveries after this long without progress once publishing is done. */
const drainMs = 5000

const token = 'bench-fanout-token'
const metricNames = ['trainLoss', 'trainAccuracy', 'learningRate', 'valLoss']
const outDir = path.resolve('bench/out/event-fanout')

/** A subscriber reports `points` points of event `step` (a negative step is a probe). */
type Receive = (subscriber: number, step: number, points: number) => void

interface Fanout {
  ownerId: string
  jobId: string
  /** Publishes as the trainer does. */
  publish(event: JobMetricsEvent): Promise<void>
  close(): Promise<void>
}

interface Configuration {
  name: string
  /** Name of the configuration whose p50 and p99 this one is compared with. */
  baseline: string
  open(receive: Receive): Promise<Fanout>
}

interface Measure {
  p50: number
  p99: number
  max: number
  delivered: number
  expected: number
  /** p99 of how late the trainer emitted against its schedule (its timers wait for the busy event loop), ms. */
  lag: number
  /** CPU time of this process over wall time while publishing (1.0 = one core busy). */
  cpu: number
  /** CPU time of this process (server and clients) per delivered event, in µs. */
  cpuPerDelivery: number
  /** Share of the time some task on the machine waited for a CPU (Linux PSI), 0-1. */
  pressure: number
}

/** Microseconds some task has waited for a CPU since boot (Linux PSI); NaN where unavailable. */
function cpuStallMicros(): number {
  if (!existsSync('/proc/pressure/cpu')) return Number.NaN
  const match = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))
  return match ? Number(match[1]) : Number.NaN
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `condition` every 5 ms for up to `withinMs`; true as soon as it holds. */
async function waitUntil(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs
  while (!condition()) {
    if (performance.now() >= deadline) return false
    await sleep(5)
  }
  return true
}

/** A client failure as text: an Error, a socket close ({ code, reason }) or GraphQL errors. */
function describe(failure: unknown): string {
  if (failure instanceof Error) return failure.message
  const close = failure as { code?: unknown; reason?: unknown }
  if (typeof close?.code === 'number') return `socket closed with ${close.code} ${String(close.reason ?? '')}`
  return JSON.stringify(failure)
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

/** Event `step` as the trainer sends it: 1-4 points (2.5 on average), all at that step. */
function metricsEvent(ownerId: string, jobId: string, step: number): JobMetricsEvent {
  const count = step < 0 ? 1 : (step % 4) + 1
  const timestamp = new Date().toISOString()
  const points: MetricPointView[] = metricNames.slice(0, count).map((name, i) => ({ name, step, epoch: step / 100, value: 1 / (step + 2 + i), timestamp }))
  return { type: 'job.metrics', ownerId, jobId, points, emittedAt: timestamp }
}

/** 200 plain bus listeners, as the monitoring service subscribes, with nothing after them. */
async function openBusListeners(bus: EventBus, topic: Topic<JobMetricsEvent>, receive: Receive): Promise<() => Promise<void>> {
  // With a signal, as the monitoring service subscribes (the bus then combines it with its own per subscription).
  const stop = new AbortController()
  const iterators = await Promise.all(Array.from({ length: subscribers }, () => bus.subscribe<JobMetricsEvent>(topic, stop.signal)))
  const loops = iterators.map(async (events, subscriber) => {
    for await (const event of events) receive(subscriber, event.points[0].step, event.points.length)
  })
  return async () => {
    stop.abort()
    await Promise.allSettled(loops)
  }
}

async function startServer(name: string, env: Record<string, string>): Promise<{ app: App; url: string; ownerId: string; jobId: string }> {
  const dataDir = path.join(outDir, name.replace(/\W+/g, '-'))
  rmSync(dataDir, { recursive: true, force: true })
  mkdirSync(dataDir, { recursive: true })
  const app = await buildApp(
    loadConfig({
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      API_TOKENS: `bench:${token}`,
      TRAINER: 'off',
      RATE_LIMIT: 'off',
      ...env,
    }),
  )
  try {
    const url = await app.start()
    const headers = { authorization: `Bearer ${token}` }
    const form = new FormData()
    form.append('name', 'fanout')
    form.append('type', 'text')
    form.append('format', 'csv')
    const rows = Array.from({ length: 30 }, (_, i) => `"sample ${i} about ${['sports', 'tech', 'food'][i % 3]}",${['sports', 'tech', 'food'][i % 3]}`)
    form.append('file', new Blob([`text,label\n${rows.join('\n')}\n`], { type: 'text/csv' }), 'data.csv')
    const upload = await fetch(`${url}/v1/training/datasets`, { method: 'POST', headers, body: form })
    if (upload.status !== 201) throw new Error(`dataset upload answered ${upload.status}: ${await upload.text()}`)
    const datasetId = ((await upload.json()) as { data: { dataset: { id: string } } }).data.dataset.id
    const jobRequest = {
      name: 'fanout',
      model: { baseModel: 'text-cnn', task: 'text-classification' },
      dataset: { id: datasetId },
      hyperparameters: { learningRate: 0.001, batchSize: 8, epochs: 2 },
      resources: { instanceType: 'cpu.small' },
    }
    const created = await fetch(`${url}/v1/training/jobs`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(jobRequest),
    })
    if (created.status !== 201) throw new Error(`job create answered ${created.status}: ${await created.text()}`)
    const jobId = ((await created.json()) as { data: { job: { id: string } } }).data.job.id
    const ownerId = (await app.services.auth.authenticate(`Bearer ${token}`)).userId
    return { app, url, ownerId, jobId }
  } catch (error) {
    await app.stop()
    throw error
  }
}

/** The two metric subscriptions: one result per point, or one per trainer event carrying its points. */
type MetricField = 'jobMetrics' | 'jobMetricBatches'

const subscriptions: Record<MetricField, string> = {
  jobMetrics: `subscription($id: ID!, $names: [String!]) { jobMetrics(id: $id, names: $names) { name step epoch value timestamp } }`,
  jobMetricBatches: `subscription($id: ID!, $names: [String!]) { jobMetricBatches(id: $id, names: $names) { jobId emittedAt points { name step epoch value timestamp } } }`,
}

type MetricResult = { jobMetrics: MetricPointView } | { jobMetricBatches: { jobId: string; emittedAt: string; points: MetricPointView[] } }

/** 200 graphql-ws clients, one WebSocket each, subscribed to the job's metrics through `field`. */
async function openWsClients(url: string, jobId: string, field: MetricField, receive: Receive, failures: unknown[]): Promise<() => Promise<void>> {
  const clients: Client[] = []
  const connected: Promise<void>[] = []
  for (let subscriber = 0; subscriber < subscribers; subscriber++) {
    let onConnected!: () => void
    connected.push(new Promise<void>((resolve) => (onConnected = resolve)))
    const client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
      onNonLazyError: (error) => failures.push(error),
      on: { connected: () => onConnected() },
    })
    clients.push(client)
    client.subscribe<MetricResult>(
      { query: subscriptions[field], variables: { id: jobId, names: metricNames } },
      {
        next: (result) => {
          if (!result.data) failures.push(result.errors)
          else if ('jobMetrics' in result.data) receive(subscriber, result.data.jobMetrics.step, 1)
          else {
            // One trainer event per batch here, so every point has the event's step.
            const { points } = result.data.jobMetricBatches
            if (points.length === 0) failures.push(new Error('jobMetricBatches sent an empty batch'))
            else receive(subscriber, points[0].step, points.length)
          }
        },
        error: (error) => failures.push(error),
        complete: () => {},
      },
    )
  }
  const closeAll = async () => {
    await Promise.all(clients.map((client) => client.dispose()))
  }
  try {
    await Promise.all(
      connected.map((promise) =>
        Promise.race([promise, sleep(20_000).then(() => Promise.reject(new Error('a graphql-ws client was not acknowledged within 20 s')))]),
      ),
    )
  } catch (error) {
    await closeAll()
    throw error
  }
  return closeAll
}

/** 200 readers of GET /v1/training/jobs/{id}/events; each `metrics` event carries one bus event's points. */
function openSseClients(url: string, jobId: string, receive: Receive, failures: unknown[]): () => Promise<void> {
  const abort = new AbortController()
  const readers = Array.from({ length: subscribers }, async (_, subscriber) => {
    const response = await fetch(`${url}/v1/training/jobs/${jobId}/events?metrics=${metricNames.join(',')}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    })
    if (response.status !== 200 || !response.body) throw new Error(`GET .../events answered ${response.status}: ${await response.text()}`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (!block.includes('event: metrics\n')) continue
        const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { points: MetricPointView[] }
        receive(subscriber, data.points[0].step, data.points.length)
      }
    }
  })
  for (const reader of readers) reader.catch((error: unknown) => abort.signal.aborted || failures.push(error))
  return async () => {
    abort.abort()
    await Promise.allSettled(readers)
  }
}

function configurations(failures: unknown[]): Configuration[] {
  return [
    {
      name: 'bus only, in-process',
      baseline: 'bus only, in-process',
      async open(receive) {
        const bus = await createEventBus(undefined)
        const jobId = 'job-fanout-bare'
        const close = await openBusListeners(bus, topics.jobMetrics(jobId), receive)
        return {
          ownerId: 'user-bench',
          jobId,
          publish: (event) => bus.publish(topics.jobMetrics(jobId), event),
          close: () => close().finally(() => bus.close()),
        }
      },
    },
    ...(['jobMetrics', 'jobMetricBatches'] as const).map(
      (field): Configuration => ({
        name: `graphql-ws ${field}, in-process bus`,
        baseline: 'bus only, in-process',
        async open(receive) {
          const server = await startServer(`graphql-ws-memory-${field}`, {})
          const bus = server.app.bus
          const close = await openWsClients(server.url, server.jobId, field, receive, failures).catch(async (error: unknown) => {
            await server.app.stop()
            throw error
          })
          return {
            ...server,
            publish: (event) => bus.publish(topics.jobMetrics(server.jobId), event),
            close: () => close().finally(() => server.app.stop()),
          }
        },
      }),
    ),
    {
      name: 'SSE, in-process bus',
      baseline: 'bus only, in-process',
      async open(receive) {
        const server = await startServer('sse-memory', {})
        const bus = server.app.bus
        const close = openSseClients(server.url, server.jobId, receive, failures)
        return {
          ...server,
          publish: (event) => bus.publish(topics.jobMetrics(server.jobId), event),
          close: () => close().finally(() => server.app.stop()),
        }
      },
    },
    {
      name: 'bus only, Redis',
      baseline: 'bus only, Redis',
      async open(receive) {
        // The listeners share one connection, as the API process does; the trainer has its own.
        const [bus, trainer] = await Promise.all([createEventBus(redisUrl), createEventBus(redisUrl)])
        const jobId = `job-fanout-bare-${process.pid}`
        const close = await openBusListeners(bus, topics.jobMetrics(jobId), receive)
        return {
          ownerId: 'user-bench',
          jobId,
          publish: (event) => trainer.publish(topics.jobMetrics(jobId), event),
          close: () => close().finally(() => Promise.all([bus.close(), trainer.close()])),
        }
      },
    },
    ...(['jobMetrics', 'jobMetricBatches'] as const).map(
      (field): Configuration => ({
        name: `graphql-ws ${field}, Redis bus`,
        baseline: 'bus only, Redis',
        async open(receive) {
          const server = await startServer(`graphql-ws-redis-${field}`, { REDIS_URL: redisUrl })
          const trainer = await createEventBus(redisUrl)
          const close = await openWsClients(server.url, server.jobId, field, receive, failures).catch(async (error: unknown) => {
            await Promise.all([trainer.close(), server.app.stop()])
            throw error
          })
          return {
            ...server,
            publish: (event) => trainer.publish(topics.jobMetrics(server.jobId), event),
            close: () => close().finally(() => Promise.all([trainer.close(), server.app.stop()])),
          }
        },
      }),
    ),
  ]
}

async function measure(configuration: Configuration, failures: unknown[]): Promise<Measure> {
  const live = new Uint8Array(subscribers)
  const emitAt = new Float64Array(eventCount)
  const pointsOf = Uint8Array.from({ length: eventCount }, (_, step) => (step % 4) + 1)
  const counts = Array.from({ length: subscribers }, () => new Uint8Array(eventCount))
  const latencies: number[] = []
  const receive: Receive = (subscriber, step, points) => {
    const now = performance.now()
    if (step < 0) {
      live[subscriber] = 1
      return
    }
    // The sum before the Uint8Array stores it, as `+=` gives it.
    const seen = counts[subscriber][step] + points
    counts[subscriber][step] = seen
    if (seen === pointsOf[step]) latencies.push(now - emitAt[step])
  }
  failures.length = 0
  const fanout = await configuration.open(receive)
  try {
    const probe = metricsEvent(fanout.ownerId, fanout.jobId, -1)
    let ready = false
    for (let attempt = 0; attempt < 100 && !ready; attempt++) {
      await fanout.publish(probe)
      ready = await waitUntil(() => live.every((flag) => flag === 1), 200)
    }
    if (!ready)
      throw new Error(`${configuration.name}: only ${live.filter((flag) => flag === 1).length} of ${subscribers} subscribers received a probe after 100 tries`)
    await sleep(300) // late probes, GC of the set-up
    if (failures.length > 0) throw new Error(`${configuration.name}: ${describe(failures[0])}`)

    const cpuBefore = process.cpuUsage()
    const stallBefore = cpuStallMicros()
    const start = performance.now()
    const lags: number[] = []
    // Not awaited, as the trainer's recorder publishes: a publisher waiting for Redis' reply on this
    // busy event loop would slow down to what the fan-out keeps up with, and hide the backlog.
    const publishing: Promise<unknown>[] = []
    for (let step = 0; step < eventCount; step++) {
      // Absolute due times: a late tick is followed by a catch-up, so the average rate holds.
      const due = start + (step * 1000) / rate
      const wait = due - performance.now()
      if (wait > 1) await sleep(wait)
      const event = metricsEvent(fanout.ownerId, fanout.jobId, step)
      emitAt[step] = performance.now()
      lags.push(emitAt[step] - due)
      publishing.push(fanout.publish(event).catch((error: unknown) => failures.push(error)))
    }
    await Promise.all(publishing)
    const expected = eventCount * subscribers
    let last = -1
    while (latencies.length < expected && latencies.length !== last) {
      last = latencies.length
      await waitUntil(() => latencies.length >= expected, drainMs)
    }
    const cpu = process.cpuUsage(cpuBefore)
    const wallMs = performance.now() - start
    const cpuMs = (cpu.user + cpu.system) / 1000
    const pressure = (cpuStallMicros() - stallBefore) / 1000 / wallMs
    if (failures.length > 0) throw new Error(`${configuration.name}: ${describe(failures[0])}`)
    const sorted = latencies.sort((a, b) => a - b)
    return {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      delivered: latencies.length,
      expected,
      lag: percentile(
        lags.sort((a, b) => a - b),
        99,
      ),
      cpu: cpuMs / wallMs,
      cpuPerDelivery: (cpuMs * 1000) / latencies.length,
      pressure,
    }
  } finally {
    await fanout.close()
  }
}

const failures: unknown[] = []
const all = configurations(failures)
const results = new Map<string, Measure[]>()
const fixed = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1)
try {
  for (let round = 0; round < rounds; round++) {
    // Interleaved rounds, so a slow patch of this shared machine hits every configuration alike.
    for (const configuration of all) {
      const result = await measure(configuration, failures).catch((error: unknown) => {
        throw new Error(`${configuration.name}${configuration.name.includes('Redis') ? ` (${redisUrl})` : ''}: ${describe(error)}`, { cause: error })
      })
      results.set(configuration.name, [...(results.get(configuration.name) ?? []), result])
      console.error(
        `round ${round + 1}/${rounds} ${configuration.name}: p50 ${fixed(result.p50)} ms, p99 ${fixed(result.p99)} ms, max ${fixed(result.max)} ms, ${result.delivered}/${result.expected} delivered, emit lag p99 ${fixed(result.lag)} ms, CPU ${result.cpu.toFixed(2)} (${result.cpuPerDelivery.toFixed(1)} µs per delivery), machine CPU pressure ${Math.round(result.pressure * 100)}%`,
      )
    }
  }
} finally {
  rmSync(outDir, { recursive: true, force: true })
}

const medianOf = (name: string, pick: (m: Measure) => number) => median(results.get(name)!.map(pick))
const rows = all.map((configuration) => {
  const measures = results.get(configuration.name)!
  const p50 = medianOf(configuration.name, (m) => m.p50)
  const p99 = medianOf(configuration.name, (m) => m.p99)
  return [
    configuration.name,
    fixed(p50),
    fixed(p99),
    fixed(medianOf(configuration.name, (m) => m.max)),
    (p50 / medianOf(configuration.baseline, (m) => m.p50)).toFixed(1),
    (p99 / medianOf(configuration.baseline, (m) => m.p99)).toFixed(1),
    `${measures.reduce((sum, m) => sum + m.delivered, 0)}/${measures.reduce((sum, m) => sum + m.expected, 0)}`,
    fixed(medianOf(configuration.name, (m) => m.lag)),
    medianOf(configuration.name, (m) => m.cpu).toFixed(2),
    medianOf(configuration.name, (m) => m.cpuPerDelivery).toFixed(1),
    // What one core could sustain if this process had it to itself: the ceiling of one API process.
    Math.round(1e6 / (medianOf(configuration.name, (m) => m.cpuPerDelivery) * subscribers)),
    `${Math.round(medianOf(configuration.name, (m) => m.pressure) * 100)}%`,
  ]
})
console.log(`Event fan-out — ${machine()}`)
console.log(
  `${subscribers} subscribers on one job's metrics; ${eventCount} events (1-4 points each, 2.5 on average) at ${rate} events/s; median of ${rounds} interleaved rounds. Latency: emit to the subscriber having all of the event's points.\n`,
)
console.log(
  'CPU: this process (server, trainer, clients), in cores and per event delivered to one subscriber; events/s per core: what one core would sustain for these subscribers at that cost; machine CPU pressure: share of the time some task waited for a CPU (PSI).\n',
)
console.log(
  table(
    [
      'configuration',
      'p50 ms',
      'p99 ms',
      'max ms',
      'p50 ratio to bus',
      'p99 ratio to bus',
      'delivered (all rounds)',
      'emit lag p99 ms',
      'CPU (cores)',
      'CPU µs per delivery',
      'events/s per core',
      'machine CPU pressure',
    ],
    rows,
  ),
)
