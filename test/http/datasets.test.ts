// Datasets over REST (spec §2): uploads of every format, inferred and
// declared schemas, every kind of bad upload, listing, preview and delete.
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestResponse, type TestServer } from '../helpers/server.ts'
import { createDataset, jobRequest, tabularCsv, textClassificationCsv, uploadDataset } from '../helpers/data.ts'
import type { DatasetDeleteReply, DatasetDetailReply, DatasetListReply, DatasetReply, JobReply, StopReply } from '../helpers/replies.ts'

let server: TestServer

beforeAll(async () => {
  server = await startServer({ MAX_UPLOAD_BYTES: '20000' })
})
afterAll(() => server?.close())

/** Dataset folders and staged files on disk, to prove a failed upload leaves nothing. */
function filesOnDisk() {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])
  return { datasets: list(path.join(server.dataDir, 'datasets')).length, staging: list(path.join(server.dataDir, 'staging')).length }
}

async function datasetCount(token: string = tokens.alice) {
  return (await server.request<DatasetListReply>('GET', '/v1/training/datasets', { token })).body.data.pagination.total
}

/** Runs a failing upload and checks that no row and no file is left behind. */
async function expectRejected(upload: () => ReturnType<typeof uploadDataset>, status: number, messagePattern: RegExp) {
  const before = { count: await datasetCount(), disk: filesOnDisk() }
  const response = await upload()
  expect(response.status).toBe(status)
  expect(response.body.success).toBe(false)
  expect(response.body.error.code).toBe('E1108')
  expect(JSON.stringify(response.body.error)).toMatch(messagePattern)
  expect(await datasetCount()).toBe(before.count)
  expect(filesOnDisk()).toEqual({ datasets: before.disk.datasets, staging: 0 })
  return response
}

describe('POST /v1/training/datasets', () => {
  it('stores a CSV upload and answers 201 with size, counts, inferred column types, metadata and tags', async () => {
    const csv = 'id,text,score,ratio,active,label\n1,hello,3,0.5,true,a\n2,"with, comma",4,1e-3,false,b\n3,,5,,TRUE,a\n'
    const response = await uploadDataset(server, {
      name: 'text-classification-dataset',
      content: csv,
      fields: { description: '文本分类数据集', metadata: '{"language":"zh-CN","domain":"general"}', tags: '["classification","text"]' },
    })
    expect(response.status).toBe(201)
    expect(response.body.success).toBe(true)
    expect(response.body.message).toBe('数据集创建成功')
    expect(response.body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    const dataset = response.body.data.dataset
    expect(dataset).toMatchObject({
      name: 'text-classification-dataset',
      description: '文本分类数据集',
      type: 'text',
      format: 'csv',
      size: Buffer.byteLength(csv),
      rowCount: 3,
      columnCount: 6,
      metadata: { language: 'zh-CN', domain: 'general' },
      tags: ['classification', 'text'],
      status: 'uploaded',
    })
    expect(dataset.id).toMatch(/^dataset-[a-z0-9]+$/)
    expect(dataset.schema.columns).toEqual([
      { name: 'id', type: 'integer' },
      { name: 'text', type: 'string' },
      { name: 'score', type: 'integer' },
      { name: 'ratio', type: 'float' },
      { name: 'active', type: 'boolean' },
      { name: 'label', type: 'string' },
    ])
    expect(existsSync(path.join(server.dataDir, 'datasets', dataset.id))).toBe(true)
  })

  it('reads a JSON array of objects', async () => {
    const rows = [
      { text: 'a', label: 1 },
      { text: 'b', label: 2, weight: 0.5 },
    ]
    const response = await uploadDataset(server, { format: 'json', content: JSON.stringify(rows), fileName: 'rows.json' })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset).toMatchObject({ format: 'json', rowCount: 2, columnCount: 3 })
    expect(response.body.data.dataset.schema.columns).toEqual([
      { name: 'text', type: 'string' },
      { name: 'label', type: 'integer' },
      { name: 'weight', type: 'float' },
    ])
  })

  it('reads JSON Lines', async () => {
    const response = await uploadDataset(server, { format: 'json', content: '{"text":"x","ok":true}\n\n{"text":"y","ok":false}\n{"text":"z","ok":true}\n' })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset).toMatchObject({ rowCount: 3, columnCount: 2 })
    expect(response.body.data.dataset.schema.columns).toEqual([
      { name: 'text', type: 'string' },
      { name: 'ok', type: 'boolean' },
    ])
  })

  it('reads Parquet, typing columns from the file', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer')
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'text', data: ['a', 'b', 'c'], type: 'STRING' },
        { name: 'count', data: [1, 2, 3], type: 'INT32' },
        { name: 'score', data: [0.5, 1.5, 2.5], type: 'DOUBLE' },
        { name: 'flag', data: [true, false, true], type: 'BOOLEAN' },
      ],
    })
    const response = await uploadDataset(server, { type: 'tabular', format: 'parquet', content: new Blob([buffer]), fileName: 'table.parquet' })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset).toMatchObject({ rowCount: 3, columnCount: 4, size: buffer.byteLength })
    expect(response.body.data.dataset.schema.columns).toEqual([
      { name: 'text', type: 'string' },
      { name: 'count', type: 'integer' },
      { name: 'score', type: 'float' },
      { name: 'flag', type: 'boolean' },
    ])
  })

  it('accepts a declared schema that matches the file and keeps its descriptions', async () => {
    const schema = {
      columns: [
        { name: 'label', type: 'string' },
        { name: 'text', type: 'string', description: 'the review' },
      ],
    }
    const response = await uploadDataset(server, { fields: { schema: JSON.stringify(schema) } })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset.schema.columns).toEqual(schema.columns)
  })

  it('rejects a declared schema that disagrees with the file, naming each column', async () => {
    const schema = {
      columns: [
        { name: 'text', type: 'integer' },
        { name: 'missing', type: 'string' },
      ],
    }
    const response = await expectRejected(() => uploadDataset(server, { fields: { schema: JSON.stringify(schema) } }), 400, /text/)
    const fields = response.body.error.details!.map((d: { field: string }) => d.field).join(' ')
    expect(fields).toMatch(/schema\.columns/)
    expect(JSON.stringify(response.body.error.details)).toMatch(/missing/)
    expect(JSON.stringify(response.body.error.details)).toMatch(/label/)
  })

  it('accepts tags as a comma-separated string too', async () => {
    const response = await uploadDataset(server, { fields: { tags: 'a, b' } })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset.tags).toEqual(['a', 'b'])
  })

  describe('bad uploads get E1108, change nothing and leave no file', () => {
    it('rejects an empty file', () => expectRejected(() => uploadDataset(server, { content: '' }), 400, /file.*empty|empty/i))
    it('rejects a CSV with a ragged row, naming its line', () =>
      expectRejected(() => uploadDataset(server, { content: 'a,b\n1,2\n3,4,5\n' }), 400, /line 3|row 2/i))
    it('rejects a CSV with a header and no rows', () => expectRejected(() => uploadDataset(server, { content: 'a,b\n' }), 400, /no (data )?rows/i))
    it('rejects JSON that does not parse', () => expectRejected(() => uploadDataset(server, { format: 'json', content: '[{"a":1},' }), 400, /JSON/))
    it('rejects JSON Lines with a broken line, naming the line', () =>
      expectRejected(() => uploadDataset(server, { format: 'json', content: '{"a":1}\n{"a":\n' }), 400, /line 2/))
    it('rejects a file that is not Parquet', () => expectRejected(() => uploadDataset(server, { format: 'parquet', content: 'a,b\n1,2\n' }), 400, /parquet/i))
    it('rejects a file over MAX_UPLOAD_BYTES with 413', async () => {
      const response = await expectRejected(() => uploadDataset(server, { content: textClassificationCsv(1000) }), 413, /MAX_UPLOAD_BYTES/)
      expect(response.body.error.message).toMatch(/20000 bytes/)
    })
    it('rejects a form without a file', () => expectRejected(() => uploadDataset(server, { content: null }), 400, /"field":"file"/))
    it('rejects a form without a name, naming the field', () =>
      expectRejected(() => uploadDataset(server, { omit: ['name'] }), 400, /"field":"name","message":"is required"/))
    it('rejects an unknown type and format, naming both', async () => {
      const response = await expectRejected(() => uploadDataset(server, { type: 'video', format: 'xlsx' }), 400, /type/)
      expect(response.body.error.details!.map((d: { field: string }) => d.field).sort()).toEqual(['format', 'type'])
    })
    it('rejects metadata that is not JSON and unknown form fields', async () => {
      const response = await expectRejected(() => uploadDataset(server, { fields: { metadata: '{oops', colour: 'red' } }), 400, /metadata/)
      expect(response.body.error.details!.map((d: { field: string }) => d.field).sort()).toEqual(['colour', 'metadata'])
    })
    it('rejects a JSON body instead of a multipart form', async () => {
      const response = await server.request<DatasetReply>('POST', '/v1/training/datasets', { json: { name: 'x' } })
      expect(response.status).toBe(400)
      expect(response.body.error.code).toBe('E1108')
      expect(response.body.error.message).toMatch(/multipart\/form-data/)
    })
  })

  it('needs the write scope', async () => {
    const response = await uploadDataset(server, { token: tokens.reader })
    expect(response.status).toBe(403)
    expect(response.body.error.code).toBe('E1107')
  })
})

describe('GET /v1/training/datasets', () => {
  let listServer: TestServer
  beforeAll(async () => {
    listServer = await startServer()
    // Sequential uploads so that createdAt order is well defined.
    await createDataset(listServer, { name: 'charlie', type: 'text', fields: { tags: '["nlp","zh"]' }, content: textClassificationCsv(10) })
    await createDataset(listServer, { name: 'alpha', type: 'tabular', fields: { tags: '["tabular"]' }, content: tabularCsv(200) })
    await createDataset(listServer, { name: 'bravo', type: 'text', fields: { tags: '["nlp"]' }, content: textClassificationCsv(20) })
    await createDataset(listServer, { name: 'bob-only', token: tokens.bob })
  })
  afterAll(() => listServer?.close())

  const names = (response: TestResponse<DatasetListReply>) => response.body.data.datasets.map((d) => d.name)

  it("lists only the caller's datasets, newest first, with the spec's pagination object", async () => {
    const response = await listServer.request<DatasetListReply>('GET', '/v1/training/datasets')
    expect(response.status).toBe(200)
    expect(names(response)).toEqual(['bravo', 'alpha', 'charlie'])
    expect(response.body.data.pagination).toEqual({ page: 1, limit: 20, total: 3, totalPages: 1, hasNext: false, hasPrev: false })
    expect(response.body.data.datasets[0]).toMatchObject({ type: 'text', format: 'csv', status: 'uploaded', tags: ['nlp'] })
  })

  it('filters by type and by tags (every tag must match)', async () => {
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?type=tabular'))).toEqual(['alpha'])
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?tags=nlp'))).toEqual(['bravo', 'charlie'])
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?tags=nlp,zh'))).toEqual(['charlie'])
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?tags=nlp,tabular'))).toEqual([])
  })

  it('sorts by name, size and createdAt in either order', async () => {
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?sortBy=name&sortOrder=asc'))).toEqual(['alpha', 'bravo', 'charlie'])
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?sortBy=size&sortOrder=desc'))).toEqual(['alpha', 'bravo', 'charlie'])
    expect(names(await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?sortBy=createdAt&sortOrder=asc'))).toEqual([
      'charlie',
      'alpha',
      'bravo',
    ])
  })

  it('pages, and answers a page past the end with an empty list', async () => {
    const second = await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?sortBy=name&sortOrder=asc&page=2&limit=2')
    expect(names(second)).toEqual(['charlie'])
    expect(second.body.data.pagination).toEqual({ page: 2, limit: 2, total: 3, totalPages: 2, hasNext: false, hasPrev: true })
    const past = await listServer.request<DatasetListReply>('GET', '/v1/training/datasets?page=9&limit=2')
    expect(names(past)).toEqual([])
    expect(past.body.data.pagination).toMatchObject({ page: 9, total: 3, totalPages: 2, hasNext: false, hasPrev: true })
  })

  it('rejects out-of-bounds paging, bad sort fields and unknown parameters with E1108 naming each', async () => {
    for (const query of ['limit=0', 'limit=101', 'page=0', 'page=abc', 'sortBy=rows', 'sortOrder=up', 'type=video', 'colour=red']) {
      const response = await listServer.request<DatasetListReply>('GET', `/v1/training/datasets?${query}`)
      expect(response.status, query).toBe(400)
      expect(response.body.error.code, query).toBe('E1108')
      expect(response.body.error.details![0].field, query).toBe(query.split('=')[0])
    }
  })
})

describe('GET and DELETE /v1/training/datasets/{id}', () => {
  it('adds a preview of the first rows, typed', async () => {
    const id = await createDataset(server, { content: tabularCsv(30), type: 'tabular' })
    const response = await server.request<DatasetDetailReply>('GET', `/v1/training/datasets/${id}`)
    expect(response.status).toBe(200)
    const { dataset } = response.body.data
    expect(dataset.rowCount).toBe(30)
    expect(dataset.preview.length).toBeGreaterThan(0)
    expect(dataset.preview.length).toBeLessThanOrEqual(30)
    expect(dataset.preview[0]).toEqual({ a: 0.5, b: 0, flag: true, y: 1 })
  })

  it("answers another user's dataset as absent (404 E1102)", async () => {
    const id = await createDataset(server)
    for (const [method, url] of [
      ['GET', `/v1/training/datasets/${id}`],
      ['DELETE', `/v1/training/datasets/${id}`],
    ]) {
      const response = await server.request(method, url, { token: tokens.bob })
      expect(response.status).toBe(404)
      expect(response.body.error.code).toBe('E1102')
    }
  })

  it('deletes a dataset and its file', async () => {
    const id = await createDataset(server)
    const response = await server.request<DatasetDeleteReply>('DELETE', `/v1/training/datasets/${id}`)
    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ success: true, data: { datasetId: id, deleted: true }, message: '数据集删除成功' })
    expect(existsSync(path.join(server.dataDir, 'datasets', id))).toBe(false)
    expect((await server.request('GET', `/v1/training/datasets/${id}`)).status).toBe(404)
    expect((await server.request('DELETE', `/v1/training/datasets/${id}`)).status).toBe(404)
  })

  it('refuses (409 E1110) to delete a dataset a pending job uses, and allows it once the job is cancelled', async () => {
    const id = await createDataset(server)
    const job = await server.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(id) })
    expect(job.status).toBe(201)
    const refused = await server.request('DELETE', `/v1/training/datasets/${id}`)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('E1110')
    expect(refused.body.error.message).toContain(job.body.data.job.id)
    expect((await server.request<StopReply>('POST', `/v1/training/jobs/${job.body.data.job.id}/stop`)).body.data.job.status).toBe('cancelled')
    expect((await server.request('DELETE', `/v1/training/datasets/${id}`)).status).toBe(200)
  })
})
