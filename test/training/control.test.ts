// Stopping, time limits, retries and fine-tuning of real training jobs.
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/server.ts'
import { learnableTextCsv, regressionCsv } from '../helpers/training-data.ts'
import { createJob, logsOf, trainingRequest, uploadCsv, waitForJob } from '../helpers/training.ts'
import type { CheckpointsReply, MetricsReply, StopReply } from '../helpers/replies.ts'

let server: TestServer
let regression: string
let text: string

beforeAll(async () => {
  server = await startServer({ TRAINER: 'embedded', TRAINER_CONCURRENCY: '2', LOG_LEVEL: 'error' })
  regression = await uploadCsv(server, regressionCsv(2000), 'tabular')
  text = await uploadCsv(server, learnableTextCsv(240), 'text')
})
afterAll(() => server?.close())

/** A regression job long enough to act on while it runs. */
const longJob = (extra: Record<string, unknown> = {}) =>
  trainingRequest(
    regression,
    { baseModel: 'tabular-mlp', task: 'tabular-regression' },
    {
      dataset: { id: regression, labelColumn: 'y' },
      hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 500 },
      output: { checkpointInterval: 20 },
      ...extra,
    },
  )

const checkpointsOf = async (id: string) => (await server.request<CheckpointsReply>('GET', `/v1/training/jobs/${id}/checkpoints`)).body.data.checkpoints

/** Pids of this process's training child processes. */
function trainingChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
  return out
    .split('\n')
    .filter((line) => line.includes('worker/child.ts'))
    .map((line) => Number(line.trim().split(/\s+/)[0]))
}

describe('job control', { timeout: 180_000 }, () => {
  it('stops a running job at the next step: cancelled, with a checkpoint', async () => {
    const created = await createJob(server, longJob())
    await waitForJob(server, created.id, (job) => (job.progress.step ?? 0) >= 30)
    const stop = await server.request<StopReply>('POST', `/v1/training/jobs/${created.id}/stop`)
    expect(stop.status, stop.text).toBe(200)
    expect(['stopping', 'cancelled']).toContain(stop.body.data.job.status)
    const job = await waitForJob(server, created.id)
    expect(job.status).toBe('cancelled')
    expect(job.progress.percentage).toBeLessThan(100)
    const checkpoints = await checkpointsOf(job.id)
    expect(checkpoints.length).toBeGreaterThan(0)
    expect(checkpoints.at(-1)!.step).toBe(job.progress.step)
    const logs = await logsOf(server, job.id)
    expect(logs.at(-1)!.message).toMatch(/stopped.*request/i)
  })

  it('deleting a running job with force ends its training process and removes its checkpoints', async () => {
    const created = await createJob(server, longJob({ options: { seed: 5 } }))
    await waitForJob(server, created.id, (job) => (job.progress.step ?? 0) >= 30)
    await expect.poll(async () => (await checkpointsOf(created.id)).length, { timeout: 20_000 }).toBeGreaterThan(0)
    const folder = path.join(server.dataDir, 'checkpoints', created.id)
    expect(existsSync(folder)).toBe(true)
    const deleted = await server.request('DELETE', `/v1/training/jobs/${created.id}?force=true`)
    expect(deleted.status, deleted.text).toBe(200)
    expect((await server.request('GET', `/v1/training/jobs/${created.id}`)).status).toBe(404)
    // The trainer notices at its next heartbeat, kills the process and removes what it wrote meanwhile.
    await expect.poll(() => trainingChildren().length, { timeout: 15_000 }).toBe(0)
    await expect.poll(() => existsSync(folder), { timeout: 15_000 }).toBe(false)
  })

  it('ends a job that runs past options.maxRuntimeSeconds failed, saying so, with its checkpoint kept', async () => {
    const created = await createJob(server, longJob({ options: { seed: 1, maxRuntimeSeconds: 4 } }))
    const job = await waitForJob(server, created.id)
    expect(job.status).toBe('failed')
    expect(job.error).toMatchObject({ code: 'E1104' })
    expect(job.error!.message).toMatch(/maxRuntimeSeconds \(4 s\)/)
    expect((await checkpointsOf(job.id)).length).toBeGreaterThan(0)
  })

  it('retries a job whose training process died, from its last checkpoint (options.maxRetries)', async () => {
    const created = await createJob(server, longJob({ hyperparameters: { learningRate: 0.001, batchSize: 8, epochs: 5 }, options: { seed: 2, maxRetries: 1 } }))
    await waitForJob(server, created.id, (job) => (job.progress.step ?? 0) >= 60)
    await expect.poll(async () => (await checkpointsOf(created.id)).length, { timeout: 20_000 }).toBeGreaterThan(0)
    const children = trainingChildren()
    expect(children.length).toBeGreaterThan(0)
    for (const pid of children) process.kill(pid, 'SIGKILL')
    const job = await waitForJob(server, created.id)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    const logs = await logsOf(server, job.id)
    expect(logs.find((log) => log.level === 'warn' && /exited unexpectedly.*Retrying from the last checkpoint/.test(log.message))).toBeTruthy()
    expect(logs.find((log) => /Resuming from checkpoint/.test(log.message))).toBeTruthy()
  })

  it('fine-tunes from a completed job of the same user (model.baseModel = its id)', async () => {
    const base = await waitForJob(
      server,
      (await createJob(server, trainingRequest(text, { baseModel: 'text-bag-of-embeddings', task: 'text-classification' }))).id,
    )
    expect(base.status).toBe('completed')
    const tuned = await createJob(
      server,
      trainingRequest(text, { baseModel: base.id, task: 'text-classification' }, { hyperparameters: { learningRate: 0.005, batchSize: 16, epochs: 2 } }),
    )
    const job = await waitForJob(server, tuned.id)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    expect(job.model.architecture).toBe('bag-of-embeddings')
    const logs = await logsOf(server, job.id)
    expect(logs.find((log) => /Fine-tuning from/.test(log.message))).toBeTruthy()
    // Starting from trained weights, the first steps already do well.
    const first = (await server.request<MetricsReply>('GET', `/v1/training/jobs/${job.id}/metrics?metrics=trainAccuracy`)).body.data.metrics.trainAccuracy[0]
    expect(first.value).toBeGreaterThan(0.6)
  })
})

describe('memory limit', { timeout: 120_000 }, () => {
  let small: TestServer
  beforeAll(async () => {
    const dir = (await import('node:os')).tmpdir()
    const file = path.join(dir, `instance-types-${process.pid}.json`)
    // An instance type with 64 MiB: less than a Node.js process with TensorFlow.js needs.
    writeFileSync(
      file,
      JSON.stringify({
        instanceTypes: [
          {
            name: 'cpu.tiny',
            description: '1 vCPU, 64 MiB',
            vcpus: 1,
            memoryGb: 0.0625,
            gpus: 0,
            accelerator: null,
            pricePerHour: 0.01,
            capacity: 1,
            speedFactor: 1,
          },
        ],
      }),
    )
    small = await startServer({ TRAINER: 'embedded', INSTANCE_TYPES_FILE: file })
  })
  afterAll(() => small?.close())

  it("ends a job that outgrows its instance type's memory failed with E1104, saying out of memory", async () => {
    const dataset = await uploadCsv(small, regressionCsv(200), 'tabular')
    const created = await createJob(
      small,
      trainingRequest(
        dataset,
        { baseModel: 'tabular-mlp', task: 'tabular-regression' },
        { dataset: { id: dataset, labelColumn: 'y' }, resources: { instanceType: 'cpu.tiny' } },
      ),
    )
    const job = await waitForJob(small, created.id)
    expect(job.status).toBe('failed')
    expect(job.error!.code).toBe('E1104')
    expect(job.error!.message).toMatch(/out of memory.*0.0625 GiB of cpu.tiny/)
    const errors = await logsOf(small, job.id, 'level=error')
    expect(errors.at(-1)!.message).toMatch(/out of memory/)
  })
})
