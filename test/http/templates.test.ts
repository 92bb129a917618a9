// Training templates over REST (spec §6): create, list, get, delete, and
// jobs created from a template with `overrides` deep-merged over it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestResponse, type TestServer } from '../helpers/server.ts'
import { createDataset } from '../helpers/data.ts'
import type { JobReply, TemplateDeleteReply, TemplateListReply, TemplateReply } from '../helpers/replies.ts'

const isoMs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The spec's §6.1 example request body, exactly as written. */
function specTemplateBody() {
  return {
    name: 'bert-text-classification',
    description: 'BERT文本分类训练模板',
    model: { baseModel: 'bert-base-chinese', task: 'text-classification' },
    hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10 },
    resources: { instanceType: 'gpu.a100.large', instanceCount: 1 },
    isPublic: false,
  }
}

/** A template that trains here (a built-in model on a CPU type) with several hyperparameters to merge over. */
function cpuTemplateBody(overrides: Record<string, unknown> = {}) {
  return {
    name: 'text-cnn-template',
    description: 'text-cnn on a small CPU',
    model: { baseModel: 'text-cnn', task: 'text-classification' },
    dataset: { validationSplit: 0.2 },
    hyperparameters: { learningRate: 0.0005, batchSize: 16, epochs: 10, dropout: 0.2, lrSchedule: 'cosine' },
    resources: { instanceType: 'cpu.small', instanceCount: 1 },
    options: { enableEarlyStopping: true, earlyStoppingPatience: 2 },
    ...overrides,
  }
}

/** The spec's §6.1 template made trainable from scratch (as §1.1 does, with an architecture), still on gpu.a100.large. */
function gpuTemplateBody() {
  const body = specTemplateBody()
  return { ...body, name: 'bert-on-a100', model: { ...body.model, architecture: 'transformer' } }
}

function fieldsOf(response: TestResponse): string[] {
  return (response.body?.error?.details ?? []).map((detail: { field: string }) => detail.field)
}

function expectError(response: TestResponse, status: number, code: string) {
  expect(response.status, response.text).toBe(status)
  expect(response.body.success).toBe(false)
  expect(response.body.error.code).toBe(code)
  expect(typeof response.body.error.message).toBe('string')
  expect(response.body.timestamp).toMatch(isoMs)
}

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})

afterAll(async () => {
  await server?.close()
})

async function createTemplate(body: unknown, token: string = tokens.alice): Promise<string> {
  const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { token, json: body })
  if (response.status !== 201) throw new Error(`template create failed: ${response.status} ${response.text}`)
  return response.body.data.template.id as string
}

describe('POST /v1/training/templates', () => {
  it('accepts the spec §6.1 example exactly as written, gpu.a100.large included, and answers 201 with the template', async () => {
    const body = specTemplateBody()
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { json: body })

    expect(response.status, response.text).toBe(201)
    expect(response.body.success).toBe(true)
    expect(response.body.message).toBe('训练模板创建成功')
    expect(response.body.timestamp).toMatch(isoMs)
    const template = response.body.data.template
    expect(template.id).toMatch(/^template-/)
    expect(template).toMatchObject({
      name: body.name,
      description: body.description,
      model: body.model,
      hyperparameters: body.hyperparameters,
      resources: body.resources,
      isPublic: false,
    })
    expect(template.createdAt).toMatch(isoMs)
  })

  it('stores the template so that GET returns it as created', async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'stored-template' }))
    const response = await server.request<TemplateReply>('GET', `/v1/training/templates/${id}`)

    expect(response.status, response.text).toBe(200)
    expect(response.body.success).toBe(true)
    expect(response.body.data.template).toMatchObject({
      id,
      name: 'stored-template',
      model: { baseModel: 'text-cnn', task: 'text-classification' },
      dataset: { validationSplit: 0.2 },
      hyperparameters: { learningRate: 0.0005, batchSize: 16, epochs: 10, dropout: 0.2, lrSchedule: 'cosine' },
      resources: { instanceType: 'cpu.small', instanceCount: 1 },
      options: { enableEarlyStopping: true, earlyStoppingPatience: 2 },
      isPublic: false,
    })
  })

  it('rejects an unknown instanceType with 400 E1108 naming resources.instanceType', async () => {
    const body = { ...specTemplateBody(), resources: { instanceType: 'gpu.imaginary', instanceCount: 1 } }
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { json: body })

    expectError(response, 400, 'E1108')
    expect(fieldsOf(response)).toEqual(['resources.instanceType'])
    expect(response.body.error.details![0].message).toContain('cpu.small')
  })

  it('rejects unknown keys and bad values with 400 E1108 naming every field', async () => {
    const body = {
      name: '',
      color: 'blue',
      model: { baseModel: 'text-cnn', task: 'translation', size: 'xl' },
      hyperparameters: { learningRate: 0, batchSize: 0, epochs: 1.5, momentum: 0.9 },
      resources: { instanceType: 'cpu.small', instanceCount: 0 },
      isPublic: 'yes',
    }
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { json: body })

    expectError(response, 400, 'E1108')
    expect(fieldsOf(response).sort()).toEqual(
      [
        'name',
        'color',
        'model.task',
        'model.size',
        'hyperparameters.learningRate',
        'hyperparameters.batchSize',
        'hyperparameters.epochs',
        'hyperparameters.momentum',
        'resources.instanceCount',
        'isPublic',
      ].sort(),
    )
  })

  it('names an unknown instanceType together with the other invalid fields of the same request', async () => {
    const body = { ...specTemplateBody(), hyperparameters: { batchSize: 0 }, resources: { instanceType: 'gpu.imaginary' } }
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { json: body })

    expectError(response, 400, 'E1108')
    expect(fieldsOf(response).sort()).toEqual(['hyperparameters.batchSize', 'resources.instanceType'])
  })

  it('rejects a body that is not JSON with 400 E1108', async () => {
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', {
      body: '{"name":',
      headers: { 'content-type': 'application/json' },
    })
    expectError(response, 400, 'E1108')
  })

  it('refuses a read-only token with 403 E1107', async () => {
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { token: tokens.reader, json: specTemplateBody() })
    expectError(response, 403, 'E1107')
  })

  it('refuses a request without a token with 401 E1100 and WWW-Authenticate: Bearer', async () => {
    const response = await server.request<TemplateReply>('POST', '/v1/training/templates', { token: null, json: specTemplateBody() })
    expectError(response, 401, 'E1100')
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })
})

describe('GET /v1/training/templates', () => {
  let alicePublic: string
  let alicePrivate: string
  let bobPrivate: string

  beforeAll(async () => {
    alicePublic = await createTemplate(cpuTemplateBody({ name: 'alice-public', isPublic: true }))
    alicePrivate = await createTemplate(cpuTemplateBody({ name: 'alice-private', isPublic: false }))
    bobPrivate = await createTemplate(cpuTemplateBody({ name: 'bob-private' }), tokens.bob)
  })

  async function listIds(token: string, query = ''): Promise<string[]> {
    const response = await server.request<TemplateListReply>('GET', `/v1/training/templates${query}`, { token })
    expect(response.status, response.text).toBe(200)
    return response.body.data.templates.map((template) => template.id)
  }

  it("lists the caller's own templates and other users' public ones, not their private ones", async () => {
    const bobSees = await listIds(tokens.bob, '?limit=100')
    expect(bobSees).toContain(alicePublic)
    expect(bobSees).toContain(bobPrivate)
    expect(bobSees).not.toContain(alicePrivate)

    const aliceSees = await listIds(tokens.alice, '?limit=100')
    expect(aliceSees).toEqual(expect.arrayContaining([alicePublic, alicePrivate]))
    expect(aliceSees).not.toContain(bobPrivate)
  })

  it("visibility=mine lists only the caller's templates, visibility=public only public ones", async () => {
    const bobMine = await listIds(tokens.bob, '?visibility=mine&limit=100')
    expect(bobMine).toContain(bobPrivate)
    expect(bobMine).not.toContain(alicePublic)

    const bobPublic = await listIds(tokens.bob, '?visibility=public&limit=100')
    expect(bobPublic).toContain(alicePublic)
    expect(bobPublic).not.toContain(bobPrivate)
    expect(bobPublic).not.toContain(alicePrivate)
  })

  it('answers with the spec pagination object and pages through the list', async () => {
    // root creates templates nowhere else in this file, so its own list is exactly these three.
    const names = ['page-a', 'page-b', 'page-c']
    for (const name of names) await createTemplate(cpuTemplateBody({ name }), tokens.root)

    const first = await server.request<TemplateListReply>('GET', '/v1/training/templates?visibility=mine&sortBy=name&sortOrder=asc&limit=2', {
      token: tokens.root,
    })
    expect(first.status, first.text).toBe(200)
    expect(first.body.success).toBe(true)
    expect(first.body.data.templates.map((t: { name: string }) => t.name)).toEqual(['page-a', 'page-b'])
    expect(first.body.data.pagination).toEqual({ page: 1, limit: 2, total: 3, totalPages: 2, hasNext: true, hasPrev: false })

    const second = await server.request<TemplateListReply>('GET', '/v1/training/templates?visibility=mine&sortBy=name&sortOrder=asc&limit=2&page=2', {
      token: tokens.root,
    })
    expect(second.body.data.templates.map((t: { name: string }) => t.name)).toEqual(['page-c'])
    expect(second.body.data.pagination).toEqual({ page: 2, limit: 2, total: 3, totalPages: 2, hasNext: false, hasPrev: true })
  })

  it('defaults to page 1 and a limit of 20', async () => {
    const response = await server.request<TemplateListReply>('GET', '/v1/training/templates')
    expect(response.body.data.pagination).toMatchObject({ page: 1, limit: 20 })
  })

  it('rejects a limit above 100, a page of 0 and an unknown visibility with 400 E1108 naming each parameter', async () => {
    const response = await server.request<TemplateListReply>('GET', '/v1/training/templates?limit=101&page=0&visibility=everyone')
    expectError(response, 400, 'E1108')
    expect(fieldsOf(response).sort()).toEqual(['limit', 'page', 'visibility'])
  })

  it('rejects an unknown query parameter with 400 E1108', async () => {
    const response = await server.request<TemplateListReply>('GET', '/v1/training/templates?owner=bob')
    expectError(response, 400, 'E1108')
    expect(fieldsOf(response)).toEqual(['owner'])
  })
})

describe('GET and DELETE /v1/training/templates/{id}', () => {
  it("answers 404 E1109 for another user's private template", async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'alice-secret' }))
    const response = await server.request<TemplateReply>('GET', `/v1/training/templates/${id}`, { token: tokens.bob })
    expectError(response, 404, 'E1109')
  })

  it("returns another user's public template", async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'alice-shared', isPublic: true }))
    const response = await server.request<TemplateReply>('GET', `/v1/training/templates/${id}`, { token: tokens.bob })
    expect(response.status, response.text).toBe(200)
    expect(response.body.data.template).toMatchObject({ id, name: 'alice-shared', isPublic: true })
  })

  it('answers 404 E1109 for a template that does not exist', async () => {
    const response = await server.request<TemplateReply>('GET', '/v1/training/templates/template-doesnotexist')
    expectError(response, 404, 'E1109')
  })

  it("refuses to delete another user's public template with 403 E1107 and keeps it", async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'alice-public-keep', isPublic: true }))
    const response = await server.request<TemplateDeleteReply>('DELETE', `/v1/training/templates/${id}`, { token: tokens.bob })
    expectError(response, 403, 'E1107')

    const still = await server.request('GET', `/v1/training/templates/${id}`)
    expect(still.status).toBe(200)
  })

  it("answers 404 E1109 to a delete of another user's private template", async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'alice-private-keep' }))
    const response = await server.request<TemplateDeleteReply>('DELETE', `/v1/training/templates/${id}`, { token: tokens.bob })
    expectError(response, 404, 'E1109')
  })

  it('refuses a delete by a read-only token with 403 E1107', async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'public-for-reader', isPublic: true }))
    const response = await server.request<TemplateDeleteReply>('DELETE', `/v1/training/templates/${id}`, { token: tokens.reader })
    expectError(response, 403, 'E1107')
  })

  it('lets the owner delete a template (200), after which it answers 404 E1109', async () => {
    const id = await createTemplate(cpuTemplateBody({ name: 'to-delete', isPublic: true }))
    const response = await server.request<TemplateDeleteReply>('DELETE', `/v1/training/templates/${id}`)

    expect(response.status, response.text).toBe(200)
    expect(response.body.success).toBe(true)
    expect(response.body.data).toMatchObject({ templateId: id, deleted: true })
    expect(response.body.data.deletedAt).toMatch(isoMs)
    expect(response.body.timestamp).toMatch(isoMs)

    expectError(await server.request<TemplateReply>('GET', `/v1/training/templates/${id}`), 404, 'E1109')
    expectError(await server.request<TemplateDeleteReply>('DELETE', `/v1/training/templates/${id}`), 404, 'E1109')
  })
})

describe('POST /v1/training/templates/{id}/create-job', () => {
  let datasetId: string
  let bobDatasetId: string
  let cpuTemplate: string
  let gpuTemplate: string

  beforeAll(async () => {
    datasetId = await createDataset(server, { name: 'alice-texts' })
    bobDatasetId = await createDataset(server, { name: 'bob-texts', token: tokens.bob })
    cpuTemplate = await createTemplate(cpuTemplateBody())
    gpuTemplate = await createTemplate(gpuTemplateBody())
  })

  const createJob = (templateId: string, body: unknown, token: string = tokens.alice) =>
    server.request<JobReply>('POST', `/v1/training/templates/${templateId}/create-job`, { token, json: body })

  it('creates a pending job from the spec §6.2 request, deep-merging overrides over the template', async () => {
    const response = await createJob(cpuTemplate, {
      name: 'bert-fine-tuning-from-template',
      datasetId,
      overrides: { hyperparameters: { epochs: 15 } },
    })

    expect(response.status, response.text).toBe(201)
    expect(response.body.success).toBe(true)
    expect(response.body.message).toBe('训练任务创建成功')
    expect(response.body.timestamp).toMatch(isoMs)
    const job = response.body.data.job
    expect(job.id).toMatch(/^job-/)
    expect(job).toMatchObject({
      name: 'bert-fine-tuning-from-template',
      templateId: cpuTemplate,
      status: 'pending',
      model: { baseModel: 'text-cnn', task: 'text-classification' },
      dataset: { id: datasetId, validationSplit: 0.2 },
      hyperparameters: { epochs: 15, learningRate: 0.0005, batchSize: 16, dropout: 0.2, lrSchedule: 'cosine' },
      resources: { instanceType: 'cpu.small', instanceCount: 1 },
      options: { enableEarlyStopping: true, earlyStoppingPatience: 2 },
    })
    expect(job.createdAt).toMatch(isoMs)

    const stored = await server.request<JobReply>('GET', `/v1/training/jobs/${job.id}`)
    expect(stored.status, stored.text).toBe(200)
    expect(stored.body.data.job).toMatchObject({ templateId: cpuTemplate, hyperparameters: { epochs: 15, batchSize: 16 } })
  })

  it("keeps the template's configuration when no overrides are given", async () => {
    const response = await createJob(cpuTemplate, { name: 'plain-from-template', datasetId })
    expect(response.status, response.text).toBe(201)
    expect(response.body.data.job.hyperparameters).toMatchObject({ epochs: 10, learningRate: 0.0005, batchSize: 16 })
  })

  it('leaves the template unchanged after a job overrides it', async () => {
    await createJob(cpuTemplate, { name: 'override-once', datasetId, overrides: { hyperparameters: { epochs: 3 } } })
    const response = await server.request<TemplateReply>('GET', `/v1/training/templates/${cpuTemplate}`)
    expect(response.body.data.template.hyperparameters.epochs).toBe(10)
  })

  it('answers 503 E1103 naming the available instance types for a template on gpu.a100.large', async () => {
    const response = await createJob(gpuTemplate, { name: 'needs-a-gpu', datasetId })

    expectError(response, 503, 'E1103')
    expect(response.body.error.message).toContain('gpu.a100.large')
    expect(response.body.error.message).toContain('cpu.small')
    expect(response.body.error.message).toContain('cpu.large')
  })

  it("creates the job once overrides move it to cpu.small, keeping the template's instanceCount", async () => {
    const response = await createJob(gpuTemplate, { name: 'on-a-cpu', datasetId, overrides: { resources: { instanceType: 'cpu.small' } } })

    expect(response.status, response.text).toBe(201)
    expect(response.body.data.job).toMatchObject({
      templateId: gpuTemplate,
      status: 'pending',
      model: { baseModel: 'bert-base-chinese', task: 'text-classification', architecture: 'transformer' },
      resources: { instanceType: 'cpu.small', instanceCount: 1 },
      hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10 },
    })
  })

  it('rejects a batchSize of 0 in overrides with 400 E1108 naming the field', async () => {
    const response = await createJob(cpuTemplate, { name: 'bad-batch', datasetId, overrides: { hyperparameters: { batchSize: 0 } } })
    expectError(response, 400, 'E1108')
    expect(fieldsOf(response)).toEqual(['overrides.hyperparameters.batchSize'])
  })

  it('rejects unknown keys in the body and in overrides with 400 E1108 naming each', async () => {
    const response = await createJob(cpuTemplate, {
      name: 'unknown-keys',
      datasetId,
      priorityClass: 'high',
      overrides: { hyperparameters: { epochz: 3 }, dataset: { id: bobDatasetId }, extra: true },
    })
    expectError(response, 400, 'E1108')
    expect(fieldsOf(response).sort()).toEqual(['overrides.dataset.id', 'overrides.extra', 'overrides.hyperparameters.epochz', 'priorityClass'])
  })

  it('rejects a missing name and datasetId with 400 E1108 naming both', async () => {
    const response = await createJob(cpuTemplate, { overrides: { hyperparameters: { epochs: 2 } } })
    expectError(response, 400, 'E1108')
    expect(fieldsOf(response).sort()).toEqual(['datasetId', 'name'])
  })

  it("answers 404 E1102 for another user's dataset", async () => {
    const response = await createJob(cpuTemplate, { name: 'not-my-data', datasetId: bobDatasetId })
    expectError(response, 404, 'E1102')
  })

  it("answers 404 E1109 for a template that does not exist or is another user's private one", async () => {
    expectError(await createJob('template-doesnotexist', { name: 'x', datasetId }), 404, 'E1109')
    const bobPrivate = await createTemplate(cpuTemplateBody({ name: 'bob-only' }), tokens.bob)
    expectError(await createJob(bobPrivate, { name: 'x', datasetId }), 404, 'E1109')
  })

  it("creates a job from another user's public template, owned by the caller", async () => {
    const bobPublic = await createTemplate(
      cpuTemplateBody({ name: 'bob-shared', isPublic: true, hyperparameters: { learningRate: 0.002, batchSize: 4, epochs: 2 } }),
      tokens.bob,
    )
    const response = await createJob(bobPublic, { name: 'alice-from-bob', datasetId, overrides: { hyperparameters: { epochs: 3 } } })

    expect(response.status, response.text).toBe(201)
    const job = response.body.data.job
    expect(job).toMatchObject({
      templateId: bobPublic,
      status: 'pending',
      owner: 'alice',
      dataset: { id: datasetId },
      hyperparameters: { learningRate: 0.002, batchSize: 4, epochs: 3 },
    })

    expect((await server.request('GET', `/v1/training/jobs/${job.id}`)).status).toBe(200)
    expectError(await server.request<JobReply>('GET', `/v1/training/jobs/${job.id}`, { token: tokens.bob }), 404, 'E1101')
  })

  it('refuses a read-only token with 403 E1107', async () => {
    const response = await createJob(cpuTemplate, { name: 'reader-job', datasetId }, tokens.reader)
    expectError(response, 403, 'E1107')
  })
})
