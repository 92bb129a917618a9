// Hyperparameter tunings over REST and GraphQL without a trainer (spec §3):
// the request checks, the spec's shapes, lists, stop, owner isolation.
// Tunings that really run trials are in test/training/tuning.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createDataset, jobRequest, tabularCsv } from '../helpers/data.ts'
import type { JobReply, TemplateReply, TuningListReply, TuningReply } from '../helpers/replies.ts'

const isoMs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

let server: TestServer
let textDataset: string
let tabularDataset: string
let baseJobId: string

beforeAll(async () => {
  server = await startServer()
  textDataset = await createDataset(server)
  tabularDataset = await createDataset(server, { type: 'tabular', content: tabularCsv(60) })
  const job = await server.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(textDataset) })
  expect(job.status, job.text).toBe(201)
  baseJobId = job.body.data.job.id
})
afterAll(() => server?.close())

/** The spec's §3.1 example request, with a real base job. */
function specTuningBody(overrides: Record<string, unknown> = {}) {
  return {
    name: 'bert-hyperparameter-tuning',
    description: 'BERT模型超参数调优',
    baseJobId,
    parameters: {
      learningRate: { type: 'float', min: 0.00001, max: 0.001, scale: 'log' },
      batchSize: { type: 'categorical', values: [16, 32, 64] },
      epochs: { type: 'int', min: 5, max: 20 },
    },
    strategy: { type: 'bayesian', maxTrials: 20, parallelTrials: 3 },
    objective: { metric: 'valAccuracy', direction: 'maximize' },
    ...overrides,
  }
}

const createTuning = (body: unknown, token: string = tokens.alice) => server.request<TuningReply>('POST', '/v1/training/tuning', { json: body, token })

function fieldsOf(response: { body: { error: { details?: { field: string }[] } } }): string[] {
  return (response.body.error.details ?? []).map((detail) => detail.field)
}

describe('POST /v1/training/tuning', () => {
  it('creates the spec example: 201, pending, no trials, the spec fields with defaults filled in', async () => {
    const response = await createTuning(specTuningBody())
    expect(response.status, response.text).toBe(201)
    expect(response.body.success).toBe(true)
    expect(response.body.message).toBe('调优任务创建成功')
    expect(response.body.timestamp).toMatch(isoMs)
    const tuning = response.body.data.tuning
    expect(tuning.id).toMatch(/^tuning-[a-z0-9]+$/)
    expect(tuning).toMatchObject({
      name: 'bert-hyperparameter-tuning',
      description: 'BERT模型超参数调优',
      baseJobId,
      strategy: { type: 'bayesian', maxTrials: 20, parallelTrials: 3, maxFailedTrials: null, earlyStopping: null },
      objective: { metric: 'valAccuracy', direction: 'maximize', target: null },
      status: 'pending',
      trials: [],
      bestTrial: null,
      progress: { completedTrials: 0, totalTrials: 20, percentage: 0 },
    })
    expect(tuning.parameters.epochs).toEqual({ type: 'int', min: 5, max: 20, step: 1, scale: 'linear' })
    expect(Number.isInteger(tuning.strategy.seed)).toBe(true)
    expect(tuning.createdAt).toMatch(isoMs)

    const read = await server.request<TuningReply>('GET', `/v1/training/tuning/${tuning.id}`)
    expect(read.status, read.text).toBe(200)
    expect(read.body.data.tuning).toMatchObject({
      id: tuning.id,
      status: 'pending',
      progress: { completedTrials: 0, totalTrials: 20, percentage: 0 },
      trials: [],
    })
    expect(read.body.data.tuning.updatedAt).toMatch(isoMs)
  })

  it('grid: totalTrials is the size of the grid, capped by maxTrials', async () => {
    const parameters = { learningRate: { type: 'float', min: 0.001, max: 0.1, scale: 'log' }, dropout: { type: 'categorical', values: [0.1, 0.3] } }
    const full = await createTuning(specTuningBody({ parameters, strategy: { type: 'grid', gridPoints: 4 } }))
    expect(full.status, full.text).toBe(201)
    expect(full.body.data.tuning.strategy).toMatchObject({ type: 'grid', gridPoints: 4, maxTrials: 8, parallelTrials: 1 })
    const capped = await createTuning(specTuningBody({ parameters, strategy: { type: 'grid', maxTrials: 5 } }))
    expect(capped.body.data.tuning.strategy).toMatchObject({ gridPoints: 3, maxTrials: 5 })
  })

  it('starts from a whole job request or a template as well as from a job', async () => {
    const baseJob = {
      ...jobRequest(tabularDataset, { model: { baseModel: 'tabular-mlp', task: 'tabular-regression' } }),
      dataset: { id: tabularDataset, labelColumn: 'y' },
    }
    const fromRequest = await createTuning({
      ...specTuningBody({ parameters: { hiddenSize: { type: 'int', min: 8, max: 64, step: 8 } }, objective: { metric: 'valMae', direction: 'minimize' } }),
      baseJobId: undefined,
      baseJob,
    })
    expect(fromRequest.status, fromRequest.text).toBe(201)
    expect(fromRequest.body.data.tuning.baseJobId).toBeNull()

    const template = await server.request<TemplateReply>('POST', '/v1/training/templates', {
      json: {
        name: 'cnn',
        model: { baseModel: 'text-cnn', task: 'text-classification' },
        hyperparameters: { epochs: 2 },
        resources: { instanceType: 'cpu.small' },
      },
    })
    expect(template.status, template.text).toBe(201)
    const templateId = template.body.data.template.id
    const fromTemplate = await createTuning({
      ...specTuningBody(),
      baseJobId: undefined,
      templateId,
      datasetId: textDataset,
      overrides: { hyperparameters: { batchSize: 8 } },
    })
    expect(fromTemplate.status, fromTemplate.text).toBe(201)
    expect(fromTemplate.body.data.tuning.templateId).toBe(templateId)
    const noDataset = await createTuning({ ...specTuningBody(), baseJobId: undefined, templateId })
    expect(noDataset.status).toBe(400)
    expect(fieldsOf(noDataset)).toContain('datasetId')
  })

  it('rejects invalid spaces with E1108 naming every problem, and stores nothing', async () => {
    const before = (await server.request<TuningListReply>('GET', '/v1/training/tuning?limit=100')).body.data.pagination.total
    const response = await createTuning(
      specTuningBody({
        parameters: {
          learningRate: { type: 'float', min: 0.01, max: 0.001 },
          weightDecay: { type: 'float', min: 0, max: 0.1, scale: 'log' },
          batchSize: { type: 'categorical', values: [] },
          momentum: { type: 'float', min: 0.8, max: 0.99 },
          numHeads: { type: 'int', min: 2, max: 8 },
          epochs: { type: 'int', min: 0, max: 5 },
          dropout: { type: 'uniform', min: 0, max: 0.5 },
          filters: { type: 'int', min: 8, max: 64, step: 8, scale: 'log' },
        },
      }),
    )
    expect(response.status, response.text).toBe(400)
    expect(response.body.success).toBe(false)
    expect(response.body.error.code).toBe('E1108')
    const byField = Object.fromEntries((response.body.error.details as { field: string; message: string }[]).map((d) => [d.field, d.message]))
    expect(byField['parameters.learningRate.max']).toMatch(/greater than min/)
    expect(byField['parameters.weightDecay.min']).toMatch(/greater than 0 with scale log/)
    expect(byField['parameters.batchSize.values']).toMatch(/at least one value/)
    expect(byField['parameters.momentum']).toMatch(/unknown hyperparameter.*learningRate/)
    expect(byField['parameters.numHeads']).toMatch(/cnn architecture does not use numHeads/)
    expect(byField['parameters.epochs.min']).toMatch(/not a valid epochs/)
    expect(byField['parameters.dropout.type']).toMatch(/float, int or categorical/)
    expect(byField['parameters.filters.step']).toMatch(/must be 1 with scale log/)
    const after = (await server.request<TuningListReply>('GET', '/v1/training/tuning?limit=100')).body.data.pagination.total
    expect(after).toBe(before)
  })

  it('rejects an objective the task does not report, strategy fields of another strategy, and a bad base', async () => {
    const metric = await createTuning(specTuningBody({ objective: { metric: 'valMae', direction: 'maximize' } }))
    expect(metric.status).toBe(400)
    expect(metric.body.error.details![0]).toMatchObject({ field: 'objective.metric' })
    expect(metric.body.error.details![0].message).toMatch(/valLoss, valAccuracy/)

    const strategy = await createTuning(
      specTuningBody({ strategy: { type: 'random', gridPoints: 3, parallelTrials: 0, earlyStopping: { type: 'median', reductionFactor: 3 } } }),
    )
    expect(strategy.status).toBe(400)
    expect(fieldsOf(strategy)).toEqual(expect.arrayContaining(['strategy.parallelTrials']))
    const direction = await createTuning(specTuningBody({ objective: { metric: 'valLoss', direction: 'down' } }))
    expect(fieldsOf(direction)).toEqual(['objective.direction'])

    const both = await createTuning({ ...specTuningBody(), baseJob: jobRequest(textDataset) })
    expect(both.status).toBe(400)
    expect(both.body.error.details![0].message).toMatch(/exactly one of baseJobId/)
    const none = await createTuning({ ...specTuningBody(), baseJobId: undefined })
    expect(none.status).toBe(400)
    const badJob = await createTuning({ ...specTuningBody(), baseJobId: undefined, baseJob: { ...jobRequest(textDataset), hyperparameters: { batchSize: 0 } } })
    expect(badJob.status).toBe(400)
    expect(fieldsOf(badJob)).toContain('baseJob.hyperparameters.batchSize')

    const unknownJob = await createTuning(specTuningBody({ baseJobId: 'job-doesnotexist' }))
    expect(unknownJob.status).toBe(404)
    expect(unknownJob.body.error.code).toBe('E1101')
    const unknownTemplate = await createTuning({ ...specTuningBody(), baseJobId: undefined, templateId: 'template-nope', datasetId: textDataset })
    expect(unknownTemplate.status).toBe(404)
    expect(unknownTemplate.body.error.code).toBe('E1109')
    const notJson = await server.request('POST', '/v1/training/tuning', { body: 'name=x', headers: { 'content-type': 'text/plain' } })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error.code).toBe('E1108')
  })

  it('warmStartFrom takes earlier tunings of the user with the same objective and parameters', async () => {
    const earlier = (await createTuning(specTuningBody())).body.data.tuning.id
    const ok = await createTuning(specTuningBody({ warmStartFrom: [earlier] }))
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.data.tuning.warmStartFrom).toEqual([earlier])

    const other = await createTuning(
      specTuningBody({ parameters: { learningRate: { type: 'categorical', values: [0.001, 0.01] } }, warmStartFrom: [earlier, 'tuning-missing'] }),
    )
    expect(other.status).toBe(400)
    const messages = (other.body.error.details as { field: string; message: string }[]).map((d) => `${d.field}: ${d.message}`)
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^warmStartFrom\[0\]: .*learningRate as float, this one as categorical/),
        expect.stringMatching(/^warmStartFrom\[0\]: .*also searched batchSize, epochs/),
        expect.stringMatching(/^warmStartFrom\[1\]: no tuning "tuning-missing"/),
      ]),
    )
    const bobs = await createTuning(specTuningBody({ warmStartFrom: [earlier] }), tokens.bob)
    expect(bobs.status).toBe(404)
  })
})

describe('reading, listing and stopping tunings', () => {
  it("hides other users' tunings (404 E1109) and refuses read-only tokens (403 E1107)", async () => {
    const id = (await createTuning(specTuningBody())).body.data.tuning.id
    const asBob = await server.request('GET', `/v1/training/tuning/${id}`, { token: tokens.bob })
    expect(asBob.status).toBe(404)
    expect(asBob.body.error.code).toBe('E1109')
    const stopAsBob = await server.request('POST', `/v1/training/tuning/${id}/stop`, { token: tokens.bob })
    expect(stopAsBob.status).toBe(404)
    const bobsList = await server.request<TuningListReply>('GET', '/v1/training/tuning', { token: tokens.bob })
    expect(bobsList.body.data.tunings.map((t: { id: string }) => t.id)).not.toContain(id)
    const reader = await createTuning(specTuningBody(), tokens.reader)
    expect(reader.status).toBe(403)
    expect(reader.body.error.code).toBe('E1107')
    const anonymous = await server.request('GET', '/v1/training/tuning', { token: null })
    expect(anonymous.status).toBe(401)
    const missing = await server.request('GET', '/v1/training/tuning/tuning-nothere')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('E1109')
  })

  it('lists with pagination, status filter and order; entries leave out the trials', async () => {
    for (const name of ['list-a', 'list-b', 'list-c']) expect((await createTuning(specTuningBody({ name }))).status).toBe(201)
    const page = await server.request<TuningListReply>('GET', '/v1/training/tuning?limit=2&page=1&sortBy=name&sortOrder=asc&status=pending')
    expect(page.status, page.text).toBe(200)
    const { tunings, pagination } = page.body.data
    expect(tunings).toHaveLength(2)
    expect(pagination).toMatchObject({ page: 1, limit: 2, hasPrev: false })
    expect(pagination.total).toBeGreaterThanOrEqual(3)
    expect(tunings[0].name <= tunings[1].name).toBe(true)
    expect(tunings[0].trials).toBeUndefined()
    expect(tunings[0].progress).toBeDefined()
    const bad = await server.request<TuningListReply>('GET', '/v1/training/tuning?status=sleeping&limit=1000')
    expect(bad.status).toBe(400)
    expect(fieldsOf(bad).sort()).toEqual(['limit', 'status'])
  })

  it('stops a pending tuning at once (cancelled), and answers 409 E1110 when stopped again', async () => {
    const id = (await createTuning(specTuningBody())).body.data.tuning.id
    const stop = await server.request<TuningReply>('POST', `/v1/training/tuning/${id}/stop`)
    expect(stop.status, stop.text).toBe(200)
    expect(stop.body.message).toBe('调优任务已取消')
    expect(stop.body.data.tuning).toMatchObject({ id, status: 'cancelled', endReason: expect.stringMatching(/stopped by the user/) })
    expect(stop.body.data.tuning.completedAt).toMatch(isoMs)
    const again = await server.request('POST', `/v1/training/tuning/${id}/stop`)
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('E1110')
  })
})

describe('tunings in GraphQL', () => {
  const create = graphql(`
    mutation CreateTuning($input: CreateTuningInput!) {
      createTuning(input: $input) {
        id
        status
        parameters { name type min max step scale values }
        strategy { type maxTrials parallelTrials seed earlyStopping { type minResource reductionFactor } }
        objective { metric direction target }
        progress { completedTrials totalTrials percentage }
        trials { id }
        bestTrial { id }
      }
    }
  `)
  const read = graphql(`
    query ReadTunings($id: ID!) {
      tuning(id: $id) { id name status }
      tunings(first: 50, status: cancelled) { totalCount edges { node { id status } } }
    }
  `)
  const stop = graphql(`
    mutation StopTuning($id: ID!) {
      stopTuning(id: $id) { id status endReason }
    }
  `)

  it('creates, reads, lists and stops a tuning with the same rules as REST', async () => {
    const created = await server.graphql(create, {
      input: {
        name: 'gql-tuning',
        baseJobId,
        parameters: [
          { name: 'learningRate', type: 'float', min: 0.0001, max: 0.01, scale: 'log' },
          { name: 'batchSize', type: 'categorical', values: [8, 16] },
        ],
        strategy: { type: 'random', maxTrials: 4, parallelTrials: 2, seed: 9, earlyStopping: { type: 'asha', reductionFactor: 2 } },
        objective: { metric: 'valLoss', direction: 'minimize', target: 0.1 },
      },
    })
    expect(created.errors).toBeUndefined()
    const tuning = created.data!.createTuning
    expect(tuning).toMatchObject({
      status: 'pending',
      strategy: { type: 'random', maxTrials: 4, parallelTrials: 2, seed: 9, earlyStopping: { type: 'asha', minResource: 1, reductionFactor: 2 } },
      objective: { metric: 'valLoss', direction: 'minimize', target: 0.1 },
      progress: { completedTrials: 0, totalTrials: 4, percentage: 0 },
      trials: [],
      bestTrial: null,
    })
    expect(tuning.parameters).toEqual([
      { name: 'learningRate', type: 'float', min: 0.0001, max: 0.01, step: null, scale: 'log', values: null },
      { name: 'batchSize', type: 'categorical', min: null, max: null, step: null, scale: null, values: [8, 16] },
    ])
    const stopped = await server.graphql(stop, { id: tuning.id })
    expect(stopped.data?.stopTuning).toMatchObject({ id: tuning.id, status: 'cancelled' })
    const listed = await server.graphql(read, { id: tuning.id })
    expect(listed.data?.tuning).toMatchObject({ id: tuning.id, name: 'gql-tuning', status: 'cancelled' })
    expect(listed.data?.tunings.edges.map((edge) => edge.node.id)).toContain(tuning.id)

    const invalid = await server.graphql(create, {
      input: {
        name: 'bad',
        baseJobId,
        parameters: [
          { name: 'learningRate', type: 'float', min: 1, max: 0.1 },
          { name: 'learningRate', type: 'float', min: 0.1, max: 1 },
        ],
        strategy: { type: 'grid' },
        objective: { metric: 'valAccuracy', direction: 'maximize' },
      },
    })
    expect(invalid.errors?.[0].extensions?.code).toBe('E1108')
    expect(invalid.errors?.[0].message).toMatch(/parameters\[1\]\.name/)
    const other = await server.graphql(read, { id: tuning.id }, tokens.bob)
    expect(other.errors?.[0].extensions?.code).toBe('E1109')
  })
})
