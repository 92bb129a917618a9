// Bounded work per upload (issue 11): the hostile files that used to wedge
// the service (a CSV of a million columns, a JSON Lines row of a million keys,
// a JSON array of 200k-key objects) or answer 500 (JSON nested 100k deep) are
// refused with 400 E1108 naming the limit and its variable, through a real
// server and a real multipart upload, and leave no dataset and no file. The
// million-column CSV and the deep files run against the default limits; the
// others against low limits set through the environment, so the files stay
// small.
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { uploadDataset } from '../helpers/data.ts'
import type { DatasetListReply } from '../helpers/replies.ts'

let defaults: TestServer
let low: TestServer

const lowLimits = {
  UPLOAD_MAX_COLUMNS: '100',
  UPLOAD_MAX_ROW_WIDTH: '1000',
  UPLOAD_MAX_LINE_BYTES: '65536',
  UPLOAD_MAX_CELL_BYTES: '4096',
  UPLOAD_MAX_DEPTH: '8',
}

beforeAll(async () => {
  ;[defaults, low] = await Promise.all([startServer(), startServer(lowLimits)])
})
afterAll(async () => {
  await Promise.all([defaults?.close(), low?.close()])
})

function filesOnDisk(server: TestServer) {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])
  return { datasets: list(path.join(server.dataDir, 'datasets')), staging: list(path.join(server.dataDir, 'staging')) }
}

/** Uploads `content`, expects 400 E1108 naming `variable`, and checks that the service answers and kept nothing. */
async function expectRefused(server: TestServer, format: 'csv' | 'json', content: string, variable: string, problem: RegExp) {
  const response = await uploadDataset(server, { format, content })
  expect(response.status).toBe(400)
  expect(response.body.success).toBe(false)
  expect(response.body.error.code).toBe('E1108')
  expect(response.body.error.message).toContain(variable)
  expect(response.body.error.details).toEqual([{ field: 'file', message: expect.stringMatching(problem) }])
  expect((await server.request('GET', '/healthz', { token: null })).status).toBe(200)
  const list = await server.request<DatasetListReply>('GET', '/v1/training/datasets', { token: tokens.alice })
  expect(list.body.data.pagination.total).toBe(0)
  expect(filesOnDisk(server)).toEqual({ datasets: [], staging: [] })
}

const keys = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]))
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

describe('uploads under the default limits', () => {
  it('refuses a CSV header of 1,000,000 columns with E1108 naming UPLOAD_MAX_COLUMNS, and keeps answering', { timeout: 30_000 }, async () => {
    const header = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`).join(',')
    await expectRefused(defaults, 'csv', `${header}\n`, 'UPLOAD_MAX_COLUMNS', /^the header \(line 1\) has more than 10000 columns/)
  })

  it('refuses a JSON array nested 100,000 deep with E1108 naming UPLOAD_MAX_DEPTH', async () => {
    await expectRefused(defaults, 'json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'UPLOAD_MAX_DEPTH', /more than 64 deep/)
  })

  it('refuses JSON Lines of deeply nested objects with E1108 naming UPLOAD_MAX_DEPTH', async () => {
    const lines = Array.from({ length: 20 }, () => nestedObject(10_000)).join('\n')
    await expectRefused(defaults, 'json', lines, 'UPLOAD_MAX_DEPTH', /^line 1 nests objects and arrays more than 64 deep/)
  })

  it('refuses the million-column CSV through GraphQL createDataset with extensions.code E1108', { timeout: 30_000 }, async () => {
    const header = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`).join(',')
    const form = new FormData()
    const query = 'mutation ($input: CreateDatasetInput!, $file: Upload!) { createDataset(input: $input, file: $file) { id } }'
    form.append('operations', JSON.stringify({ query, variables: { input: { name: 'wide', type: 'tabular', format: 'csv' }, file: null } }))
    form.append('map', JSON.stringify({ 0: ['variables.file'] }))
    form.append('0', new Blob([`${header}\n`], { type: 'text/csv' }), 'wide.csv')
    const response = await defaults.request('POST', '/graphql', { body: form, token: tokens.alice })
    const body = response.body as unknown as { errors?: { message: string; extensions?: { code?: string } }[] }
    expect(body.errors?.[0].extensions?.code).toBe('E1108')
    expect(body.errors?.[0].message).toContain('UPLOAD_MAX_COLUMNS')
    expect(filesOnDisk(defaults)).toEqual({ datasets: [], staging: [] })
  })

  it('accepts a dataset nested to the depth limit', async () => {
    const response = await uploadDataset(defaults, { format: 'json', content: `${JSON.stringify({ id: 1, deep: JSON.parse(nestedObject(63)) })}\n` })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset.columnCount).toBe(2)
    expect((await defaults.request('DELETE', `/v1/training/datasets/${response.body.data.dataset.id}`)).status).toBe(200)
  })
})

describe('uploads under low limits set through the environment', () => {
  it('refuses a CSV with more columns than UPLOAD_MAX_COLUMNS', async () => {
    const header = Array.from({ length: 1000 }, (_, i) => `c${i}`).join(',')
    const row = Array.from({ length: 1000 }, () => '1').join(',')
    await expectRefused(low, 'csv', `${header}\n${row}\n`, 'UPLOAD_MAX_COLUMNS', /has 1000 columns, more than 100/)
  })

  it('refuses JSON Lines whose row has more keys than UPLOAD_MAX_ROW_WIDTH', async () => {
    await expectRefused(low, 'json', `${JSON.stringify(keys(5000))}\n`, 'UPLOAD_MAX_ROW_WIDTH', /^line 1 has more than 1000 values/)
  })

  it('refuses a JSON array of objects with more keys than UPLOAD_MAX_ROW_WIDTH', async () => {
    const element = JSON.stringify(keys(2000))
    await expectRefused(low, 'json', `[${element},${element}]`, 'UPLOAD_MAX_ROW_WIDTH', /^array element at index 0 has more than 1000 values/)
  })

  it('refuses JSON rows whose keys make more columns than UPLOAD_MAX_COLUMNS', async () => {
    const rows = Array.from({ length: 30 }, (_, r) => JSON.stringify(Object.fromEntries(Array.from({ length: 5 }, (_, k) => [`r${r}k${k}`, k]))))
    await expectRefused(low, 'json', rows.join('\n'), 'UPLOAD_MAX_COLUMNS', /^the keys of rows 1 to 21 make 101 columns, more than 100/)
  })

  it('refuses a JSON row nested deeper than UPLOAD_MAX_DEPTH', async () => {
    await expectRefused(low, 'json', `[${nestedObject(9)}]`, 'UPLOAD_MAX_DEPTH', /more than 8 deep/)
  })

  it('refuses a CSV line longer than UPLOAD_MAX_LINE_BYTES', async () => {
    const long = Array.from({ length: 50 }, () => 'x'.repeat(2000)).join(',')
    const header = Array.from({ length: 50 }, (_, i) => `c${i}`).join(',')
    await expectRefused(low, 'csv', `${header}\n${long}\n`, 'UPLOAD_MAX_LINE_BYTES', /^line 2 is longer than 64 KiB/)
  })

  it('refuses a CSV field longer than UPLOAD_MAX_CELL_BYTES, quoted across lines', async () => {
    const cell = `"${'text\n'.repeat(1000)}"`
    await expectRefused(low, 'csv', `id,text\n1,${cell}\n`, 'UPLOAD_MAX_CELL_BYTES', /has a field longer than 4 KiB/)
  })

  it('refuses a JSON string longer than UPLOAD_MAX_CELL_BYTES', async () => {
    await expectRefused(low, 'json', `${JSON.stringify({ text: 'x'.repeat(5000) })}\n`, 'UPLOAD_MAX_CELL_BYTES', /^line 1 holds a string longer than 4 KiB/)
  })

  it('accepts a file within every limit', async () => {
    const header = Array.from({ length: 100 }, (_, i) => `c${i}`).join(',')
    const row = Array.from({ length: 100 }, (_, i) => String(i)).join(',')
    const response = await uploadDataset(low, { format: 'csv', content: `${header}\n${row}\n${row}\n` })
    expect(response.status).toBe(201)
    expect(response.body.data.dataset).toMatchObject({ rowCount: 2, columnCount: 100 })
    expect((await low.request('DELETE', `/v1/training/datasets/${response.body.data.dataset.id}`)).status).toBe(200)
  })
})
