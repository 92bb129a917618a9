// Helpers for suites that run real training through the API.
import { expect } from 'vitest'
import { createDataset } from './data.ts'
import { tokens, type TestServer } from './server.ts'
import type { JobReply, JobView, LogsReply, MetricsReply } from './replies.ts'

export const endedStatuses = ['completed', 'failed', 'cancelled']

/** A job as GET /v1/training/jobs/:id answers it. */
export type JobJson = JobView

export async function getJob(server: TestServer, id: string, token: string = tokens.alice): Promise<JobJson> {
  const response = await server.request<JobReply>('GET', `/v1/training/jobs/${id}`, { token })
  expect(response.status, response.text).toBe(200)
  return response.body.data.job
}

/** Polls the job until `done` holds (default: the job ended); fails with the job's last state on timeout. */
export async function waitForJob(
  server: TestServer,
  id: string,
  done: (job: JobJson) => boolean = (job) => endedStatuses.includes(job.status),
  timeoutMs = 120_000,
): Promise<JobJson> {
  const deadline = Date.now() + timeoutMs
  let job: JobJson
  for (;;) {
    job = await getJob(server, id)
    if (done(job)) return job
    if (Date.now() > deadline)
      throw new Error(
        `job ${id} did not reach the expected state in ${timeoutMs} ms; last state: ${JSON.stringify({ status: job.status, progress: job.progress, error: job.error })}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

export async function createJob(server: TestServer, body: Record<string, unknown>, token: string = tokens.alice): Promise<JobJson> {
  const response = await server.request<JobReply>('POST', '/v1/training/jobs', { token, json: body })
  expect(response.status, response.text).toBe(201)
  return response.body.data.job
}

export async function uploadCsv(server: TestServer, csv: string, type: string, fields: Record<string, string> = {}): Promise<string> {
  return createDataset(server, { content: csv, type, fields })
}

export async function logsOf(server: TestServer, id: string, query = 'level=debug&limit=1000'): Promise<LogsReply['logs']> {
  const response = await server.request<LogsReply>('GET', `/v1/training/jobs/${id}/logs?${query}`)
  expect(response.status, response.text).toBe(200)
  return response.body.data.logs
}

export async function metricsOf(server: TestServer, id: string, query = ''): Promise<MetricsReply['metrics']> {
  const response = await server.request<MetricsReply>('GET', `/v1/training/jobs/${id}/metrics${query ? `?${query}` : ''}`)
  expect(response.status, response.text).toBe(200)
  return response.body.data.metrics
}

/** A training request with small, fast defaults; `overrides` replace whole groups. */
export function trainingRequest(datasetId: string, model: { baseModel: string; task: string; architecture?: string }, overrides: Record<string, unknown> = {}) {
  return {
    name: `${model.baseModel}-test`,
    model,
    dataset: { id: datasetId, validationSplit: 0.15, testSplit: 0.15 },
    hyperparameters: { learningRate: 0.01, batchSize: 16, epochs: 8 },
    resources: { instanceType: 'cpu.small' },
    options: { seed: 42 },
    ...overrides,
  }
}
