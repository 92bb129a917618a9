// `npm run worker` as its own process beside an API process (TRAINER=off),
// sharing DATA_DIR, the database and Redis: the worker trains, its events
// reach the API's subscribers, and a worker killed mid-job (SIGKILL, no
// chance to clean up) has its job resumed from the last checkpoint by the
// next worker.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/server.ts'
import { regressionCsv } from '../helpers/training-data.ts'
import { createJob, getJob, logsOf, trainingRequest, uploadCsv, waitForJob } from '../helpers/training.ts'

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
      trainingRequest(dataset, { baseModel: 'tabular-mlp', task: 'tabular-regression' }, {
        dataset: { id: dataset, labelColumn: 'y' },
        hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 6 },
        output: { checkpointInterval: 100 },
      }),
    )
    expect(created.status).toBe('pending')
    const first = startWorker()
    // Checkpoints exist and the job is well under way.
    await waitForJob(server, created.id, (job) => job.status === 'running' && (job.progress.step ?? 0) >= 100, 60_000)
    await expect
      .poll(async () => ((await server.request('GET', `/v1/training/jobs/${created.id}/checkpoints`)).body.data.checkpoints as unknown[]).length, { timeout: 20_000 })
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
      trainingRequest(dataset, { baseModel: 'tabular-mlp', task: 'tabular-regression' }, {
        dataset: { id: dataset, labelColumn: 'y' },
        hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 4 },
        output: { checkpointInterval: 500 },
      }),
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
})
