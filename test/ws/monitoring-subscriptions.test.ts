// Live monitoring through real transports, with the in-process event bus and
// with Redis: the jobMetrics and jobLogs subscriptions over graphql-ws, and
// the REST Server-Sent Events feed GET /v1/training/jobs/{id}/events read by
// a streaming fetch. Events are published on the app's own bus exactly as
// the trainer publishes them.
//
// Synchronisation: the SSE feed sends the job's current state only after it
// has subscribed to the bus, so its first event is the sync point; for
// graphql-ws the monitoring service's count of open feeds is.
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { graphql } from '../gql/index.ts'
import { createDataset, jobRequest } from '../helpers/data.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createWsClient, tsubscribe } from '../helpers/ws.ts'
import { createDatabase, type Database } from '../../src/infra/db.ts'
import {
  topics,
  type JobLogEvent,
  type JobLogView,
  type JobMetricsEvent,
  type JobUpdatedEvent,
  type MetricPointView,
  type Topic,
} from '../../src/events/index.ts'
import type { Principal } from '../../src/services/auth.ts'
import type { JobReply } from '../helpers/replies.ts'

const SubJobMetrics = graphql(`
  subscription SubJobMetrics($id: ID!, $names: [String!]) {
    jobMetrics(id: $id, names: $names) {
      name
      step
      epoch
      value
      timestamp
    }
  }
`)

const SubJobLogs = graphql(`
  subscription SubJobLogs($id: ID!, $minLevel: LogLevel) {
    jobLogs(id: $id, minLevel: $minLevel) {
      level
      message
      step
      metrics
    }
  }
`)

const redisUrl = 'redis://127.0.0.1:6379'
const channelPrefix = 'training-service:'

type JobView = JobUpdatedEvent['job']

/** Polls `condition` until it holds; fails with `what` after `withinMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const point = (name: string, step: number, value: number): MetricPointView => ({
  name,
  step,
  epoch: step / 100,
  value,
  timestamp: new Date(Date.UTC(2026, 1, 3, 12, 0, step)).toISOString(),
})
const logLine = (level: JobLogView['level'], message: string, step: number | null = null): JobLogView => ({
  timestamp: new Date().toISOString(),
  level,
  message,
  step,
  epoch: null,
  metrics: null,
})

interface SseEvent {
  id: string | undefined
  event: string
  data: unknown
}

/** Reads GET .../events with a streaming fetch, parsing blocks as they arrive; comments are counted, not returned. */
async function openEvents(server: TestServer, path: string, token: string = tokens.alice, headers: Record<string, string> = {}) {
  const abort = new AbortController()
  onTestFinished(() => abort.abort())
  const response = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}`, ...headers }, signal: abort.signal })
  const events: SseEvent[] = []
  let ended = false
  let failure: unknown
  const decoder = new TextDecoder()
  const reading = (async () => {
    if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) return
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const fields = new Map<string, string>()
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue
          const colon = line.indexOf(':')
          fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''))
        }
        if (fields.size > 0) events.push({ id: fields.get('id'), event: fields.get('event') ?? 'message', data: JSON.parse(fields.get('data') ?? 'null') })
      }
    }
    ended = true
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) failure = error
  })
  return {
    response,
    events,
    get ended() {
      return ended
    },
    /** Waits until `count` events have arrived. */
    async received(count: number) {
      await until(() => events.length >= count || failure !== undefined, `${count} SSE events (have ${JSON.stringify(events)})`)
      if (failure) throw failure
      return events
    },
    async end() {
      await until(() => ended || failure !== undefined, 'the SSE stream to end')
      await reading
    },
    disconnect: () => abort.abort(),
  }
}

describe.each([
  ['in-process', {}],
  ['redis', { REDIS_URL: redisUrl }],
] as const)('live monitoring with the %s event bus', (busName, env) => {
  let server: TestServer
  let database: Database
  let datasetId: string
  let alice: Principal

  beforeAll(async () => {
    server = await startServer({ ...env })
    database = await createDatabase(`file:${server.dataDir}/training.db`)
    datasetId = await createDataset(server)
    await createDataset(server, { token: tokens.bob })
    alice = await server.app.services.auth.authenticate(`Bearer ${tokens.alice}`)
  })
  afterAll(async () => {
    await database?.close()
    await server?.close()
  })

  const monitoring = () => server.app.services.monitoring
  const publish = <T>(topic: Topic<T>, event: NoInfer<T>) => server.app.bus.publish(topic, event)

  async function createJob(name = 'live'): Promise<JobView> {
    const response = await server.request<{ job: JobView }>('POST', '/v1/training/jobs', { json: jobRequest(datasetId, { name }) })
    expect(response.status, response.text).toBe(201)
    return response.body.data.job
  }

  const publishPoints = (jobId: string, points: MetricPointView[]) =>
    publish(topics.jobMetrics(jobId), {
      type: 'job.metrics',
      ownerId: alice.userId,
      jobId,
      points,
      emittedAt: new Date().toISOString(),
    } satisfies JobMetricsEvent)
  const publishLog = (jobId: string, log: JobLogView) =>
    publish(topics.jobLogs(jobId), { type: 'job.log', ownerId: alice.userId, jobId, log, emittedAt: new Date().toISOString() } satisfies JobLogEvent)

  /** Ends the job as the trainer does: the row first, then the update carrying the stored state. */
  async function complete(jobId: string, status: 'completed' | 'failed' = 'completed'): Promise<JobView> {
    const now = new Date()
    await database.db.job.update({ where: { id: jobId }, data: { status, startedAt: new Date(now.getTime() - 1000), completedAt: now } })
    const job = await server.app.services.jobs.get(alice, jobId)
    await publish(topics.job(jobId), { type: 'job.updated', ownerId: alice.userId, job } satisfies JobUpdatedEvent)
    return job
  }

  /** Subscriptions to the job's channels that Redis itself counts (0 once every feed let go). */
  async function redisSubscribers(jobId: string): Promise<number> {
    const redis = new Redis(redisUrl)
    try {
      const channels = [topics.job(jobId), topics.jobMetrics(jobId), topics.jobLogs(jobId)].map((topic) => channelPrefix + topic)
      const counts = (await redis.pubsub('NUMSUB', ...channels)) as (string | number)[]
      return counts.filter((_, i) => i % 2 === 1).reduce<number>((sum, n) => sum + Number(n), 0)
    } finally {
      redis.disconnect()
    }
  }

  describe('subscription jobMetrics', () => {
    it('sends one result per point in step order, only the names asked for, and completes after the job ends', async () => {
      const job = await createJob()
      const ws = createWsClient(server, { token: tokens.alice })
      await ws.connected
      const before = monitoring().watching()
      const subscription = tsubscribe(ws.client, SubJobMetrics, { id: job.id, names: ['trainLoss', 'valLoss'] })
      await until(() => monitoring().watching() > before, 'the subscription to reach the bus')

      await publishPoints(job.id, [point('trainLoss', 1, 0.9), point('learningRate', 1, 0.001), point('trainLoss', 2, 0.8)])
      await publishPoints(job.id, [point('trainLoss', 3, 0.7), point('valLoss', 3, 0.75)])
      await publishPoints(job.id, [point('learningRate', 4, 0.001)])
      // The last points go out right before the end: they must still arrive, before completion.
      await publishPoints(job.id, [point('trainLoss', 4, 0.6)])
      await complete(job.id)

      await subscription.waitForComplete()
      expect(subscription.results.map((result) => result.errors)).toEqual(subscription.results.map(() => undefined))
      expect(subscription.results.map((result) => result.data?.jobMetrics)).toEqual([
        { name: 'trainLoss', step: 1, epoch: 0.01, value: 0.9, timestamp: point('trainLoss', 1, 0).timestamp },
        { name: 'trainLoss', step: 2, epoch: 0.02, value: 0.8, timestamp: point('trainLoss', 2, 0).timestamp },
        { name: 'trainLoss', step: 3, epoch: 0.03, value: 0.7, timestamp: point('trainLoss', 3, 0).timestamp },
        { name: 'valLoss', step: 3, epoch: 0.03, value: 0.75, timestamp: point('valLoss', 3, 0).timestamp },
        { name: 'trainLoss', step: 4, epoch: 0.04, value: 0.6, timestamp: point('trainLoss', 4, 0).timestamp },
      ])
      await until(() => monitoring().watching() === before, 'the feed to close')
    })

    it('keeps the order of many points sent in quick succession', async () => {
      const job = await createJob('busy')
      const ws = createWsClient(server, { token: tokens.alice })
      await ws.connected
      const before = monitoring().watching()
      const subscription = tsubscribe(ws.client, SubJobMetrics, { id: job.id })
      await until(() => monitoring().watching() > before, 'the subscription to reach the bus')

      const sent: Promise<void>[] = []
      for (let step = 0; step < 200; step += 2) sent.push(publishPoints(job.id, [point('trainLoss', step, step), point('trainLoss', step + 1, step + 1)]))
      await Promise.all(sent)
      await complete(job.id)

      await subscription.waitForComplete()
      expect(subscription.results.map((result) => result.data?.jobMetrics.step)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    })

    it('completes at once, with nothing, for a job that has already ended', async () => {
      const job = await createJob('over')
      await complete(job.id, 'failed')
      const ws = createWsClient(server, { token: tokens.alice })
      const subscription = tsubscribe(ws.client, SubJobMetrics, { id: job.id })
      await subscription.waitForComplete()
      expect(subscription.results).toEqual([])
    })

    it.each([
      ["another user's job", tokens.bob, 'E1101'],
      ['a metric name the task does not have', tokens.alice, 'E1108'],
    ])('fails with the error code for %s', async (_case, token, code) => {
      const job = await createJob('guarded')
      const ws = createWsClient(server, { token })
      const subscription = tsubscribe(ws.client, SubJobMetrics, { id: job.id, names: code === 'E1108' ? ['valRmse'] : null })
      const end = await subscription.waitForEnd()
      const failure = end.completed ? subscription.results[0] : end.error
      const errors = Array.isArray(failure) ? failure : ((failure as { errors?: unknown[] }).errors ?? [])
      expect(errors.map((error) => (error as { extensions?: { code?: string } }).extensions?.code)).toEqual([code])
    })

    it('releases the bus when the client unsubscribes', async () => {
      const job = await createJob('left')
      const ws = createWsClient(server, { token: tokens.alice })
      await ws.connected
      const before = monitoring().watching()
      const subscription = tsubscribe(ws.client, SubJobMetrics, { id: job.id })
      await until(() => monitoring().watching() > before, 'the subscription to reach the bus')
      if (busName === 'redis') expect(await redisSubscribers(job.id)).toBe(2)

      subscription.dispose()
      await until(() => monitoring().watching() === before, 'the feed to close')
      if (busName === 'redis') await until(async () => (await redisSubscribers(job.id)) === 0, 'Redis to drop the channels')
    })
  })

  describe('subscription jobLogs', () => {
    it('sends lines at minLevel and above, in order, and completes after the job ends', async () => {
      const job = await createJob('chatty')
      const ws = createWsClient(server, { token: tokens.alice })
      await ws.connected
      const before = monitoring().watching()
      const warnings = tsubscribe(ws.client, SubJobLogs, { id: job.id, minLevel: 'warn' })
      const byDefault = tsubscribe(ws.client, SubJobLogs, { id: job.id })
      await until(() => monitoring().watching() >= before + 2, 'both subscriptions to reach the bus')

      await publishLog(job.id, logLine('debug', 'tensor shapes'))
      await publishLog(job.id, { ...logLine('info', 'Epoch 1/2', 10), metrics: { trainLoss: 0.5 } })
      await publishLog(job.id, logLine('warn', 'slow step'))
      await publishLog(job.id, logLine('error', 'NaN loss', 11))
      await complete(job.id, 'failed')

      await Promise.all([warnings.waitForComplete(), byDefault.waitForComplete()])
      expect(warnings.results.map((result) => result.data?.jobLogs.message)).toEqual(['slow step', 'NaN loss'])
      expect(byDefault.results.map((result) => result.data?.jobLogs)).toEqual([
        { level: 'info', message: 'Epoch 1/2', step: 10, metrics: { trainLoss: 0.5 } },
        { level: 'warn', message: 'slow step', step: null, metrics: null },
        { level: 'error', message: 'NaN loss', step: 11, metrics: null },
      ])
    })
  })

  describe('GET /v1/training/jobs/{jobId}/events (Server-Sent Events)', () => {
    it('sends the current state first, then metrics and logs as they come, the final state, and ends', async () => {
      const job = await createJob('streamed')
      const before = monitoring().watching()
      const stream = await openEvents(server, `/v1/training/jobs/${job.id}/events?metrics=trainLoss&level=warn`)
      expect(stream.response.status).toBe(200)
      expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      expect(stream.response.headers.get('cache-control')).toContain('no-cache')
      const [first] = await stream.received(1)
      expect(first).toEqual({ id: '1', event: 'job', data: expect.objectContaining({ id: job.id, status: 'pending' }) })

      await publishPoints(job.id, [point('trainLoss', 1, 0.9), point('learningRate', 1, 0.001)])
      await publishLog(job.id, logLine('info', 'not at warn'))
      await publishPoints(job.id, [point('learningRate', 2, 0.001)])
      await publishLog(job.id, logLine('warn', 'slow'))
      await publishPoints(job.id, [point('trainLoss', 2, 0.8)])
      const final = await complete(job.id)

      await stream.end()
      expect(stream.events.map((event) => event.id)).toEqual(['1', '2', '3', '4', '5'])
      expect(stream.events.slice(1)).toEqual([
        { id: '2', event: 'metrics', data: { jobId: job.id, points: [point('trainLoss', 1, 0.9)], emittedAt: expect.any(String) } },
        { id: '3', event: 'log', data: expect.objectContaining({ level: 'warn', message: 'slow', step: null, epoch: null, metrics: null }) },
        { id: '4', event: 'metrics', data: { jobId: job.id, points: [point('trainLoss', 2, 0.8)], emittedAt: expect.any(String) } },
        { id: '5', event: 'job', data: final },
      ])
      await until(() => monitoring().watching() === before, 'the feed to close')
    })

    it('sends an ended job once and ends; a reconnecting EventSource (Last-Event-ID) gets 204 to stop it', async () => {
      const job = await createJob('finished')
      const final = await complete(job.id)
      const stream = await openEvents(server, `/v1/training/jobs/${job.id}/events`)
      await stream.end()
      expect(stream.events).toEqual([{ id: '1', event: 'job', data: final }])

      const again = await openEvents(server, `/v1/training/jobs/${job.id}/events`, tokens.alice, { 'last-event-id': '1' })
      expect(again.response.status).toBe(204)
    })

    it('releases the bus subscriptions when the client disconnects', async () => {
      const job = await createJob('abandoned')
      const before = monitoring().watching()
      const stream = await openEvents(server, `/v1/training/jobs/${job.id}/events`)
      await stream.received(1)
      expect(monitoring().watching()).toBe(before + 1)
      if (busName === 'redis') expect(await redisSubscribers(job.id)).toBe(3)

      stream.disconnect()
      await until(() => monitoring().watching() === before, 'the feed to close')
      if (busName === 'redis') await until(async () => (await redisSubscribers(job.id)) === 0, 'Redis to drop the channels')
      // Events after the client left go nowhere and break nothing.
      await publishPoints(job.id, [point('trainLoss', 1, 1)])
      expect((await server.request('GET', '/healthz')).status).toBe(200)
    })

    it('ends the stream when the server stops, so that stopping does not wait on the client', async () => {
      const other = await startServer({ ...env })
      let stopped = false
      onTestFinished(async () => {
        if (!stopped) await other.close()
      })
      const dataset = await createDataset(other)
      const created = await other.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(dataset) })
      const stream = await openEvents(other, `/v1/training/jobs/${created.body.data.job.id}/events`)
      await stream.received(1)

      await other.close()
      stopped = true
      await stream.end()
      expect(stream.events.map((event) => event.event)).toEqual(['job'])
    })

    it.each([
      ["another user's job", tokens.bob, '', 404, 'E1101'],
      ['an unknown token', 'not-a-token', '', 401, 'E1100'],
      ['an unknown level', tokens.alice, '?level=loud', 400, 'E1108'],
      ['an unknown metric', tokens.alice, '?metrics=valRmse', 400, 'E1108'],
      ['an unknown parameter', tokens.alice, '?since=1', 400, 'E1108'],
    ])('answers %s with a JSON error, not a stream', async (_case, token, query, status, code) => {
      const job = await createJob('refused')
      const response = await server.request('GET', `/v1/training/jobs/${job.id}/events${query}`, { token })
      expect(response.status).toBe(status)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      expect(response.body.error.code).toBe(code)
    })
  })
})
