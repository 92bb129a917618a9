// Live monitoring of real training over graphql-ws, with the in-process bus
// and with Redis: every metric point of a job arrives in step order, and the
// job's last jobUpdated event says it completed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createWsClient, tsubscribe } from '../helpers/ws.ts'
import { learnableTextCsv, regressionCsv } from '../helpers/training-data.ts'
import { createJob, trainingRequest, uploadCsv, waitForJob } from '../helpers/training.ts'

const LiveMetrics = graphql(`
  subscription LiveMetrics($id: ID!, $names: [String!]) {
    jobMetrics(id: $id, names: $names) {
      name
      step
      value
    }
  }
`)

const LiveBatches = graphql(`
  subscription LiveBatches($id: ID!) {
    jobMetricBatches(id: $id, names: ["trainLoss", "valLoss"]) {
      jobId
      emittedAt
      points {
        name
        step
        value
      }
    }
  }
`)

const LiveJob = graphql(`
  subscription LiveJob($id: ID!) {
    jobUpdated(id: $id) {
      id
      status
      progress {
        step
        totalSteps
        percentage
      }
    }
  }
`)

describe.each([
  { bus: 'in-process', env: {} as Record<string, string> },
  { bus: 'Redis', env: { REDIS_URL: 'redis://127.0.0.1:6379' } },
])('live training events ($bus bus)', { timeout: 180_000 }, ({ env }) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer({ TRAINER: 'embedded', TRAINER_CONCURRENCY: '1', ...env })
  })
  afterAll(() => server?.close())

  it('sends every jobMetrics point in step order and a final completed jobUpdated', async () => {
    const regression = await uploadCsv(server, regressionCsv(3000), 'tabular')
    const text = await uploadCsv(server, learnableTextCsv(150), 'text')
    // A job that holds the only slot, so the watched one is still queued while the subscriptions open.
    const blocker = await createJob(
      server,
      trainingRequest(
        regression,
        { baseModel: 'tabular-mlp', task: 'tabular-regression' },
        { dataset: { id: regression, labelColumn: 'y' }, hyperparameters: { batchSize: 4, epochs: 100 } },
      ),
    )
    await waitForJob(server, blocker.id, (job) => job.status === 'running')
    const watched = await createJob(
      server,
      trainingRequest(
        text,
        { baseModel: 'text-bag-of-embeddings', task: 'text-classification' },
        { hyperparameters: { learningRate: 0.01, batchSize: 8, epochs: 3 } },
      ),
    )
    expect(watched.status).toBe('pending')

    const client = createWsClient(server, { token: tokens.alice })
    const metrics = tsubscribe(client.client, LiveMetrics, { id: watched.id, names: ['trainLoss'] })
    const updates = tsubscribe(client.client, LiveJob, { id: watched.id })
    const batches = tsubscribe(client.client, LiveBatches, { id: watched.id })
    // All three subscriptions (jobUpdated included) are live on the bus before the watched job can start.
    await expect.poll(() => server.app.services.monitoring.watching(), { timeout: 10_000 }).toBe(3)

    await server.request('POST', `/v1/training/jobs/${blocker.id}/stop`)
    const job = await waitForJob(server, watched.id)
    expect(job.status).toBe('completed')
    await updates.waitForComplete()
    const states = updates.results.map((result) => result.data!.jobUpdated)
    expect(states.at(-1)).toMatchObject({ status: 'completed', progress: { percentage: 100 } })
    expect(states.some((state) => state.status === 'running')).toBe(true)

    await expect.poll(() => metrics.results.length, { timeout: 10_000 }).toBe(job.progress.totalSteps)
    const steps = metrics.results.map((result) => result.data!.jobMetrics.step)
    expect(steps).toEqual(Array.from({ length: job.progress.totalSteps! }, (_, i) => i + 1))
    expect(metrics.results.every((result) => result.data!.jobMetrics.name === 'trainLoss')).toBe(true)

    // The same points in batches, fewer results than points; validation points come once per epoch.
    await batches.waitForComplete()
    const batched = batches.results.flatMap((result) => result.data!.jobMetricBatches.points)
    expect(batched.filter((point) => point.name === 'trainLoss').map((point) => point.step)).toEqual(steps)
    expect(batched.filter((point) => point.name === 'valLoss')).toHaveLength(3)
    expect(batches.results.length).toBeLessThanOrEqual(batched.length)
  })
})
