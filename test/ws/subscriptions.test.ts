// GraphQL subscriptions through real transports: graphql-ws over WebSocket and
// Server-Sent Events (Yoga), once with the in-process event bus and once with
// Redis, where a second server process sharing the database and Redis proves
// that events cross processes.
//
// Synchronisation: a subscription is "live" once the server has subscribed to
// the bus, which no protocol message reports. `untilDelivering` publishes a
// probe event on the real bus (as the trainer publishes progress) until the
// subscription reports one; probes are dropped before any assertion.
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { graphql } from '../gql/index.ts'
import { createDataset, jobRequest } from '../helpers/data.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createWsClient, sseSubscribe, tsubscribe, untilDelivering } from '../helpers/ws.ts'
import { createDatabase } from '../../src/infra/db.ts'
import { topics, type JobUpdatedEvent, type Topic } from '../../src/events/index.ts'
import { createJobLifecycle } from '../../src/core/job-lifecycle.ts'
import { createMemoryEventBus } from '../../src/infra/event-bus.ts'
import type { Db } from '../../src/infra/db.ts'
import type { StopReply } from '../helpers/replies.ts'

/** Claims the next job as another trainer process would (its job.updated event stays on a bus of its own). */
const claimNextJob = (db: Db, workerId: string, available: ReadonlyMap<string, number>) =>
  createJobLifecycle({ db, bus: createMemoryEventBus(), instanceTypes: [] }).claimNext(workerId, available)

const SubJobUpdated = graphql(`
  subscription SubJobUpdated($id: ID!) {
    jobUpdated(id: $id) {
      id
      name
      owner
      status
      stoppedAt
      completedAt
    }
  }
`)

const SubMyJobs = graphql(`
  subscription SubMyJobs {
    myJobs {
      id
      name
      owner
      status
    }
  }
`)

const redisUrl = 'redis://127.0.0.1:6379'

type JobView = JobUpdatedEvent['job']

/** Creates a pending job through REST and returns its view (the same JSON the events carry). */
async function createJob(server: TestServer, datasetId: string, token: string = tokens.alice, overrides: Record<string, unknown> = {}): Promise<JobView> {
  const response = await server.request<{ job: JobView }>('POST', '/v1/training/jobs', { token, json: jobRequest(datasetId, overrides) })
  expect(response.status, response.text).toBe(201)
  return response.body.data.job
}

async function stopJob(server: TestServer, id: string, token: string = tokens.alice) {
  const response = await server.request<StopReply>('POST', `/v1/training/jobs/${id}/stop`, { token })
  expect(response.status, response.text).toBe(200)
  return response.body.data.job as { id: string; status: string; stoppedAt: string }
}

async function userIdOf(server: TestServer, token: string): Promise<string> {
  return (await server.app.services.auth.authenticate(`Bearer ${token}`)).userId
}

/** Publishes on `server`'s own bus (in-process, or Redis when REDIS_URL is set). */
function publisher(server: TestServer, topic: Topic<JobUpdatedEvent>) {
  return (event: JobUpdatedEvent) => server.app.bus.publish(topic, event)
}

/** The GraphQL error code a failed subscription reported, whichever way the transport carried it. */
function errorCodes(failure: unknown): unknown[] {
  const errors = Array.isArray(failure) ? failure : ((failure as { errors?: unknown[] })?.errors ?? [failure])
  return errors.map((error) => (error as { extensions?: { code?: unknown } })?.extensions?.code)
}

describe.each([
  ['in-process', {}],
  ['redis', { REDIS_URL: redisUrl }],
] as const)('subscriptions with the %s event bus', (busName, env) => {
  let server: TestServer
  let aliceDataset: string
  let bobDataset: string
  let aliceId: string

  beforeAll(async () => {
    server = await startServer({ ...env })
    aliceDataset = await createDataset(server)
    bobDataset = await createDataset(server, { token: tokens.bob })
    aliceId = await userIdOf(server, tokens.alice)
  })

  afterAll(async () => {
    await server?.close()
  })

  it('jobUpdated (connectionParams auth) sends cancelled after a REST stop, then completes', async () => {
    const job = await createJob(server, aliceDataset)
    const ws = createWsClient(server, { token: tokens.alice })
    await ws.connected
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), job, aliceId)

    const stopped = await stopJob(server, job.id)
    expect(stopped.status).toBe('cancelled')

    const result = await subscription.waitForNext()
    expect(result.errors).toBeUndefined()
    expect(result.data?.jobUpdated).toEqual({
      id: job.id,
      name: 'job',
      owner: 'alice',
      status: 'cancelled',
      stoppedAt: stopped.stoppedAt,
      completedAt: expect.any(String),
    })
    await subscription.waitForComplete()
    expect(subscription.results).toHaveLength(1)
  })

  it('jobUpdated accepts the token in the Authorization header of the WebSocket upgrade', async () => {
    const job = await createJob(server, aliceDataset)
    const ws = createWsClient(server, { token: null, headers: { authorization: `Bearer ${tokens.alice}` } })
    await ws.connected
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), job, aliceId)

    await stopJob(server, job.id)

    expect((await subscription.waitForNext()).data?.jobUpdated).toMatchObject({ id: job.id, status: 'cancelled' })
    await subscription.waitForComplete()
  })

  it.each([
    ['an unknown token', { token: 'not-a-token' }],
    ['no credentials at all', { token: null }],
    ['an unknown token in the upgrade header', { token: null, headers: { authorization: 'Bearer not-a-token' } }],
  ])('closes the socket with 4403 Forbidden for %s', async (_case, options) => {
    const ws = createWsClient(server, options)
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: 'job-whatever' })

    expect((await ws.closed).code).toBe(4403)
    expect(await subscription.waitForError()).toMatchObject({ code: 4403 })
    expect(subscription.results).toEqual([])
  })

  it.each([
    ["another user's job", true],
    ['a job id that does not exist', false],
  ])('answers E1101 when subscribing to %s', async (_case, exists) => {
    const id = exists ? (await createJob(server, aliceDataset)).id : 'job-doesnotexist'
    const ws = createWsClient(server, { token: tokens.bob })
    await ws.connected
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id })

    // graphql-ws may carry a failed subscribe as a `next` with errors then `complete`, or as an `error` message.
    const end = await subscription.waitForEnd()
    if (end.completed) expect(subscription.results).toHaveLength(1)
    const failure = end.completed ? subscription.results[0] : end.error
    expect(errorCodes(failure)).toEqual(['E1101'])
    // Nothing of the job leaks.
    expect(JSON.stringify(failure)).not.toContain('"status"')
  })

  it('sends an already-cancelled job once with its final state, then completes', async () => {
    const job = await createJob(server, aliceDataset)
    const stopped = await stopJob(server, job.id)
    const ws = createWsClient(server, { token: tokens.alice })
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })

    const result = await subscription.waitForNext()
    expect(result.data?.jobUpdated).toEqual({
      id: job.id,
      name: 'job',
      owner: 'alice',
      status: 'cancelled',
      stoppedAt: stopped.stoppedAt,
      completedAt: expect.any(String),
    })
    await subscription.waitForComplete()
    expect(subscription.results).toHaveLength(1)
  })

  it('jobUpdated sends stopping for a running job, keeps the stream open, then cancelled on a forced delete and completes', async () => {
    // Highest priority, so that the claim below takes this job and not another test's pending one.
    const job = await createJob(server, aliceDataset, tokens.alice, { name: 'running', priority: 1000 })
    const database = await createDatabase(`file:${server.dataDir}/training.db`)
    try {
      const claimed = await claimNextJob(database.db, 'test-worker', new Map([['cpu.small', 1]]))
      expect(claimed?.id).toBe(job.id)
    } finally {
      await database.close()
    }
    const ws = createWsClient(server, { token: tokens.alice })
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), { ...job, status: 'running' }, aliceId)

    expect((await stopJob(server, job.id)).status).toBe('stopping')
    expect((await subscription.waitForNext()).data?.jobUpdated).toMatchObject({ id: job.id, status: 'stopping' })

    const deleted = await server.request('DELETE', `/v1/training/jobs/${job.id}?force=true`)
    expect(deleted.status, deleted.text).toBe(200)
    // Had the stream completed after `stopping`, this would fail with "completed instead".
    expect((await subscription.waitForNext()).data?.jobUpdated).toMatchObject({ id: job.id, status: 'cancelled' })
    await subscription.waitForComplete()
    expect(subscription.results.map((result) => result.data?.jobUpdated.status)).toEqual(['stopping', 'cancelled'])
  })

  it('jobUpdated sends the final cancelled state (stoppedAt and completedAt set) when a pending job is deleted, then completes', async () => {
    const job = await createJob(server, aliceDataset)
    const ws = createWsClient(server, { token: tokens.alice })
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), job, aliceId)

    const deleted = await server.request('DELETE', `/v1/training/jobs/${job.id}`)
    expect(deleted.status, deleted.text).toBe(200)

    // The event is the job's last word: it must agree with what the database now holds (cancelled at deletion).
    expect((await subscription.waitForNext()).data?.jobUpdated).toEqual({
      id: job.id,
      name: 'job',
      owner: 'alice',
      status: 'cancelled',
      stoppedAt: expect.any(String),
      completedAt: expect.any(String),
    })
    await subscription.waitForComplete()
  })

  it("myJobs sends the viewer's jobs created after subscribing and never another user's", async () => {
    // A job of each user to model the probes on (created before subscribing: not part of the streams).
    const aliceSeed = await createJob(server, aliceDataset, tokens.alice, { name: 'alice-seed' })
    const bobSeed = await createJob(server, bobDataset, tokens.bob, { name: 'bob-seed' })
    const bobId = await userIdOf(server, tokens.bob)
    const aliceWs = createWsClient(server, { token: tokens.alice })
    const bobWs = createWsClient(server, { token: tokens.bob })
    const aliceJobs = tsubscribe(aliceWs.client, SubMyJobs, {})
    const bobJobs = tsubscribe(bobWs.client, SubMyJobs, {})
    await untilDelivering(aliceJobs, publisher(server, topics.userJobs(aliceId)), aliceSeed, aliceId)
    await untilDelivering(bobJobs, publisher(server, topics.userJobs(bobId)), bobSeed, bobId)

    // Published in this order, and both buses keep order: a leak would arrive before the viewer's own event.
    const bobJob = await createJob(server, bobDataset, tokens.bob, { name: 'bob-job' })
    const aliceJob = await createJob(server, aliceDataset, tokens.alice, { name: 'alice-job' })
    await stopJob(server, bobJob.id, tokens.bob)

    expect((await aliceJobs.waitForNext()).data?.myJobs).toEqual({ id: aliceJob.id, name: 'alice-job', owner: 'alice', status: 'pending' })
    expect((await bobJobs.waitForNext()).data?.myJobs).toEqual({ id: bobJob.id, name: 'bob-job', owner: 'bob', status: 'pending' })
    expect((await bobJobs.waitForNext()).data?.myJobs).toEqual({ id: bobJob.id, name: 'bob-job', owner: 'bob', status: 'cancelled' })
    expect(aliceJobs.results).toHaveLength(1)
    expect(aliceJobs.completed).toBe(false)
  })

  it('jobUpdated over Server-Sent Events (Accept: text/event-stream) sends cancelled after a stop, then completes', async () => {
    const job = await createJob(server, aliceDataset)
    const { subscription, status, contentType } = await sseSubscribe(server, SubJobUpdated, { id: job.id }, tokens.alice)
    expect(status).toBe(200)
    expect(contentType).toMatch(/^text\/event-stream/)
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), job, aliceId)

    await stopJob(server, job.id)

    expect((await subscription.waitForNext()).data?.jobUpdated).toMatchObject({ id: job.id, owner: 'alice', status: 'cancelled' })
    await subscription.waitForComplete()
    expect(subscription.results).toHaveLength(1)
  })

  it('refuses an SSE subscription with an unknown token: 401, WWW-Authenticate: Bearer and an E1100 error', async () => {
    const { subscription, status, headers } = await sseSubscribe(server, SubMyJobs, {}, 'not-a-token')
    expect(status).toBe(401)
    expect(headers.get('www-authenticate')).toMatch(/^Bearer/)
    const result = await subscription.waitForNext()
    expect(result.data ?? null).toBeNull()
    expect(errorCodes(result)).toEqual(['E1100'])
    await subscription.waitForComplete()
  })

  it.runIf(busName === 'redis')('delivers a stop made on one server process to a subscriber on another sharing the database and Redis', async () => {
    const other = await startServer({ REDIS_URL: redisUrl, DATABASE_URL: `file:${server.dataDir}/training.db` })
    onTestFinished(() => other.close())
    const job = await createJob(server, aliceDataset)
    const ws = createWsClient(other, { token: tokens.alice })
    const subscription = tsubscribe(ws.client, SubJobUpdated, { id: job.id })
    // Probes go out through the first server's Redis connection: they cross processes as the stop will.
    await untilDelivering(subscription, publisher(server, topics.job(job.id)), job, aliceId)

    await stopJob(server, job.id)

    expect((await subscription.waitForNext()).data?.jobUpdated).toMatchObject({ id: job.id, owner: 'alice', status: 'cancelled' })
    await subscription.waitForComplete()
    expect(subscription.results).toHaveLength(1)
  })
})
