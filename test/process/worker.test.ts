// `npm run worker` as its own process beside an API process (TRAINER=off),
// sharing DATA_DIR, the database and Redis: the worker trains, its events
// reach the API's subscribers, and a worker killed mid-job (SIGKILL, no
// chance to clean up) has its job resumed from the last checkpoint by the
// next worker.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/server.ts'
import { regressionCsv, tabularClassesCsv } from '../helpers/training-data.ts'
import { createJob, getJob, logsOf, trainingRequest, uploadCsv, waitForJob } from '../helpers/training.ts'
import type { CheckpointsReply, TuningReply } from '../helpers/replies.ts'

const projectRoot = path.resolve(import.meta.dirname, '../..')
const redisUrl = 'redis://127.0.0.1:6379'
const workers = new Set<ChildProcess>()
let server: TestServer

function startWorker(): ChildProcess {
  const worker = spawn(process.execPath, ['--import', 'tsx', 'trainer/main.ts'], {
    cwd: projectRoot,
    env: { ...process.env, DATA_DIR: server.dataDir, REDIS_URL: redisUrl, LOG_LEVEL: 'warn', TRAINER_CONCURRENCY: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  workers.add(worker)
  worker.on('exit', () => workers.delete(worker))
  return worker
}

/** Stops every worker (SIGTERM, as a supervisor would) and waits until they have exited. */
async function stopWorkers() {
  await Promise.all(
    [...workers].map(async (worker) => {
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      worker.kill('SIGTERM')
      await exited
    }),
  )
}

beforeAll(async () => {
  server = await startServer({ TRAINER: 'off', REDIS_URL: redisUrl })
})
afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL')
  await server?.close()
})

describe('npm run worker', { timeout: 240_000 }, () => {
  it('resumes a job from its last checkpoint after the worker holding it is killed', async () => {
    const dataset = await uploadCsv(server, regressionCsv(1500), 'tabular')
    const created = await createJob(
      server,
      trainingRequest(
        dataset,
        { baseModel: 'tabular-mlp', task: 'tabular-regression' },
        {
          dataset: { id: dataset, labelColumn: 'y' },
          hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 6 },
          output: { checkpointInterval: 100 },
        },
      ),
    )
    expect(created.status).toBe('pending')
    const first = startWorker()
    // Checkpoints exist and the job is well under way.
    await waitForJob(server, created.id, (job) => job.status === 'running' && (job.progress.step ?? 0) >= 100, 60_000)
    await expect
      .poll(async () => (await server.request<CheckpointsReply>('GET', `/v1/training/jobs/${created.id}/checkpoints`)).body.data.checkpoints.length, {
        timeout: 20_000,
      })
      .toBeGreaterThan(0)
    first.kill('SIGKILL')
    await new Promise((resolve) => first.once('exit', resolve))
    const stuck = await getJob(server, created.id)
    expect(stuck.status).toBe('running')

    startWorker()
    const job = await waitForJob(server, created.id, undefined, 120_000)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    const logs = await logsOf(server, job.id)
    expect(logs.find((log) => log.level === 'warn' && /stopped responding.*resumes from its last checkpoint/.test(log.message))).toBeTruthy()
    const resumed = logs.find((log) => /Resuming from checkpoint/.test(log.message))
    expect(resumed?.step).toBeGreaterThan(0)
    await stopWorkers()
  })

  it('checkpoints running jobs and queues them again when the worker is stopped with SIGTERM; the next worker resumes them', async () => {
    await stopWorkers()
    const dataset = await uploadCsv(server, regressionCsv(1500), 'tabular')
    const created = await createJob(
      server,
      trainingRequest(
        dataset,
        { baseModel: 'tabular-mlp', task: 'tabular-regression' },
        {
          dataset: { id: dataset, labelColumn: 'y' },
          hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 4 },
          output: { checkpointInterval: 500 },
        },
      ),
    )
    const first = startWorker()
    await waitForJob(server, created.id, (job) => job.status === 'running' && (job.progress.step ?? 0) >= 50, 60_000)
    first.kill('SIGTERM')
    const exit = await new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)))
    expect(exit).toBe(0)
    const queued = await getJob(server, created.id)
    expect(queued.status).toBe('pending')
    const logs = await logsOf(server, created.id)
    const shutdown = logs.find((log) => /Trainer shutting down: checkpointed at step \d+ and queued again/.test(log.message))
    expect(shutdown).toBeTruthy()

    startWorker()
    const job = await waitForJob(server, created.id, undefined, 120_000)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    const resumed = (await logsOf(server, job.id)).find((log) => /Resuming from checkpoint/.test(log.message))
    expect(resumed?.step).toBe(shutdown!.step)
  })

  it('continues a tuning after the worker driving it is killed: completed trials kept, the running one resumed', async () => {
    await stopWorkers()
    const dataset = await uploadCsv(server, tabularClassesCsv(600), 'tabular')
    const created = await server.request<TuningReply>('POST', '/v1/training/tuning', {
      json: {
        name: 'survives-a-crash',
        baseJob: {
          name: 'base',
          model: { baseModel: 'tabular-mlp', task: 'tabular-classification' },
          dataset: { id: dataset },
          hyperparameters: { learningRate: 0.02, batchSize: 4, epochs: 6, hiddenSize: 16 },
          resources: { instanceType: 'cpu.small' },
          output: { checkpointInterval: 40 },
        },
        parameters: { learningRate: { type: 'float', min: 0.005, max: 0.05, scale: 'log' } },
        strategy: { type: 'random', maxTrials: 3, parallelTrials: 1, seed: 21 },
        objective: { metric: 'valAccuracy', direction: 'maximize' },
      },
    })
    expect(created.status, created.text).toBe(201)
    const id = created.body.data.tuning.id
    const tuningOf = async () => (await server.request<TuningReply>('GET', `/v1/training/tuning/${id}`)).body.data.tuning
    const first = startWorker()
    // Trial 1 done, trial 2 well into training (past a checkpoint).
    await expect
      .poll(
        async () => {
          const tuning = await tuningOf()
          const second = tuning.trials[1]
          if (tuning.trials[0]?.status !== 'completed' || second?.status !== 'running') return false
          const checkpoints = (await server.request<CheckpointsReply>('GET', `/v1/training/jobs/${second.jobId}/checkpoints`)).body.data.checkpoints
          return checkpoints.length > 0
        },
        { timeout: 90_000, interval: 200 },
      )
      .toBe(true)
    first.kill('SIGKILL')
    await new Promise((resolve) => first.once('exit', resolve))
    const before = await tuningOf()
    expect(before.status).toBe('running')

    startWorker()
    let after = await tuningOf()
    const deadline = Date.now() + 150_000
    while (!['completed', 'failed', 'cancelled'].includes(after.status) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      after = await tuningOf()
    }
    expect(after.status, JSON.stringify({ error: after.error, trials: after.trials })).toBe('completed')
    expect(after.trials).toHaveLength(3)
    expect(after.trials.every((trial: { status: string }) => trial.status === 'completed')).toBe(true)
    // The same trials: the completed one untouched, the interrupted one resumed in the same job from its checkpoint.
    expect(after.trials[0]).toMatchObject({
      id: before.trials[0].id,
      jobId: before.trials[0].jobId,
      completedAt: before.trials[0].completedAt,
      objectiveValue: before.trials[0].objectiveValue,
    })
    expect(after.trials[1]).toMatchObject({ id: before.trials[1].id, jobId: before.trials[1].jobId, parameters: before.trials[1].parameters })
    expect(after.trials[1].intermediate.map((point: { epoch: number }) => point.epoch)).toEqual([1, 2, 3, 4, 5, 6])
    const resumed = (await logsOf(server, before.trials[1].jobId!)).find((log) => /Resuming from checkpoint/.test(log.message))
    expect(resumed?.step).toBeGreaterThan(0)
    await stopWorkers()
  })
})
