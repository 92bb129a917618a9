// The GraphQL API over HTTP: authentication, jobs, templates, resources and
// datasets, including GraphQL multipart uploads, against a real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { print, type ExecutionResult } from 'graphql'
import type { ResultOf, TypedDocumentNode } from '@graphql-typed-document-node/core'
import { graphql } from '../gql/index.ts'
import type { CreateJobInput, GqlJobsPageQueryVariables } from '../gql/graphql.ts'
import { startServer, tokens, type RequestOptions, type TestResponse, type TestServer } from '../helpers/server.ts'
import { createDataset, specJobRequest, textClassificationCsv } from '../helpers/data.ts'

const isoMs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const GqlViewer = graphql(`
  query GqlViewer {
    viewer {
      name
      scopes
    }
  }
`)

const GqlCreateJob = graphql(`
  mutation GqlCreateJob($input: CreateJobInput!) {
    createJob(input: $input) {
      id
      name
      description
      owner
      status
      templateId
      model {
        baseModel
        task
        architecture
      }
      dataset {
        id
        validationSplit
        testSplit
      }
      hyperparameters {
        learningRate
        batchSize
        epochs
        warmupSteps
        weightDecay
        gradientClipping
      }
      output {
        checkpointInterval
        saveBestOnly
        exportFormat
      }
      options {
        enableEarlyStopping
        enableMixedPrecision
        enableLogging
      }
      progress {
        epoch
        totalEpochs
        step
        totalSteps
        percentage
      }
      metrics {
        trainLoss
        trainAccuracy
        valLoss
        valAccuracy
        learningRate
        all
      }
      resources {
        instanceType
        instanceCount
        distributed
        gpuUtilization
        memoryUsage
        cpuUtilization
        backend
      }
      time {
        startedAt
        elapsedTime
        estimatedRemainingTime
        completedAt
      }
      cost {
        estimatedCost
        actualCost
        currency
        pricePerHour
      }
      error {
        code
      }
      createdAt
      updatedAt
      estimatedStartTime
      estimatedCompletionTime
      stoppedAt
    }
  }
`)

const GqlJobById = graphql(`
  query GqlJobById($id: ID!) {
    job(id: $id) {
      id
      name
      status
    }
  }
`)

const GqlJobsPage = graphql(`
  query GqlJobsPage($first: Int, $after: String, $status: JobStatus, $sortBy: JobSortField, $sortOrder: SortOrder) {
    jobs(first: $first, after: $after, status: $status, sortBy: $sortBy, sortOrder: $sortOrder) {
      totalCount
      edges {
        cursor
        node {
          id
          name
          status
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`)

const GqlStopJob = graphql(`
  mutation GqlStopJob($id: ID!) {
    stopJob(id: $id) {
      id
      status
      stoppedAt
    }
  }
`)

const GqlDeleteJob = graphql(`
  mutation GqlDeleteJob($id: ID!) {
    deleteJob(id: $id) {
      jobId
      deleted
      deletedAt
      force
    }
  }
`)

const GqlInstanceTypes = graphql(`
  query GqlInstanceTypes {
    instanceTypes {
      name
      gpus
      capacity
      available
      pricePerHour
    }
  }
`)

const GqlBaseModels = graphql(`
  query GqlBaseModels($task: Task) {
    baseModels(task: $task) {
      name
      tasks
      architecture
    }
  }
`)

const GqlCreateTemplate = graphql(`
  mutation GqlCreateTemplate($input: CreateTemplateInput!) {
    createTemplate(input: $input) {
      id
      name
      owner
      model
      hyperparameters
      resources
      isPublic
      createdAt
    }
  }
`)

const GqlTemplates = graphql(`
  query GqlTemplates($visibility: TemplateVisibility, $first: Int) {
    templates(visibility: $visibility, first: $first) {
      totalCount
      edges {
        node {
          id
          name
          owner
          isPublic
        }
      }
    }
  }
`)

const GqlCreateJobFromTemplate = graphql(`
  mutation GqlCreateJobFromTemplate($templateId: ID!, $input: CreateJobFromTemplateInput!) {
    createJobFromTemplate(templateId: $templateId, input: $input) {
      id
      name
      status
      templateId
      dataset {
        id
      }
      hyperparameters {
        learningRate
        batchSize
        epochs
        dropout
      }
      resources {
        instanceType
      }
    }
  }
`)

const GqlCreateDataset = graphql(`
  mutation GqlCreateDataset($input: CreateDatasetInput!, $file: Upload!) {
    createDataset(input: $input, file: $file) {
      id
      name
      type
      format
      rowCount
      columnCount
      schema {
        columns {
          name
          type
        }
      }
      tags
      status
    }
  }
`)

const GqlDatasets = graphql(`
  query GqlDatasets($tags: [String!], $first: Int) {
    datasets(tags: $tags, first: $first) {
      totalCount
      edges {
        node {
          id
          name
          tags
        }
      }
    }
  }
`)

interface ErrorDetail {
  field: string
  message: string
}

/** The first error's extensions (code, details), failing the test when the result has no error. */
function firstError(result: ExecutionResult<unknown> | undefined) {
  expect(result?.errors?.length, JSON.stringify(result)).toBeGreaterThan(0)
  const error = result!.errors![0]
  return { message: error.message, code: error.extensions?.code, details: (error.extensions?.details ?? []) as ErrorDetail[] }
}

function fieldsOf(details: ErrorDetail[]): string[] {
  return details.map((detail) => detail.field).sort()
}

let server: TestServer
let datasetId: string

beforeAll(async () => {
  server = await startServer()
  datasetId = await createDataset(server, { name: 'gql-texts' })
})

afterAll(async () => {
  await server?.close()
})

/** A reply of /graphql read raw: the body is GraphQL's ExecutionResult, not the REST envelope. */
type GraphqlResponse<R> = Omit<TestResponse, 'body'> & { body: ExecutionResult<R> }

/** POST /graphql as it is (for requests that server.graphql would not send). */
async function rawGraphql<R = Record<string, unknown>>(options: RequestOptions): Promise<GraphqlResponse<R>> {
  const { body, ...response } = await server.request('POST', '/graphql', options)
  return { ...response, body: body as unknown as ExecutionResult<R> }
}

/** POSTs a GraphQL request with raw variables (for inputs the typed documents would not allow). */
function postGraphql(document: TypedDocumentNode<unknown, never>, variables: unknown, token: string | null = tokens.alice): Promise<GraphqlResponse<unknown>> {
  return rawGraphql({ token, json: { query: print(document), variables } })
}

/** A GraphQL multipart request (graphql-multipart-request-spec) carrying one file at `variables.file`. */
function uploadViaGraphql(
  variables: { input: Record<string, unknown> },
  csv: string,
  token: string | null = tokens.alice,
): Promise<GraphqlResponse<ResultOf<typeof GqlCreateDataset>>> {
  const form = new FormData()
  form.append('operations', JSON.stringify({ query: print(GqlCreateDataset), variables: { ...variables, file: null } }))
  form.append('map', JSON.stringify({ 0: ['variables.file'] }))
  form.append('0', new Blob([csv], { type: 'text/csv' }), 'upload.csv')
  return rawGraphql({ token, body: form })
}

const createJob = (input: CreateJobInput, token: string = tokens.alice) => server.graphql(GqlCreateJob, { input }, token)

/** The spec's §1.1 example as a CreateJobInput: enum values by their GraphQL names (`-` becomes `_`). */
function specJobInput(dataset: string, instanceType?: string): CreateJobInput {
  const request = specJobRequest(dataset, instanceType)
  return {
    ...request,
    model: { ...request.model, task: 'text_classification', architecture: 'transformer' },
    output: { ...request.output, exportFormat: 'onnx' },
  }
}

/** A small valid job input on cpu.small. */
function smallJob(name: string, dataset = datasetId): CreateJobInput {
  return {
    ...specJobInput(dataset, 'cpu.small'),
    name,
    model: { baseModel: 'text-cnn', task: 'text_classification' },
    hyperparameters: { learningRate: 0.001, batchSize: 8, epochs: 2 },
  }
}

describe('authentication', () => {
  it('answers a request without a token with HTTP 401, WWW-Authenticate: Bearer and E1100', async () => {
    const response = await postGraphql(GqlViewer, {}, null)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(response.body.errors![0].extensions!.code).toBe('E1100')
    expect(response.body.data).toBeUndefined()
  })

  it('answers an unknown token with HTTP 401, WWW-Authenticate: Bearer and E1100', async () => {
    const response = await postGraphql(GqlViewer, {}, 'tok-nobody')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(response.body.errors![0].extensions!.code).toBe('E1100')
  })

  it('answers a malformed Authorization header with 401 E1100', async () => {
    const response = await rawGraphql({
      token: null,
      headers: { authorization: 'Basic YWxpY2U6eA==' },
      json: { query: print(GqlViewer) },
    })
    expect(response.status).toBe(401)
    expect(response.body.errors![0].extensions!.code).toBe('E1100')
  })

  it('viewer returns the user name and the scopes of the token, implied ones included', async () => {
    const alice = await server.graphql(GqlViewer, {})
    expect(alice.errors).toBeUndefined()
    expect(alice.data?.viewer.name).toBe('alice')
    expect([...alice.data!.viewer.scopes].sort()).toEqual(['read', 'write'])

    const reader = await server.graphql(GqlViewer, {}, tokens.reader)
    expect(reader.data?.viewer).toEqual({ name: 'reader', scopes: ['read'] })

    const root = await server.graphql(GqlViewer, {}, tokens.root)
    expect([...root.data!.viewer.scopes].sort()).toEqual(['admin', 'read', 'write'])
  })
})

describe('createJob', () => {
  it('queues the spec §1.1 example on cpu.large as a pending job with every group present', async () => {
    const input = specJobInput(datasetId, 'cpu.large')
    const result = await createJob(input)

    expect(result.errors).toBeUndefined()
    const job = result.data!.createJob
    expect(job.id).toMatch(/^job-/)
    expect(job).toMatchObject({
      name: 'bert-fine-tuning',
      description: 'BERT模型微调任务',
      owner: 'alice',
      status: 'pending',
      templateId: null,
      model: { baseModel: 'bert-base-chinese', task: 'text_classification', architecture: 'transformer' },
      dataset: { id: datasetId, validationSplit: 0.2, testSplit: 0.1 },
      hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10, warmupSteps: 1000, weightDecay: 0.01, gradientClipping: 1 },
      output: { checkpointInterval: 1000, saveBestOnly: true, exportFormat: 'onnx' },
      options: { enableEarlyStopping: true, enableMixedPrecision: true, enableLogging: true },
      error: null,
      stoppedAt: null,
    })
    expect(job.progress).toMatchObject({ epoch: null, step: null, totalEpochs: 10, percentage: 0 })
    expect(job.progress.totalSteps).toBeGreaterThan(0)
    expect(job.metrics).toMatchObject({ trainLoss: null, trainAccuracy: null, valLoss: null, valAccuracy: null, learningRate: null })
    expect(Object.values(job.metrics.all).every((value) => value === null)).toBe(true)
    expect(job.resources).toEqual({
      instanceType: 'cpu.large',
      instanceCount: 1,
      distributed: false,
      gpuUtilization: null,
      memoryUsage: null,
      cpuUtilization: null,
      backend: null,
    })
    expect(job.time).toEqual({ startedAt: null, elapsedTime: null, estimatedRemainingTime: null, completedAt: null })
    expect(job.cost).toMatchObject({ actualCost: null, currency: 'USD', pricePerHour: 0.1 })
    expect(job.cost.estimatedCost).toBeGreaterThan(0)
    expect(job.createdAt).toMatch(isoMs)
    expect(job.updatedAt).toMatch(isoMs)
    expect(job.estimatedStartTime).toMatch(isoMs)
    expect(job.estimatedCompletionTime).toMatch(isoMs)
  })

  it('rejects a batchSize of 0, a learningRate of 0 and an empty name with E1108 naming every field', async () => {
    const input = { ...specJobInput(datasetId), name: '', hyperparameters: { ...specJobRequest(datasetId).hyperparameters, batchSize: 0, learningRate: 0 } }
    const result = await createJob(input)

    const error = firstError(result)
    expect(error.code).toBe('E1108')
    expect(fieldsOf(error.details)).toEqual(['hyperparameters.batchSize', 'hyperparameters.learningRate', 'name'])
    expect(result.data).toBeNull()
  })

  it('rejects a string literal where batchSize takes an Int with E1108', async () => {
    const query = `mutation GqlLiteralTypeError { createJob(input: { name: "x", model: { baseModel: "text-cnn", task: text_classification }, dataset: { id: "${datasetId}" }, hyperparameters: { batchSize: "x" }, resources: { instanceType: "cpu.small" } }) { id } }`
    const response = await rawGraphql({ json: { query } })
    expect(response.body.errors![0].extensions!.code).toBe('E1108')
    expect(response.body.data).toBeUndefined()
  })

  it('rejects a variable of the wrong type with E1108', async () => {
    const input = { ...smallJob('wrong-variable-type'), hyperparameters: { batchSize: 'x' } }
    const response = await postGraphql(GqlCreateJob, { input })
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1108')
    expect(response.body.data).toBeUndefined()
  })

  it('answers E1102 for a dataset that does not exist', async () => {
    const result = await createJob(specJobInput('dataset-doesnotexist'))
    expect(firstError(result).code).toBe('E1102')
  })

  it('answers E1103 naming the available types for a GPU instance type this deployment lacks', async () => {
    const error = firstError(await createJob(specJobInput(datasetId, 'gpu.a100.large')))
    expect(error.code).toBe('E1103')
    expect(error.message).toContain('cpu.small')
  })

  it('refuses a read-only token calling a mutation with E1107', async () => {
    const result = await createJob(smallJob('reader-job'), tokens.reader)
    expect(firstError(result).code).toBe('E1107')
  })
})

describe('job, stopJob and deleteJob', () => {
  it("answers E1101 for another user's job", async () => {
    const created = await createJob(smallJob('alice-private-job'))
    const id = created.data!.createJob.id

    const own = await server.graphql(GqlJobById, { id })
    expect(own.data?.job).toMatchObject({ id, name: 'alice-private-job', status: 'pending' })

    const result = await server.graphql(GqlJobById, { id }, tokens.bob)
    expect(firstError(result).code).toBe('E1101')
  })

  it('stopJob cancels a pending job at once', async () => {
    const id = (await createJob(smallJob('to-stop'))).data!.createJob.id
    const result = await server.graphql(GqlStopJob, { id })

    expect(result.errors).toBeUndefined()
    expect(result.data?.stopJob).toMatchObject({ id, status: 'cancelled' })
    expect(result.data?.stopJob.stoppedAt).toMatch(isoMs)
    expect((await server.graphql(GqlJobById, { id })).data?.job.status).toBe('cancelled')
  })

  it('stopJob by a read-only token answers E1107 and leaves the job pending', async () => {
    const id = (await createJob(smallJob('reader-cannot-stop'))).data!.createJob.id
    expect(firstError(await server.graphql(GqlStopJob, { id }, tokens.reader)).code).toBe('E1107')
    expect((await server.graphql(GqlJobById, { id })).data?.job.status).toBe('pending')
  })

  it('deleteJob removes the job, after which job(id) answers E1101', async () => {
    const id = (await createJob(smallJob('to-delete'))).data!.createJob.id
    const result = await server.graphql(GqlDeleteJob, { id })

    expect(result.errors).toBeUndefined()
    expect(result.data?.deleteJob).toMatchObject({ jobId: id, deleted: true, force: false })
    expect(result.data?.deleteJob.deletedAt).toMatch(isoMs)
    expect(firstError(await server.graphql(GqlJobById, { id })).code).toBe('E1101')
  })

  it("deleteJob of another user's job answers E1101", async () => {
    const id = (await createJob(smallJob('bob-cannot-delete'))).data!.createJob.id
    expect(firstError(await server.graphql(GqlDeleteJob, { id }, tokens.bob)).code).toBe('E1101')
    expect((await server.graphql(GqlJobById, { id })).data?.job.id).toBe(id)
  })
})

describe('jobs connection', () => {
  // bob creates jobs only here, so his list is exactly these five.
  const names = ['conn-c', 'conn-a', 'conn-e', 'conn-b', 'conn-d']
  const ids = new Map<string, string>()

  beforeAll(async () => {
    const bobDataset = await createDataset(server, { name: 'bob-texts', token: tokens.bob })
    for (const name of names) {
      const result = await createJob(smallJob(name, bobDataset), tokens.bob)
      if (!result.data) throw new Error(JSON.stringify(result.errors))
      ids.set(name, result.data.createJob.id)
    }
    for (const name of ['conn-a', 'conn-d']) await server.graphql(GqlStopJob, { id: ids.get(name)! }, tokens.bob)
  })

  const page = (variables: GqlJobsPageQueryVariables) => server.graphql(GqlJobsPage, variables, tokens.bob)

  it('pages with first and after cursors, with totalCount and hasNextPage', async () => {
    const first = await page({ first: 2, sortBy: 'name', sortOrder: 'asc' })
    expect(first.errors).toBeUndefined()
    const one = first.data!.jobs
    expect(one.totalCount).toBe(5)
    expect(one.edges.map((edge) => edge.node.name)).toEqual(['conn-a', 'conn-b'])
    expect(one.pageInfo.hasNextPage).toBe(true)
    expect(one.pageInfo.hasPreviousPage).toBe(false)
    expect(one.pageInfo.endCursor).toBe(one.edges[1].cursor)

    const two = (await page({ first: 2, after: one.pageInfo.endCursor, sortBy: 'name', sortOrder: 'asc' })).data!.jobs
    expect(two.edges.map((edge) => edge.node.name)).toEqual(['conn-c', 'conn-d'])
    expect(two.totalCount).toBe(5)
    expect(two.pageInfo.hasNextPage).toBe(true)

    const three = (await page({ first: 2, after: two.pageInfo.endCursor, sortBy: 'name', sortOrder: 'asc' })).data!.jobs
    expect(three.edges.map((edge) => edge.node.name)).toEqual(['conn-e'])
    expect(three.pageInfo.hasNextPage).toBe(false)
  })

  it('sorts by name descending', async () => {
    const result = await page({ first: 10, sortBy: 'name', sortOrder: 'desc' })
    expect(result.data!.jobs.edges.map((edge) => edge.node.name)).toEqual(['conn-e', 'conn-d', 'conn-c', 'conn-b', 'conn-a'])
  })

  it('lists newest first by default', async () => {
    const edges = (await page({ first: 10 })).data!.jobs.edges
    const times = edges.map((edge) => edge.node.createdAt)
    expect(times).toEqual([...times].sort().reverse())
  })

  it('filters by status', async () => {
    const cancelled = (await page({ first: 10, status: 'cancelled', sortBy: 'name', sortOrder: 'asc' })).data!.jobs
    expect(cancelled.totalCount).toBe(2)
    expect(cancelled.edges.map((edge) => edge.node.name)).toEqual(['conn-a', 'conn-d'])

    const pending = (await page({ first: 10, status: 'pending', sortBy: 'name', sortOrder: 'asc' })).data!.jobs
    expect(pending.totalCount).toBe(3)
    expect(pending.edges.every((edge) => edge.node.status === 'pending')).toBe(true)
  })

  it("never lists another user's jobs", async () => {
    const alice = (await server.graphql(GqlJobsPage, { first: 100 })).data!.jobs
    const aliceIds = alice.edges.map((edge) => edge.node.id)
    for (const id of ids.values()) expect(aliceIds).not.toContain(id)
  })

  it('rejects a negative first with E1108', async () => {
    const result = await page({ first: -1 })
    expect(firstError(result).code).toBe('E1108')
  })

  it('rejects an unknown status value with E1108', async () => {
    const response = await postGraphql(GqlJobsPage, { first: 2, status: 'sleeping' }, tokens.bob)
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1108')
  })
})

describe('instanceTypes and baseModels', () => {
  it('reports GPU types with capacity 0 here and cpu.small with capacity of at least 1', async () => {
    const result = await server.graphql(GqlInstanceTypes, {})
    expect(result.errors).toBeUndefined()
    const types = result.data!.instanceTypes
    const gpuTypes = types.filter((type) => type.gpus > 0)
    expect(gpuTypes.map((type) => type.name)).toEqual(expect.arrayContaining(['gpu.a100.large']))
    for (const type of gpuTypes) expect(type.capacity).toBe(0)
    const small = types.find((type) => type.name === 'cpu.small')
    expect(small?.capacity).toBeGreaterThanOrEqual(1)
    expect(small?.pricePerHour).toBeGreaterThan(0)
  })

  it('baseModels(task: text_classification) lists only text-classification models', async () => {
    const result = await server.graphql(GqlBaseModels, { task: 'text_classification' })
    const models = result.data!.baseModels
    expect(models.map((model) => model.name)).toEqual(expect.arrayContaining(['text-cnn', 'text-transformer-small', 'text-bag-of-embeddings']))
    expect(models.map((model) => model.name)).not.toContain('tabular-mlp')
    for (const model of models) expect(model.tasks).toContain('text_classification')
  })
})

describe('templates', () => {
  const templateInput = {
    name: 'gql-template',
    model: { baseModel: 'text-cnn', task: 'text_classification' as const },
    hyperparameters: { learningRate: 0.0005, batchSize: 16, epochs: 10, dropout: 0.2 },
    resources: { instanceType: 'cpu.small', instanceCount: 1 },
    isPublic: false,
  }

  it('createTemplate saves a template and templates lists it', async () => {
    const created = await server.graphql(GqlCreateTemplate, { input: templateInput })
    expect(created.errors).toBeUndefined()
    const template = created.data!.createTemplate
    expect(template).toMatchObject({
      name: 'gql-template',
      owner: 'alice',
      isPublic: false,
      // The template keeps the REST form of what it saved (a JSON object): the task as the spec writes it.
      model: { baseModel: 'text-cnn', task: 'text-classification' },
      hyperparameters: templateInput.hyperparameters,
      resources: templateInput.resources,
    })
    expect(template.id).toMatch(/^template-/)

    const mine = (await server.graphql(GqlTemplates, { visibility: 'mine', first: 100 })).data!.templates
    expect(mine.edges.map((edge) => edge.node.id)).toContain(template.id)
    const bobs = (await server.graphql(GqlTemplates, { first: 100 }, tokens.bob)).data!.templates
    expect(bobs.edges.map((edge) => edge.node.id)).not.toContain(template.id)
  })

  it('createTemplate rejects an unknown instanceType with E1108 naming resources.instanceType', async () => {
    const result = await server.graphql(GqlCreateTemplate, { input: { ...templateInput, resources: { instanceType: 'tpu.v5' } } })
    const error = firstError(result)
    expect(error.code).toBe('E1108')
    expect(fieldsOf(error.details)).toEqual(['resources.instanceType'])
  })

  it('createJobFromTemplate deep-merges overrides over the template', async () => {
    const templateId = (await server.graphql(GqlCreateTemplate, { input: { ...templateInput, name: 'gql-merge' } })).data!.createTemplate.id
    const result = await server.graphql(GqlCreateJobFromTemplate, {
      templateId,
      input: { name: 'gql-from-template', datasetId, overrides: { hyperparameters: { epochs: 15 } } },
    })

    expect(result.errors).toBeUndefined()
    expect(result.data!.createJobFromTemplate).toMatchObject({
      name: 'gql-from-template',
      status: 'pending',
      templateId,
      dataset: { id: datasetId },
      hyperparameters: { epochs: 15, learningRate: 0.0005, batchSize: 16, dropout: 0.2 },
      resources: { instanceType: 'cpu.small' },
    })
  })

  it('createJobFromTemplate rejects invalid overrides with E1108 naming the field', async () => {
    const templateId = (await server.graphql(GqlCreateTemplate, { input: { ...templateInput, name: 'gql-bad-overrides' } })).data!.createTemplate.id
    const result = await server.graphql(GqlCreateJobFromTemplate, {
      templateId,
      input: { name: 'bad', datasetId, overrides: { hyperparameters: { batchSize: 0 }, colour: 'red' } },
    })
    const error = firstError(result)
    expect(error.code).toBe('E1108')
    expect(fieldsOf(error.details)).toEqual(['overrides.colour', 'overrides.hyperparameters.batchSize'])
  })

  it("createJobFromTemplate answers E1109 for another user's private template", async () => {
    const templateId = (await server.graphql(GqlCreateTemplate, { input: { ...templateInput, name: 'bob-private' } }, tokens.bob)).data!.createTemplate.id
    const result = await server.graphql(GqlCreateJobFromTemplate, { templateId, input: { name: 'x', datasetId } })
    expect(firstError(result).code).toBe('E1109')
  })
})

describe('datasets over GraphQL multipart', () => {
  const countDatasets = async () => (await server.graphql(GqlDatasets, { first: 1 })).data!.datasets.totalCount

  it('createDataset uploads a CSV sent as a GraphQL multipart request', async () => {
    const response = await uploadViaGraphql({ input: { name: 'gql-upload', type: 'text', format: 'csv', tags: ['gql', 'upload'] } }, textClassificationCsv(12))

    expect(response.status, response.text).toBe(200)
    expect(response.body.errors).toBeUndefined()
    const dataset = response.body.data!.createDataset
    expect(dataset.id).toMatch(/^dataset-/)
    expect(dataset).toMatchObject({
      name: 'gql-upload',
      type: 'text',
      format: 'csv',
      rowCount: 12,
      columnCount: 2,
      schema: {
        columns: [
          { name: 'text', type: 'string' },
          { name: 'label', type: 'string' },
        ],
      },
      tags: ['gql', 'upload'],
      status: 'uploaded',
    })
  })

  it('rejects a CSV with a ragged row with E1108 and leaves no dataset behind', async () => {
    const before = await countDatasets()
    const response = await uploadViaGraphql({ input: { name: 'gql-ragged', type: 'text', format: 'csv' } }, 'text,label\n"good row",a\n"bad row",b,extra\n')

    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1108')
    const details = response.body.errors![0].extensions!.details as ErrorDetail[]
    expect(details.map((detail) => detail.field)).toEqual(['file'])
    expect(response.body.data?.createDataset ?? null).toBeNull()
    expect(await countDatasets()).toBe(before)
  })

  it('rejects invalid upload fields with E1108 naming every field', async () => {
    const response = await uploadViaGraphql({ input: { name: '', type: 'video', format: 'csv' } }, textClassificationCsv(6))
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1108')
    expect(fieldsOf(response.body.errors![0].extensions!.details as ErrorDetail[])).toEqual(['name', 'type'])
  })

  it('answers a multipart upload without a token with HTTP 401 and E1100 as a GraphQL error', async () => {
    const before = await countDatasets()
    const response = await uploadViaGraphql({ input: { name: 'anonymous', type: 'text', format: 'csv' } }, textClassificationCsv(6), null)

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1100')
    expect(await countDatasets()).toBe(before)
  })

  it('refuses a multipart upload by a read-only token with E1107', async () => {
    const response = await uploadViaGraphql({ input: { name: 'reader-upload', type: 'text', format: 'csv' } }, textClassificationCsv(6), tokens.reader)
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1107')
  })

  it('answers a multipart request without a map with E1108 as a GraphQL error', async () => {
    const form = new FormData()
    form.append(
      'operations',
      JSON.stringify({ query: print(GqlCreateDataset), variables: { input: { name: 'no-map', type: 'text', format: 'csv' }, file: null } }),
    )
    const response = await rawGraphql({ body: form })

    expect(response.status).toBeGreaterThanOrEqual(400)
    expect(response.body.errors?.[0]?.extensions?.code, response.text).toBe('E1108')
  })

  it('datasets filters by tags, every tag having to match', async () => {
    for (const [name, tags] of [
      ['tagged-news', ['gql-tags', 'news']],
      ['tagged-sports', ['gql-tags', 'sports']],
      ['tagged-both', ['gql-tags', 'news', 'sports']],
    ] as const) {
      const response = await uploadViaGraphql({ input: { name, type: 'text', format: 'csv', tags: [...tags] } }, textClassificationCsv(6))
      expect(response.body.errors, response.text).toBeUndefined()
    }

    const all = (await server.graphql(GqlDatasets, { tags: ['gql-tags'], first: 10 })).data!.datasets
    expect(all.totalCount).toBe(3)

    const news = (await server.graphql(GqlDatasets, { tags: ['gql-tags', 'news'], first: 10 })).data!.datasets
    expect(news.totalCount).toBe(2)
    expect(news.edges.map((edge) => edge.node.name).sort()).toEqual(['tagged-both', 'tagged-news'])

    const bob = (await server.graphql(GqlDatasets, { tags: ['gql-tags'], first: 10 }, tokens.bob)).data!.datasets
    expect(bob.totalCount).toBe(0)
  })

  it('finds a dataset by a tag that contains a comma, exactly as it was uploaded', async () => {
    const response = await uploadViaGraphql({ input: { name: 'comma-tag', type: 'text', format: 'csv', tags: ['nlp,zh'] } }, textClassificationCsv(6))
    expect(response.body.errors, response.text).toBeUndefined()
    expect(response.body.data!.createDataset.tags).toEqual(['nlp,zh'])

    const found = (await server.graphql(GqlDatasets, { tags: ['nlp,zh'], first: 10 })).data!.datasets
    expect(found.edges.map((edge) => edge.node.name)).toEqual(['comma-tag'])
  })
})
