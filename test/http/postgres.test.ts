// The REST lifecycle against PostgreSQL: the same service, DATABASE_URL
// pointing at a fresh schema of the running PostgreSQL server (migrations
// create it), and a restart on the same database.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDataset, jobRequest, specJobRequest, tabularCsv, textClassificationCsv, uploadDataset } from '../helpers/data.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import type { DatasetDeleteReply, DatasetDetailReply, DatasetListReply, JobDeleteReply, JobListReply, JobReply, StopReply } from '../helpers/replies.ts'

const postgresUrl = 'postgresql://postgres@127.0.0.1:5432/test'
const schema = `t_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`
const databaseUrl = `${postgresUrl}?schema=${schema}`
const migrationCount = readdirSync(path.resolve(import.meta.dirname, '../../prisma/postgres/migrations'), { withFileTypes: true }).filter((entry) =>
  entry.isDirectory(),
).length
const isoMs = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/** Rows of a query run directly on PostgreSQL (outside the service). */
async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    return (await client.query<T>(sql, values)).rows
  } finally {
    await client.end()
  }
}

function migrationRows(inSchema = schema) {
  return query<{ id: string; migration_name: string; finished_at: Date | null }>(
    `SELECT id, migration_name, finished_at FROM "${inSchema}"."_prisma_migrations" ORDER BY migration_name`,
  )
}

describe('the service on PostgreSQL (a fresh schema)', () => {
  // DATA_DIR outlives one server, so that a restart finds the dataset files too.
  let dataDir: string
  let env: Record<string, string>
  let server: TestServer | undefined

  /** The running server (fails clearly when a restart left none). */
  const api = () => {
    if (!server) throw new Error('no server is running')
    return server
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'training-pg-'))
    env = { DATABASE_URL: databaseUrl, DATA_DIR: dataDir }
    server = await startServer(env)
  })

  afterAll(async () => {
    try {
      await server?.close()
    } finally {
      if (dataDir) rmSync(dataDir, { recursive: true, force: true })
      await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    }
  })

  it('creates its tables in the schema named by DATABASE_URL and records each migration once', async () => {
    const tables = await query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])
    expect(tables.map((row) => row.table_name)).toEqual(expect.arrayContaining(['_prisma_migrations', 'Job', 'Dataset', 'User', 'ApiToken']))
    const migrations = await migrationRows()
    expect(migrations).toHaveLength(migrationCount)
    expect(migrations.every((row) => row.finished_at !== null)).toBe(true)
    expect((await api().request('GET', '/readyz', { token: null })).status).toBe(200)
  })

  it('stores an uploaded dataset with its tags, size and preview, and filters datasets by tags', async () => {
    const csv = textClassificationCsv(30)
    const upload = await uploadDataset(api(), { name: 'pg-text', content: csv, fields: { tags: JSON.stringify(['classification', 'text']) } })
    expect(upload.status, upload.text).toBe(201)
    const text = upload.body.data.dataset
    expect(text).toMatchObject({ name: 'pg-text', type: 'text', format: 'csv', size: Buffer.byteLength(csv), rowCount: 30, tags: ['classification', 'text'] })
    const tabular = await createDataset(api(), { name: 'pg-tabular', type: 'tabular', content: tabularCsv(20), fields: { tags: 'tabular,numbers' } })

    const got = await api().request<DatasetDetailReply>('GET', `/v1/training/datasets/${text.id}`)
    expect(got.status).toBe(200)
    expect(got.body.data.dataset).toMatchObject({ id: text.id, tags: ['classification', 'text'], columnCount: 2 })
    expect(got.body.data.dataset.preview[0]).toEqual({ text: expect.any(String), label: 'sports' })

    const byTags = async (tags: string) => {
      const response = await api().request<DatasetListReply>('GET', `/v1/training/datasets?tags=${encodeURIComponent(tags)}`)
      expect(response.status, response.text).toBe(200)
      return (response.body.data.datasets as { id: string }[]).map((dataset) => dataset.id)
    }
    expect(await byTags('classification,text')).toEqual([text.id])
    expect(await byTags('text')).toEqual([text.id])
    expect(await byTags('numbers')).toEqual([tabular])
    // Every listed tag must match.
    expect(await byTags('text,numbers')).toEqual([])
    expect(await byTags('nothing-tagged-so')).toEqual([])
  })

  it("creates the spec's example job on cpu.large and answers its configuration groups on GET", async () => {
    const datasetId = await createDataset(api(), { name: 'pg-spec' })
    const created = await api().request<JobReply>('POST', '/v1/training/jobs', { json: specJobRequest(datasetId, 'cpu.large') })
    expect(created.status, created.text).toBe(201)
    const id = created.body.data.job.id as string
    expect(id).toMatch(/^job-/)

    const got = await api().request<JobReply>('GET', `/v1/training/jobs/${id}`)
    expect(got.status).toBe(200)
    expect(got.body.success).toBe(true)
    const job = got.body.data.job
    expect(job).toMatchObject({
      id,
      name: 'bert-fine-tuning',
      description: 'BERT模型微调任务',
      owner: 'alice',
      status: 'pending',
      model: { baseModel: 'bert-base-chinese', task: 'text-classification', architecture: 'transformer' },
      dataset: { id: datasetId, validationSplit: 0.2, testSplit: 0.1 },
      hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10, warmupSteps: 1000, weightDecay: 0.01, gradientClipping: 1 },
      resources: { instanceType: 'cpu.large', instanceCount: 1, distributed: false },
      output: { checkpointInterval: 1000, saveBestOnly: true, exportFormat: 'onnx' },
      options: { enableEarlyStopping: true, enableMixedPrecision: true, enableLogging: true },
      progress: { totalEpochs: 10, percentage: 0 },
      cost: { currency: 'USD', pricePerHour: 0.1 },
    })
    expect(job.cost.estimatedCost).toBeGreaterThan(0)
    expect(job.createdAt).toMatch(isoMs)
    expect(job.updatedAt).toMatch(isoMs)
  })

  it('lists jobs by status and model, sorted and paged, with the spec pagination', async () => {
    // Bob's jobs only: the other tests here create alice's.
    const datasetId = await createDataset(api(), { name: 'pg-list', token: tokens.bob })
    const create = async (body: unknown) => {
      const response = await api().request<JobReply>('POST', '/v1/training/jobs', { token: tokens.bob, json: body })
      expect(response.status, response.text).toBe(201)
      return response.body.data.job.id as string
    }
    const bert = await create(specJobRequest(datasetId, 'cpu.large'))
    const alpha = await create(jobRequest(datasetId, { name: 'alpha-cnn' }))
    const beta = await create(jobRequest(datasetId, { name: 'beta-cnn' }))
    expect((await api().request<StopReply>('POST', `/v1/training/jobs/${beta}/stop`, { token: tokens.bob })).body.data.job.status).toBe('cancelled')

    const list = async (queryString: string) => {
      const response = await api().request<JobListReply>('GET', `/v1/training/jobs?${queryString}`, { token: tokens.bob })
      expect(response.status, response.text).toBe(200)
      return response.body.data as { jobs: { id: string; name: string; status: string; model: { baseModel: string } }[]; pagination: unknown }
    }
    const ids = (page: { jobs: { id: string }[] }) => page.jobs.map((job) => job.id)

    expect(ids(await list(''))).toEqual([beta, alpha, bert])
    expect(ids(await list('status=pending'))).toEqual([alpha, bert])
    expect(ids(await list('model=text-cnn'))).toEqual([beta, alpha])
    expect(ids(await list('model=bert-base-chinese&status=pending'))).toEqual([bert])
    expect(ids(await list('status=cancelled&model=bert-base-chinese'))).toEqual([])

    const byName = await list('sortBy=name&sortOrder=asc&limit=2&page=1')
    expect(byName.jobs.map((job) => job.name)).toEqual(['alpha-cnn', 'bert-fine-tuning'])
    expect(byName.pagination).toEqual({ page: 1, limit: 2, total: 3, totalPages: 2, hasNext: true, hasPrev: false })
    const second = await list('sortBy=name&sortOrder=asc&limit=2&page=2')
    expect(second.jobs.map((job) => job.name)).toEqual(['beta-cnn'])
    expect(second.pagination).toEqual({ page: 2, limit: 2, total: 3, totalPages: 2, hasNext: false, hasPrev: true })
    expect(second.jobs[0]).toMatchObject({ id: beta, status: 'cancelled', model: { baseModel: 'text-cnn' } })
  })

  it('stops a pending job (cancelled), deletes it, then deletes its dataset', async () => {
    const datasetId = await createDataset(api(), { name: 'pg-lifecycle' })
    const created = await api().request<JobReply>('POST', '/v1/training/jobs', { json: specJobRequest(datasetId, 'cpu.large') })
    const id = created.body.data.job.id as string

    // An active job holds its dataset.
    const refused = await api().request('DELETE', `/v1/training/datasets/${datasetId}`)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('E1110')

    const stopped = await api().request<StopReply>('POST', `/v1/training/jobs/${id}/stop`)
    expect(stopped.status, stopped.text).toBe(200)
    expect(stopped.body.data.job).toEqual({ id, status: 'cancelled', stoppedAt: expect.stringMatching(isoMs) })
    expect((await api().request<JobReply>('GET', `/v1/training/jobs/${id}`)).body.data.job).toMatchObject({
      status: 'cancelled',
      completedAt: expect.stringMatching(isoMs),
    })

    const deleted = await api().request<JobDeleteReply>('DELETE', `/v1/training/jobs/${id}`)
    expect(deleted.status, deleted.text).toBe(200)
    expect(deleted.body.data).toMatchObject({ jobId: id, deleted: true, deletedAt: expect.stringMatching(isoMs) })
    const gone = await api().request('GET', `/v1/training/jobs/${id}`)
    expect(gone.status).toBe(404)
    expect(gone.body.error.code).toBe('E1101')

    const datasetDeleted = await api().request<DatasetDeleteReply>('DELETE', `/v1/training/datasets/${datasetId}`)
    expect(datasetDeleted.status, datasetDeleted.text).toBe(200)
    expect(datasetDeleted.body.data).toMatchObject({ datasetId, deleted: true })
    const datasetGone = await api().request('GET', `/v1/training/datasets/${datasetId}`)
    expect(datasetGone.status).toBe(404)
    expect(datasetGone.body.error.code).toBe('E1102')
  })

  it('keeps every row after a restart on the same DATABASE_URL and applies no migration again', async () => {
    const datasetId = await createDataset(api(), { name: 'pg-restart', fields: { tags: 'kept' } })
    const created = await api().request<JobReply>('POST', '/v1/training/jobs', { json: specJobRequest(datasetId, 'cpu.large') })
    const jobId = created.body.data.job.id as string
    const before = await migrationRows()
    const jobsBefore = (await api().request<JobListReply>('GET', '/v1/training/jobs?limit=100')).body.data.pagination.total as number

    await api().close()
    server = undefined
    server = await startServer(env)

    expect(await migrationRows()).toEqual(before)
    const job = await api().request<JobReply>('GET', `/v1/training/jobs/${jobId}`)
    expect(job.status, job.text).toBe(200)
    expect(job.body.data.job).toMatchObject({ id: jobId, status: 'pending', dataset: { id: datasetId }, resources: { instanceType: 'cpu.large' } })
    expect((await api().request<JobListReply>('GET', '/v1/training/jobs?limit=100')).body.data.pagination.total).toBe(jobsBefore)
    const kept = await api().request<DatasetListReply>('GET', '/v1/training/datasets?tags=kept')
    expect(kept.body.data.datasets.map((dataset: { id: string }) => dataset.id)).toEqual([datasetId])
    // The restarted service still writes: the job can be stopped.
    expect((await api().request<StopReply>('POST', `/v1/training/jobs/${jobId}/stop`)).body.data.job.status).toBe('cancelled')
  })
})

describe('several services starting together on PostgreSQL (scale-out)', () => {
  it('all come up on one fresh schema, with each migration and each API_TOKENS user recorded once', async () => {
    // A race shows in some starts, not all: a few rounds of three processes' worth of services.
    for (let round = 0; round < 3; round++) {
      const fresh = `${schema}_together_${round}`
      const starts = await Promise.allSettled([0, 1, 2].map(() => startServer({ DATABASE_URL: `${postgresUrl}?schema=${fresh}` })))
      try {
        const failures = starts.flatMap((start) => (start.status === 'rejected' ? [String(start.reason).split('\n')[0]] : []))
        expect(failures, `round ${round}`).toEqual([])
        expect(await migrationRows(fresh)).toHaveLength(migrationCount)
        const users = await query<{ name: string }>(`SELECT name FROM "${fresh}"."User" ORDER BY name`)
        expect(users.map((user) => user.name)).toEqual(['alice', 'bob', 'reader', 'root'])
        for (const start of starts) {
          if (start.status === 'fulfilled') expect((await start.value.request('GET', '/v1/training/resources')).status).toBe(200)
        }
      } finally {
        await Promise.all(starts.map((start) => (start.status === 'fulfilled' ? start.value.close() : undefined)))
        await query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`)
      }
    }
  })
})
