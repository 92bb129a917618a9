// The trainer's bulk history writes (metric points, log lines) on SQLite and
// PostgreSQL: rows written through the driver read back through Prisma, the
// read store and the REST endpoints exactly as Prisma-written rows do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDataset, jobRequest } from '../helpers/data.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { createDatabase, type Database } from '../../src/infra/db.ts'
import { createHistoryWriter, type HistoryWriter } from '../../src/infra/history-writer.ts'
import type { JobReply, LogsReply } from '../helpers/replies.ts'

const postgresUrl = 'postgresql://postgres@127.0.0.1:5432/test'

describe.each([
  { database: 'SQLite', url: undefined },
  { database: 'PostgreSQL', url: `${postgresUrl}?schema=h_${Date.now()}_${Math.random().toString(36).slice(2, 8)}` },
])('history writer ($database)', ({ url }) => {
  let server: TestServer
  let database: Database
  let writer: HistoryWriter
  let jobId: string

  beforeAll(async () => {
    server = await startServer(url ? { DATABASE_URL: url } : {})
    database = await createDatabase(url ?? `file:${server.dataDir}/training.db`)
    writer = createHistoryWriter(database.target)
    const dataset = await createDataset(server)
    const created = await server.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(dataset) })
    jobId = created.body.data.job.id
  })
  afterAll(async () => {
    await writer?.close()
    if (url) await database?.db.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${new URL(url).searchParams.get('schema')}" CASCADE`)
    await database?.close()
    await server?.close()
  })

  it('writes metric points and log lines that read back unchanged', async () => {
    const t0 = Date.UTC(2026, 10, 28, 8, 30, 0, 123)
    const points = Array.from({ length: 300 }, (_, i) => ({
      jobId,
      name: i % 2 ? 'trainLoss' : 'learningRate',
      step: Math.floor(i / 2) + 1,
      epoch: i / 200,
      value: 1 / (i + 1),
      timestamp: new Date(t0 + i),
    }))
    await writer.write(points, [
      {
        jobId,
        timestamp: new Date(t0),
        level: 'info',
        severity: 20,
        message: 'Epoch 1/2: validation',
        step: 150,
        epoch: 1,
        metrics: { valLoss: 0.5, valAccuracy: 0.75 },
      },
      { jobId, timestamp: new Date(t0 + 1), level: 'warn', severity: 30, message: '中文 "quoted" line', step: null, epoch: null, metrics: null },
    ])

    const stored = await database.db.metricPoint.findMany({ where: { jobId, name: 'trainLoss' }, orderBy: { step: 'asc' } })
    expect(stored).toHaveLength(150)
    expect(stored[0]).toMatchObject({ step: 1, epoch: 1 / 200, value: 1 / 2, timestamp: new Date(t0 + 1) })
    const series = await database.reads.metricSeries(jobId, ['trainLoss'], null)
    expect(series[0].points[149]).toEqual({ step: 150, epoch: 299 / 200, value: 1 / 300, timestamp: new Date(t0 + 299).toISOString() })

    const logs = await server.request<LogsReply>('GET', `/v1/training/jobs/${jobId}/logs?level=debug`)
    expect(logs.status, logs.text).toBe(200)
    expect(logs.body.data.logs).toEqual([
      {
        timestamp: new Date(t0).toISOString(),
        level: 'info',
        message: 'Epoch 1/2: validation',
        step: 150,
        epoch: 1,
        metrics: { valLoss: 0.5, valAccuracy: 0.75 },
      },
      { timestamp: new Date(t0 + 1).toISOString(), level: 'warn', message: '中文 "quoted" line', step: null, epoch: null },
    ])
  })

  it('writes nothing when a batch fails (one transaction)', async () => {
    const before = await database.db.metricPoint.count({ where: { jobId } })
    await expect(
      writer.write(
        [{ jobId, name: 'x', step: 1, epoch: null, value: 1, timestamp: new Date() }],
        [{ jobId: 'job-missing', timestamp: new Date(), level: 'info', severity: 20, message: 'orphan', step: null, epoch: null, metrics: null }],
      ),
    ).rejects.toThrow()
    expect(await database.db.metricPoint.count({ where: { jobId } })).toBe(before)
  })
})
