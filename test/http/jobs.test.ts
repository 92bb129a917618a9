// Training jobs over REST (spec §1): create, get, list, stop and delete, the
// spec's example request, validation of every field, capacity and the queue.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createDataset, jobRequest, specJobRequest, tabularCsv } from '../helpers/data.ts'
import { createDatabase, type Database } from '../../src/infra/db.ts'
import { createJobLifecycle } from '../../src/core/job-lifecycle.ts'
import { createMemoryEventBus } from '../../src/infra/event-bus.ts'
import type { Db } from '../../src/infra/db.ts'
import type { JobDeleteReply, JobListReply, JobReply, StopReply } from '../helpers/replies.ts'

/** Claims the next job as another trainer process would (its job.updated event stays on a bus of its own). */
const claimNextJob = (db: Db, workerId: string, available: ReadonlyMap<string, number>) =>
  createJobLifecycle({ db, bus: createMemoryEventBus(), instanceTypes: [] }).claimNext(workerId, available)

let server: TestServer
let database: Database
let datasetId: string

// Fixed capacities, so queue estimates do not depend on this machine's cores.
const catalogFile = path.join(os.tmpdir(), `instance-types-${process.pid}.json`)
writeFileSync(
  catalogFile,
  JSON.stringify({
    instanceTypes: [
      { name: 'cpu.small', vcpus: 1, memoryGb: 2, pricePerHour: 0.05, capacity: 2, speedFactor: 0.5 },
      { name: 'cpu.large', vcpus: 2, memoryGb: 4, pricePerHour: 0.1, capacity: 1 },
      // Jobs claimed by the test's stand-in trainer use this type, so no other test's jobs are taken.
      { name: 'cpu.claimed', vcpus: 1, memoryGb: 2, pricePerHour: 0.05, capacity: 4 },
      // A GPU type stays at capacity 0 without a GPU backend, whatever the file says.
      { name: 'gpu.a100.large', vcpus: 8, memoryGb: 64, gpus: 1, accelerator: 'NVIDIA A100 40GB', pricePerHour: 3.67, capacity: 4 },
    ],
  }),
)

beforeAll(async () => {
  // No trainer runs here, and none counts as missing however long the suite takes: jobs keep their queue estimates.
  server = await startServer({ INSTANCE_TYPES_FILE: catalogFile, TRAINER_CONCURRENCY: '4', TRAINER_HEARTBEAT_TIMEOUT_SECONDS: '3600' })
  database = await createDatabase(`file:${server.dataDir}/training.db`)
  datasetId = await createDataset(server, { name: 'texts' })
})
afterAll(async () => {
  await database?.close()
  await server?.close()
})

const create = (body: unknown, token: string = tokens.alice) => server.request<JobReply>('POST', '/v1/training/jobs', { json: body, token })
const jobCount = async (token: string = tokens.alice) =>
  (await server.request<JobListReply>('GET', '/v1/training/jobs', { token })).body.data.pagination.total as number
const fields = (response: { body: { error: { details?: { field: string }[] } } }) => (response.body.error.details ?? []).map((d) => d.field)

describe('POST /v1/training/jobs', () => {
  it("accepts the spec's example request as written (dataset id and instance type changed) and queues it", async () => {
    const before = Date.now()
    const response = await create(specJobRequest(datasetId, 'cpu.large'))
    expect(response.status).toBe(201)
    expect(response.body.success).toBe(true)
    expect(response.body.message).toBe('训练任务创建成功')
    const { job } = response.body.data
    expect(job.id).toMatch(/^job-[a-z0-9]+$/)
    expect(job).toMatchObject({
      name: 'bert-fine-tuning',
      description: 'BERT模型微调任务',
      status: 'pending',
      model: { baseModel: 'bert-base-chinese', task: 'text-classification', architecture: 'transformer' },
      dataset: { id: datasetId, validationSplit: 0.2, testSplit: 0.1 },
      hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10, warmupSteps: 1000, weightDecay: 0.01, gradientClipping: 1 },
      resources: { instanceType: 'cpu.large', instanceCount: 1, distributed: false },
      output: { checkpointInterval: 1000, saveBestOnly: true, exportFormat: 'onnx' },
      options: { enableEarlyStopping: true, enableMixedPrecision: true, enableLogging: true },
    })
    const created = Date.parse(job.createdAt)
    expect(created).toBeGreaterThanOrEqual(before - 1000)
    expect(Date.parse(job.estimatedStartTime!)).toBeGreaterThanOrEqual(created)
    expect(Date.parse(job.estimatedCompletionTime!)).toBeGreaterThan(Date.parse(job.estimatedStartTime!))
    expect(Number.isInteger(job.options.seed)).toBe(true)
  })

  it('answers the example unchanged (gpu.a100.large) with 503 E1103 naming the available types when GPUs are absent', async () => {
    const defaults = await startServer()
    try {
      const id = await createDataset(defaults)
      const response = await defaults.request<JobReply>('POST', '/v1/training/jobs', { json: specJobRequest(id, 'gpu.a100.large') })
      expect(response.status).toBe(503)
      expect(response.body.error.code).toBe('E1103')
      expect(response.body.error.message).toMatch(/gpu\.a100\.large/)
      expect(response.body.error.message).toMatch(/available instance types: .*cpu\.small/)
      expect((await defaults.request<JobListReply>('GET', '/v1/training/jobs')).body.data.pagination.total).toBe(0)
    } finally {
      await defaults.close()
    }
  })

  it('rejects an unknown instance type with E1108 listing the known ones', async () => {
    const response = await create(jobRequest(datasetId, { resources: { instanceType: 'tpu.v5' } }))
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(response.body.error.details).toEqual([{ field: 'resources.instanceType', message: expect.stringContaining('cpu.small') }])
  })

  it('answers more instances than the type has here with 503 E1103', async () => {
    const response = await create(jobRequest(datasetId, { resources: { instanceType: 'cpu.large', instanceCount: 2, distributed: true } }))
    expect(response.status).toBe(503)
    expect(response.body.error.code).toBe('E1103')
  })

  it('names every offending field at once and creates nothing', async () => {
    const before = await jobCount()
    const response = await create({
      name: '  ',
      model: { baseModel: 'text-cnn', task: 'summarization', colour: 'red' },
      dataset: { id: datasetId, validationSplit: 1, testSplit: -0.1 },
      hyperparameters: { learningRate: 0, batchSize: 0, epochs: 2.5, weightDecay: -1, lrSchedule: 'sometimes', gradientClipping: 0 },
      resources: { instanceType: 'cpu.small', instanceCount: 2 },
      output: { checkpointInterval: 0 },
      options: { enableEarlyStopping: 'yes', maxRetries: 11 },
      unexpected: true,
    })
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(fields(response).sort()).toEqual(
      [
        'name',
        'model.task',
        'model.colour',
        'dataset.validationSplit',
        'dataset.testSplit',
        'hyperparameters.learningRate',
        'hyperparameters.batchSize',
        'hyperparameters.epochs',
        'hyperparameters.weightDecay',
        'hyperparameters.lrSchedule',
        'hyperparameters.gradientClipping',
        'resources.distributed',
        'output.checkpointInterval',
        'options.enableEarlyStopping',
        'options.maxRetries',
        'unexpected',
      ].sort(),
    )
    expect(await jobCount()).toBe(before)
  })

  it.each([
    ['batchSize of 0', { hyperparameters: { batchSize: 0 } }, 'hyperparameters.batchSize', /at least 1/],
    ['batchSize over the bound', { hyperparameters: { batchSize: 1_000_000 } }, 'hyperparameters.batchSize', /at most 65536/],
    ['fractional epochs', { hyperparameters: { epochs: 1.5 } }, 'hyperparameters.epochs', /integer/],
    ['negative learningRate', { hyperparameters: { learningRate: -0.1 } }, 'hyperparameters.learningRate', /greater than 0/],
    ['string learningRate', { hyperparameters: { learningRate: 'fast' } }, 'hyperparameters.learningRate', /number/],
    ['splits summing to 1', { dataset: { id: 'x', validationSplit: 0.5, testSplit: 0.5 } }, 'dataset.testSplit', /below 1/],
    ['an empty name', { name: '' }, 'name', /empty/],
    ['a missing resources group', { resources: undefined }, 'resources', /required/],
  ])('rejects %s with E1108 naming the field', async (_label, change, field, message) => {
    const response = await create({ ...jobRequest(datasetId), ...change })
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(response.body.error.details).toContainEqual({ field, message: expect.stringMatching(message) })
  })

  it('rejects an unknown base model without an architecture, listing the choices', async () => {
    const response = await create(jobRequest(datasetId, { model: { baseModel: 'gpt-3.5', task: 'text-classification' } }))
    expect(response.status).toBe(400)
    expect(response.body.error.details![0]).toEqual({ field: 'model.baseModel', message: expect.stringMatching(/text-cnn.*text-transformer-small/) })
  })

  it('rejects a built-in base model for another task and an architecture the task lacks', async () => {
    const wrongTask = await create(jobRequest(datasetId, { model: { baseModel: 'tabular-mlp', task: 'text-classification' } }))
    expect(fields(wrongTask)).toEqual(['model.baseModel'])
    const wrongArchitecture = await create(jobRequest(datasetId, { model: { baseModel: 'anything', task: 'text-classification', architecture: 'mlp' } }))
    expect(fields(wrongArchitecture)).toEqual(['model.architecture'])
  })

  it('rejects column roles the dataset cannot fill', async () => {
    const missing = await create(jobRequest(datasetId, { dataset: { id: datasetId, labelColumn: 'category', featureColumns: ['text', 'nope'] } }))
    expect(fields(missing).sort()).toEqual(['dataset.featureColumns[1]', 'dataset.labelColumn'])
    const tabular = await createDataset(server, { type: 'tabular', content: tabularCsv(20) })
    const stringLabel = await create({
      ...jobRequest(tabular),
      model: { baseModel: 'tabular-mlp', task: 'tabular-regression' },
      dataset: { id: tabular, labelColumn: 'flag' },
    })
    expect(stringLabel.body.error.details).toEqual([{ field: 'dataset.labelColumn', message: expect.stringMatching(/numeric label/) }])
  })

  it("answers an unknown or another user's dataset with 404 E1102", async () => {
    const bobs = await createDataset(server, { token: tokens.bob })
    for (const id of ['dataset-missing', bobs]) {
      const response = await create(jobRequest(id))
      expect(response.status).toBe(404)
      expect(response.body.error.code).toBe('E1102')
    }
  })

  it.each([
    ['malformed JSON', { body: '{"name": ', headers: { 'content-type': 'application/json' } }, /Malformed JSON/],
    ['an empty JSON body', { body: '', headers: { 'content-type': 'application/json' } }, /body is required/],
    ['text/plain', { body: 'name=x', headers: { 'content-type': 'text/plain' } }, /application\/json/],
    ['form-urlencoded', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, /application\/json/],
    ['a JSON array', { body: '[]', headers: { 'content-type': 'application/json' } }, /object/],
  ])('answers %s with 400 E1108 in the envelope, never a 500 or HTML', async (_label, options, message) => {
    const response = await server.request<JobReply>('POST', '/v1/training/jobs', options)
    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toMatch(/application\/json/)
    expect(response.body).toMatchObject({ success: false, error: { code: 'E1108', message: expect.stringMatching(message) } })
  })
})

describe('GET /v1/training/jobs/{id}', () => {
  it('returns every field group of §1.1 and §1.2, with nulls for what is not yet known', async () => {
    const created = (await create(jobRequest(datasetId, { name: 'shape' }))).body.data.job
    const response = await server.request<JobReply>('GET', `/v1/training/jobs/${created.id}`)
    expect(response.status).toBe(200)
    const { job } = response.body.data
    expect(job).toMatchObject({
      id: created.id,
      name: 'shape',
      status: 'pending',
      progress: { epoch: null, totalEpochs: 2, step: null, percentage: 0 },
      metrics: { trainLoss: null, trainAccuracy: null, valLoss: null, valAccuracy: null, learningRate: null },
      resources: { instanceType: 'cpu.small', instanceCount: 1, gpuUtilization: null, memoryUsage: null, cpuUtilization: null, backend: null },
      time: { startedAt: null, elapsedTime: null, estimatedRemainingTime: null },
      cost: { actualCost: null, currency: 'USD', pricePerHour: 0.05 },
      error: null,
      createdAt: created.createdAt,
    })
    // 30 rows, 10% validation, 10% test: 24 training rows, batches of 8, 2 epochs.
    expect(job.progress.totalSteps).toBe(6)
    expect(job.cost.estimatedCost).toBeGreaterThan(0)
    expect(job.updatedAt).toMatch(/Z$/)
  })

  it('answers an unknown id with 404 E1101', async () => {
    const response = await server.request<JobReply>('GET', '/v1/training/jobs/job-nope')
    expect(response.status).toBe(404)
    expect(response.body).toMatchObject({ success: false, error: { code: 'E1101' } })
  })
})

describe('queue estimates', () => {
  it('starts a job after the jobs ahead of it, and a higher priority first', async () => {
    const ids = await createDataset(server, { name: 'queue' })
    const first = (await create(jobRequest(ids, { name: 'q1', resources: { instanceType: 'cpu.large' } }))).body.data.job
    const second = (await create(jobRequest(ids, { name: 'q2', resources: { instanceType: 'cpu.large' } }))).body.data.job
    const urgent = (await create(jobRequest(ids, { name: 'q3', priority: 10, resources: { instanceType: 'cpu.large' } }))).body.data.job
    // cpu.large has one slot: q2 waits for every cpu.large job queued before it.
    expect(Date.parse(second.estimatedStartTime!)).toBeGreaterThanOrEqual(Date.parse(first.estimatedCompletionTime!))
    expect(Date.parse(urgent.estimatedStartTime!)).toBeLessThan(Date.parse(first.estimatedStartTime!) + 1)
  })
})

describe('GET /v1/training/jobs', () => {
  let listServer: TestServer
  let names: string[]
  beforeAll(async () => {
    listServer = await startServer()
    const id = await createDataset(listServer)
    names = ['delta', 'alpha', 'charlie', 'bravo']
    for (const name of names) {
      const baseModel = name === 'alpha' ? 'text-bag-of-embeddings' : 'text-cnn'
      const response = await listServer.request<JobReply>('POST', '/v1/training/jobs', {
        json: jobRequest(id, { name, model: { baseModel, task: 'text-classification' } }),
      })
      expect(response.status).toBe(201)
    }
    const bravo = (await listServer.request<JobListReply>('GET', '/v1/training/jobs?sortBy=name&sortOrder=asc&limit=2&page=1')).body.data.jobs[1]
    await listServer.request('POST', `/v1/training/jobs/${bravo.id}/stop`)
    const bobsDataset = await createDataset(listServer, { token: tokens.bob })
    await listServer.request('POST', '/v1/training/jobs', { json: jobRequest(bobsDataset, { name: 'bobs' }), token: tokens.bob })
  })
  afterAll(() => listServer?.close())

  const list = async (query = '', token: string = tokens.alice) => {
    const response = await listServer.request('GET', `/v1/training/jobs${query}`, { token })
    expect(response.status, response.text).toBe(200)
    return response.body.data as {
      jobs: { name: string; status: string; owner: string; progress: { percentage: number }; model: { baseModel: string } }[]
      pagination: Record<string, unknown>
    }
  }

  it("lists the caller's jobs newest first with the spec's fields and pagination", async () => {
    const data = await list()
    expect(data.jobs.map((j) => j.name)).toEqual(['bravo', 'charlie', 'alpha', 'delta'])
    expect(data.jobs[0]).toMatchObject({ status: 'cancelled', progress: { percentage: 0 }, model: { baseModel: 'text-cnn' } })
    expect(data.pagination).toEqual({ page: 1, limit: 20, total: 4, totalPages: 1, hasNext: false, hasPrev: false })
  })

  it('filters by status and by model (model.baseModel)', async () => {
    expect((await list('?status=cancelled')).jobs.map((j) => j.name)).toEqual(['bravo'])
    expect((await list('?status=pending')).jobs.map((j) => j.name)).toEqual(['charlie', 'alpha', 'delta'])
    expect((await list('?model=text-bag-of-embeddings')).jobs.map((j) => j.name)).toEqual(['alpha'])
    expect((await list('?status=running')).jobs).toEqual([])
  })

  it('sorts by name, createdAt and updatedAt in either order', async () => {
    expect((await list('?sortBy=name&sortOrder=asc')).jobs.map((j) => j.name)).toEqual(['alpha', 'bravo', 'charlie', 'delta'])
    expect((await list('?sortBy=createdAt&sortOrder=asc')).jobs.map((j) => j.name)).toEqual(['delta', 'alpha', 'charlie', 'bravo'])
    expect((await list('?sortBy=updatedAt&sortOrder=desc')).jobs[0].name).toBe('bravo')
  })

  it('pages: the last page, a page past the end, and limit bounds', async () => {
    const last = await list('?sortBy=name&sortOrder=asc&limit=3&page=2')
    expect(last.jobs.map((j) => j.name)).toEqual(['delta'])
    expect(last.pagination).toEqual({ page: 2, limit: 3, total: 4, totalPages: 2, hasNext: false, hasPrev: true })
    const first = await list('?limit=3')
    expect(first.pagination).toMatchObject({ hasNext: true, hasPrev: false })
    const past = await list('?page=50')
    expect(past.jobs).toEqual([])
    expect(past.pagination).toMatchObject({ page: 50, total: 4, hasNext: false, hasPrev: true })
    expect((await list('?limit=100')).jobs).toHaveLength(4)
    for (const query of ['limit=0', 'limit=101', 'limit=-1', 'page=0', 'page=1.5', 'status=sleeping', 'sortBy=owner', 'sortOrder=random', 'foo=bar']) {
      const response = await listServer.request<JobListReply>('GET', `/v1/training/jobs?${query}`)
      expect(response.status, query).toBe(400)
      expect(response.body.error.code, query).toBe('E1108')
      expect(response.body.error.details![0].field, query).toBe(query.split('=')[0])
    }
  })

  it("lets an admin list every user's jobs and filter by owner, and no one else", async () => {
    const all = await list('', tokens.root)
    expect(all.jobs.map((j) => j.owner).sort()).toEqual(['alice', 'alice', 'alice', 'alice', 'bob'])
    expect((await list('?owner=bob', tokens.root)).jobs.map((j) => j.name)).toEqual(['bobs'])
    expect((await list('?owner=nobody', tokens.root)).jobs).toEqual([])
    expect((await list('?owner=alice')).pagination.total).toBe(4)
    const refused = await listServer.request('GET', '/v1/training/jobs?owner=bob')
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('E1107')
    expect((await list('', tokens.bob)).jobs.map((j) => j.name)).toEqual(['bobs'])
  })
})

describe('POST /v1/training/jobs/{id}/stop', () => {
  it('cancels a pending job at once; stopping it again is a conflict', async () => {
    const job = (await create(jobRequest(datasetId))).body.data.job
    const response = await server.request<StopReply>('POST', `/v1/training/jobs/${job.id}/stop`)
    expect(response.status).toBe(200)
    expect(response.body.message).toBe('训练任务已取消')
    expect(response.body.data.job).toEqual({ id: job.id, status: 'cancelled', stoppedAt: expect.stringMatching(/Z$/) })
    expect((await server.request<JobReply>('GET', `/v1/training/jobs/${job.id}`)).body.data.job).toMatchObject({
      status: 'cancelled',
      completedAt: expect.any(String),
    })
    const again = await server.request('POST', `/v1/training/jobs/${job.id}/stop`)
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('E1110')
  })

  it('moves a running job to stopping (the trainer ends it), and answers a repeated stop the same way', async () => {
    const isolated = await createDataset(server, { name: 'stop-running' })
    const job = (await create(jobRequest(isolated, { priority: 1000, resources: { instanceType: 'cpu.claimed' } }))).body.data.job
    const claimed = await claimNextJob(database.db, 'test-trainer', new Map([['cpu.claimed', 1]]))
    expect(claimed?.id).toBe(job.id)
    const response = await server.request<StopReply>('POST', `/v1/training/jobs/${job.id}/stop`)
    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ message: '训练任务停止中', data: { job: { id: job.id, status: 'stopping', stoppedAt: expect.any(String) } } })
    expect((await server.request<StopReply>('POST', `/v1/training/jobs/${job.id}/stop`)).body.data.job.status).toBe('stopping')
  })

  it('takes no body and answers an unknown job with 404 E1101', async () => {
    const job = (await create(jobRequest(datasetId))).body.data.job
    const withBody = await server.request('POST', `/v1/training/jobs/${job.id}/stop`, { json: { now: true } })
    expect(withBody.status).toBe(400)
    expect((await server.request('POST', '/v1/training/jobs/job-missing/stop')).body.error.code).toBe('E1101')
  })
})

describe('DELETE /v1/training/jobs/{id}', () => {
  /** Puts artifacts where the trainer writes them, to see which delete removes them. */
  function fakeArtifacts(jobId: string) {
    for (const dir of ['checkpoints', 'exports']) {
      mkdirSync(path.join(server.dataDir, dir, jobId), { recursive: true })
      writeFileSync(path.join(server.dataDir, dir, jobId, 'model.bin'), 'weights')
    }
  }
  const artifactsExist = (jobId: string) => ['checkpoints', 'exports'].map((dir) => existsSync(path.join(server.dataDir, dir, jobId, 'model.bin')))

  it('refuses a running job without force (409 E1110) and, with force, stops it and removes its checkpoints and exports', async () => {
    const isolated = await createDataset(server, { name: 'delete-running' })
    const job = (await create(jobRequest(isolated, { priority: 1000, resources: { instanceType: 'cpu.claimed' } }))).body.data.job
    expect((await claimNextJob(database.db, 'test-trainer', new Map([['cpu.claimed', 1]])))?.id).toBe(job.id)
    fakeArtifacts(job.id)
    await database.db.checkpoint.create({
      data: { id: `checkpoint-${job.id}`, jobId: job.id, step: 1, epoch: 1, path: `checkpoints/${job.id}/model.bin`, sizeBytes: 7n },
    })
    const refused = await server.request('DELETE', `/v1/training/jobs/${job.id}`)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('E1110')
    expect(refused.body.error.message).toMatch(/force=true/)
    const forced = await server.request('DELETE', `/v1/training/jobs/${job.id}?force=true`)
    expect(forced.status).toBe(200)
    expect(forced.body).toMatchObject({ message: '训练任务删除成功', data: { jobId: job.id, deleted: true, deletedAt: expect.any(String) } })
    expect(artifactsExist(job.id)).toEqual([false, false])
    expect(await database.db.checkpoint.count({ where: { jobId: job.id } })).toBe(0)
    expect((await server.request('GET', `/v1/training/jobs/${job.id}`)).status).toBe(404)
  })

  it('without force removes the job from the API but keeps its trained model files', async () => {
    const job = (await create(jobRequest(datasetId, { name: 'keep-model' }))).body.data.job
    await server.request('POST', `/v1/training/jobs/${job.id}/stop`)
    fakeArtifacts(job.id)
    const response = await server.request<JobDeleteReply>('DELETE', `/v1/training/jobs/${job.id}`)
    expect(response.status).toBe(200)
    expect(response.body.data).toMatchObject({ jobId: job.id, deleted: true })
    expect(artifactsExist(job.id)).toEqual([true, true])
    expect((await server.request('GET', `/v1/training/jobs/${job.id}`)).status).toBe(404)
    const listed = (await server.request<JobListReply>('GET', '/v1/training/jobs?limit=100')).body.data.jobs.map((j: { id: string }) => j.id)
    expect(listed).not.toContain(job.id)
    expect((await server.request('DELETE', `/v1/training/jobs/${job.id}`)).status).toBe(404)
  })

  it('cancels a pending job it deletes, and rejects a bad force value', async () => {
    const job = (await create(jobRequest(datasetId))).body.data.job
    const bad = await server.request('DELETE', `/v1/training/jobs/${job.id}?force=yes`)
    expect(bad.status).toBe(400)
    expect(bad.body.error.details).toEqual([{ field: 'force', message: 'must be true or false' }])
    expect((await server.request('DELETE', `/v1/training/jobs/${job.id}?force=false`)).status).toBe(200)
    const row = await database.db.job.findUnique({ where: { id: job.id } })
    expect(row).toMatchObject({ status: 'cancelled', deletedAt: expect.any(Date) })
  })
})
