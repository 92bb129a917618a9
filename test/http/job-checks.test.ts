// What job creates check and say beyond their schema (issue 11): a model
// that cannot fit its instance type's memory is refused with 400 E1108 over
// REST, GraphQL, templates and tunings; settings that will not do what was
// meant (warmupSteps or checkpointInterval past the job's steps) and a
// missing trainer come back as `warnings`; /readyz tells whether a trainer is
// alive, and pending jobs have no start estimate while none is.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/server.ts'
import { createDataset, jobRequest, specJobRequest, textClassificationCsv } from '../helpers/data.ts'
import type { JobReply } from '../helpers/replies.ts'

type CreateReply = JobReply & { warnings: string[] }
interface TrainerReadiness {
  trainer: { mode: string; alive: boolean; lastSeenAt: string | null; trainers: number; missing: boolean }
}

// Fixed capacities: what "fits elsewhere" names must not depend on this machine's cores or GPUs.
const catalogFile = path.join(os.tmpdir(), `instance-types-checks-${process.pid}.json`)
writeFileSync(
  catalogFile,
  JSON.stringify({
    instanceTypes: [
      { name: 'cpu.small', vcpus: 1, memoryGb: 2, pricePerHour: 0.05, capacity: 2 },
      { name: 'cpu.huge', vcpus: 1, memoryGb: 256, pricePerHour: 1, capacity: 1 },
      { name: 'gpu.h100.large', vcpus: 16, memoryGb: 128, gpus: 1, pricePerHour: 6.98, capacity: 4 },
    ],
  }),
)

const tooLarge = {
  embedding: { embeddingDim: 4096, vocabSize: 1_000_000 },
  transformer: { hiddenSize: 4096, numLayers: 48, numHeads: 64 },
}

let server: TestServer
let datasetId: string

beforeAll(async () => {
  // A trainer-less server that is not yet missing one: estimates and warnings stay as for a live trainer.
  server = await startServer({ INSTANCE_TYPES_FILE: catalogFile, TRAINER_HEARTBEAT_TIMEOUT_SECONDS: '3600' })
  // 150 rows, 20% validation, 10% test: 105 training rows, 4 steps of 32 an epoch, 40 in 10 epochs.
  datasetId = await createDataset(server, { content: textClassificationCsv(150) })
})
afterAll(async () => {
  await server?.close()
})

const create = (body: unknown, on: TestServer = server) => on.request<CreateReply>('POST', '/v1/training/jobs', { json: body })
const jobTotal = async () => (await server.request<{ pagination: { total: number } }>('GET', '/v1/training/jobs')).body.data.pagination.total as number

describe('job size', () => {
  it('refuses embeddingDim 4096 with vocabSize 1,000,000 on cpu.small: 400 E1108 with what it needs, what cpu.small has, and what fits', async () => {
    const before = await jobTotal()
    const response = await create(jobRequest(datasetId, { hyperparameters: { batchSize: 32, epochs: 1, ...tooLarge.embedding } }))
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    const [detail] = response.body.error.details ?? []
    expect(detail.field).toBe('resources.instanceType')
    expect(detail.message).toMatch(/needs about \d+(\.\d)? GiB of memory/)
    expect(detail.message).toMatch(/\d\.\d+ billion parameters/)
    expect(detail.message).toContain('but cpu.small has 2.0 GiB')
    // 65 GiB: only the 256 GiB type fits; the 128 GiB GPU type has no capacity without a GPU backend
    expect(detail.message).toContain('instance types that fit: cpu.huge')
    expect(await jobTotal()).toBe(before)
  })

  it('refuses hiddenSize 4096, numLayers 48, numHeads 64 on cpu.small, saying when no instance type fits', async () => {
    const response = await create(
      jobRequest(datasetId, {
        model: { baseModel: 'text-transformer-small', task: 'text-classification' },
        hyperparameters: { batchSize: 32, ...tooLarge.transformer },
      }),
    )
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(response.body.error.message).toContain('resources.instanceType')
    expect(response.body.error.details![0].message).toMatch(/but cpu\.small has 2\.0 GiB; no instance type fits: make the model smaller/)
  })

  it('accepts the same model on an instance type it fits, and a large one that fits cpu.small', async () => {
    const huge = await create(
      jobRequest(datasetId, { hyperparameters: { batchSize: 32, epochs: 1, ...tooLarge.embedding }, resources: { instanceType: 'cpu.huge' } }),
    )
    expect(huge.status, huge.text).toBe(201)
    // 51 million parameters: about 1.1 GiB with the runtime
    const large = await create(jobRequest(datasetId, { hyperparameters: { batchSize: 8, epochs: 1, embeddingDim: 512, vocabSize: 100_000 } }))
    expect(large.status, large.text).toBe(201)
  })

  it('refuses it over GraphQL createJob with extensions.code E1108', async () => {
    const response = await server.request<unknown>('POST', '/graphql', {
      json: {
        query: 'mutation ($input: CreateJobInput!) { createJob(input: $input) { id } }',
        // GraphQL's Task enum spells the task with an underscore.
        variables: {
          input: jobRequest(datasetId, {
            model: { baseModel: 'text-cnn', task: 'text_classification' },
            hyperparameters: { batchSize: 32, ...tooLarge.embedding },
          }),
        },
      },
    })
    const body = response.body as unknown as { errors?: { message: string; extensions?: { code?: string } }[] }
    expect(body.errors?.[0].extensions?.code).toBe('E1108')
    expect(body.errors?.[0].message).toContain('resources.instanceType')
  })

  it('refuses it when a template creates the job', async () => {
    const template = await server.request<{ template: { id: string } }>('POST', '/v1/training/templates', {
      json: {
        name: 'huge',
        model: { baseModel: 'text-cnn', task: 'text-classification' },
        hyperparameters: tooLarge.embedding,
        resources: { instanceType: 'cpu.small' },
      },
    })
    expect(template.status, template.text).toBe(201)
    const response = await server.request('POST', `/v1/training/templates/${template.body.data.template.id}/create-job`, {
      json: { name: 'from template', datasetId },
    })
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(response.body.error.details![0].message).toContain('cpu.small has 2.0 GiB')
  })

  it("refuses a tuning whose search space's largest corner cannot fit, naming that corner", async () => {
    const response = await server.request('POST', '/v1/training/tuning', {
      json: {
        name: 'too wide',
        baseJob: jobRequest(datasetId, { name: 'base', model: { baseModel: 'text-transformer-small', task: 'text-classification' } }),
        parameters: { hiddenSize: { type: 'int', min: 64, max: 4096, step: 64 }, numLayers: { type: 'categorical', values: [2, 48] } },
        strategy: { type: 'random', maxTrials: 4 },
        objective: { metric: 'valLoss', direction: 'minimize' },
      },
    })
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    const detail = response.body.error.details!.find((d) => d.field === 'parameters')!
    expect(detail.message).toMatch(/largest trial the search space allows \(hiddenSize 4096, numLayers 48\) does not fit: the job needs about/)
    const modest = await server.request('POST', '/v1/training/tuning', {
      json: {
        name: 'modest',
        baseJob: jobRequest(datasetId, { name: 'base', model: { baseModel: 'text-transformer-small', task: 'text-classification' } }),
        parameters: { hiddenSize: { type: 'int', min: 16, max: 64, step: 16 } },
        strategy: { type: 'random', maxTrials: 2 },
        objective: { metric: 'valLoss', direction: 'minimize' },
      },
    })
    expect(modest.status, modest.text).toBe(201)
  })
})

describe('create warnings', () => {
  it("warns that README's bert-base-chinese request warms up and checkpoints past its 40 steps, in the response and the job's log", async () => {
    const response = await create(specJobRequest(datasetId, 'cpu.small'))
    expect(response.status, response.text).toBe(201)
    const { job, warnings } = response.body.data
    expect(job.progress.totalSteps).toBe(40)
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatch(/^hyperparameters\.warmupSteps \(1000\) exceeds the job's 40 total steps/)
    expect(warnings[1]).toMatch(/^output\.checkpointInterval \(1000\) exceeds the job's 40 total steps/)
    const logs = await server.request<{ logs: { level: string; message: string }[] }>('GET', `/v1/training/jobs/${job.id}/logs?level=warn`)
    expect(logs.status, logs.text).toBe(200)
    expect(logs.body.data.logs.map((line) => line.message)).toEqual(expect.arrayContaining(warnings))
  })

  it('answers an empty warnings array for settings within the job', async () => {
    const response = await create(jobRequest(datasetId, { hyperparameters: { batchSize: 8, epochs: 2, warmupSteps: 10 }, output: { checkpointInterval: 20 } }))
    expect(response.status, response.text).toBe(201)
    expect(response.body.data.warnings).toEqual([])
  })
})

describe('trainer liveness', () => {
  it('with TRAINER=off and no worker: /readyz says no trainer is alive (200), estimates are null and creates warn', async () => {
    const lonely = await startServer({ TRAINER_HEARTBEAT_TIMEOUT_SECONDS: '1' })
    try {
      const dataset = await createDataset(lonely)
      // Within the timeout of its own start the API still waits for a trainer to report: this job gets estimates.
      const early = (await create(jobRequest(dataset), lonely)).body.data.job
      let readiness = await lonely.request<TrainerReadiness>('GET', '/readyz', { token: null })
      const deadline = Date.now() + 10_000
      while (!readiness.body.data.trainer.missing && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        readiness = await lonely.request<TrainerReadiness>('GET', '/readyz', { token: null })
      }
      expect(readiness.status).toBe(200)
      expect(readiness.body.data).toMatchObject({ status: 'ready', trainer: { mode: 'off', alive: false, lastSeenAt: null, trainers: 0, missing: true } })

      const response = await create(jobRequest(dataset), lonely)
      expect(response.status, response.text).toBe(201)
      expect(response.body.data.job.estimatedStartTime).toBeNull()
      expect(response.body.data.job.estimatedCompletionTime).toBeNull()
      expect(response.body.data.warnings.at(-1)).toMatch(/^no trainer is running \(no trainer has reported since this API process started\)/)
      const earlier = await lonely.request<JobReply>('GET', `/v1/training/jobs/${early.id}`)
      expect(earlier.body.data.job.status).toBe('pending')
      expect(earlier.body.data.job.estimatedStartTime).toBeNull()
    } finally {
      await lonely.close()
    }
  })

  it('with TRAINER=embedded: /readyz says the trainer is alive, with its heartbeat', async () => {
    const trained = await startServer({ TRAINER: 'embedded' })
    try {
      const readiness = await trained.request<TrainerReadiness>('GET', '/readyz', { token: null })
      expect(readiness.status).toBe(200)
      expect(readiness.body.data.trainer).toMatchObject({ mode: 'embedded', alive: true, trainers: 1, missing: false })
      expect(Date.now() - Date.parse(readiness.body.data.trainer.lastSeenAt!)).toBeLessThan(60_000)
    } finally {
      await trained.close()
    }
  })
})
