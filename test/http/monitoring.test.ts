// Training monitoring and results over REST and GraphQL (spec §4): logs,
// metric history with downsampling, checkpoints, evaluation and comparison,
// for jobs created through the API with the rows a trainer writes inserted
// through a second database client. Plus the SSE writer on a plain server.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { createDataset, jobRequest, tabularCsv } from '../helpers/data.ts'
import { startServer, tokens, type TestResponse, type TestServer } from '../helpers/server.ts'
import { createDatabase, type Database } from '../../src/infra/db.ts'
import { logSeverity, type LogLevel } from '../../src/events/index.ts'
import { downsample } from '../../src/services/monitoring.ts'
import { writeEventStream } from '../../src/rest/sse.ts'
import type { CheckpointsReply, CompareReply, EvaluationReply, JobReply, LogsReply, MetricsReply } from '../helpers/replies.ts'

let server: TestServer
let database: Database
let textDataset: string
let tabularDataset: string
let bobDataset: string

beforeAll(async () => {
  server = await startServer()
  database = await createDatabase(`file:${server.dataDir}/training.db`)
  textDataset = await createDataset(server, { name: 'texts' })
  tabularDataset = await createDataset(server, { name: 'table', type: 'tabular', content: tabularCsv(40) })
  bobDataset = await createDataset(server, { token: tokens.bob })
})
afterAll(async () => {
  await database?.close()
  await server?.close()
})

async function createJob(
  overrides: Record<string, unknown> = {},
  token: string = tokens.alice,
  dataset = token === tokens.bob ? bobDataset : textDataset,
): Promise<string> {
  const response = await server.request<JobReply>('POST', '/v1/training/jobs', { token, json: jobRequest(dataset, overrides) })
  expect(response.status, response.text).toBe(201)
  return response.body.data.job.id as string
}

const regression = (overrides: Record<string, unknown> = {}) =>
  createJob({ model: { baseModel: 'tabular-mlp', task: 'tabular-regression' }, dataset: { id: tabularDataset, labelColumn: 'y' }, ...overrides })

const get = <D = unknown>(path: string, token: string = tokens.alice) => server.request<D>('GET', path, { token })
const problemFields = (response: { body: { error: { details?: { field: string }[] } } }) => (response.body.error.details ?? []).map((d) => d.field)

const t0 = Date.parse('2026-02-03T12:05:00.000Z')
const at = (seconds: number) => new Date(t0 + seconds * 1000)

async function insertLogs(
  jobId: string,
  lines: { s: number; level: LogLevel; message: string; step?: number; epoch?: number; metrics?: Record<string, number> }[],
) {
  await database.db.jobLog.createMany({
    data: lines.map((line) => ({
      jobId,
      timestamp: at(line.s),
      level: line.level,
      severity: logSeverity[line.level],
      message: line.message,
      step: line.step ?? null,
      epoch: line.epoch ?? null,
      metrics: line.metrics,
    })),
  })
}

/** `count` points per name: step i·10, value f(i), epoch i/10. */
async function insertSeries(jobId: string, series: Record<string, (i: number) => number>, count: number, firstStep = 0) {
  const data = Object.entries(series).flatMap(([name, f]) =>
    Array.from({ length: count }, (_, i) => ({ jobId, name, step: firstStep + i * 10, epoch: i / 10, value: f(i), timestamp: at(i) })),
  )
  // Shuffled, so that step order cannot come from insertion order.
  data.sort((a, b) => ((a.step * 7919) % 101) - ((b.step * 7919) % 101) || a.name.localeCompare(b.name))
  await database.db.metricPoint.createMany({ data })
}

/**
 * Series that make the database's bucketing earn its keep: lengths around the
 * edges of maxPoints, steps that repeat (ties go by insertion order), missing
 * epochs, and an insertion order unrelated to step order.
 */
async function insertAwkwardSeries(db: Database, jobId: string) {
  const lengths: Record<string, number> = { single: 1, pair: 2, seven: 7, ties: 1000, long: 2345 }
  const data = Object.entries(lengths).flatMap(([name, n]) =>
    Array.from({ length: n }, (_, i) => ({
      order: (i * 7919 + n) % 1013,
      point: {
        jobId,
        name,
        step: name === 'ties' ? Math.floor(i / 3) : i * 2,
        epoch: i % 2 === 1 ? null : i / 10,
        value: Math.sin(i * 1.7 + n) + i / 1000,
        timestamp: new Date(t0 + i * 37),
      },
    })),
  )
  data.sort((a, b) => a.order - b.order)
  await db.db.metricPoint.createMany({ data: data.map((entry) => entry.point) })
}

/** `ReadStore.metricSeries` against the stored rows (whole) and `downsample()` of them (each maxPoints), series by series. */
async function expectSeriesLikeReference(db: Database, jobId: string) {
  const stored = await db.db.metricPoint.findMany({ where: { jobId }, orderBy: [{ name: 'asc' }, { step: 'asc' }, { id: 'asc' }] })
  const names = [...new Set(stored.map((row) => row.name))]
  const whole = names.map((name) => ({
    name,
    points: stored.filter((row) => row.name === name).map(({ step, epoch, value, timestamp }) => ({ step, epoch, value, timestamp: timestamp.toISOString() })),
  }))
  expect(await db.reads.metricSeries(jobId, null, null)).toEqual(whole)
  for (const maxPoints of [2, 3, 5, 6, 7, 8, 100, 999, 1000, 1001, 2344, 2345, 10_000]) {
    const reduced = await db.reads.metricSeries(jobId, null, maxPoints)
    expect(reduced.map((series) => series.name)).toEqual(names)
    reduced.forEach(({ name, points }, s) => {
      const want = downsample(whole[s].points, maxPoints)
      const label = `${name}, maxPoints ${maxPoints}`
      expect(
        points.map(({ value: _value, ...rest }) => rest),
        label,
      ).toEqual(want.map(({ value: _value, ...rest }) => rest))
      for (const [i, point] of points.entries()) expect(point.value, `${label}, point ${i}`).toBeCloseTo(want[i].value, 9)
    })
  }
  const filtered = await db.reads.metricSeries(jobId, ['seven', 'not stored'], 3)
  expect(filtered.map(({ name, points }) => [name, points.map((point) => point.step)])).toEqual([
    ['seven', [0, 10, 12]],
    ['not stored', []],
  ])
  expect(await db.reads.metricSeries(jobId, [], null)).toEqual([])
}

async function finish(jobId: string, status: 'completed' | 'failed' | 'cancelled', extra: Record<string, unknown> = {}) {
  await database.db.job.update({ where: { id: jobId }, data: { status, startedAt: at(0), completedAt: at(90.5), ...extra } })
}

describe('GET /v1/training/jobs/{jobId}/logs', () => {
  let jobId: string
  beforeAll(async () => {
    jobId = await createJob({ name: 'logged' })
    await insertLogs(jobId, [
      { s: 0, level: 'info', message: '训练任务开始', step: 0, epoch: 0 },
      { s: 1, level: 'debug', message: 'backend wasm', step: 0, epoch: 0 },
      { s: 60, level: 'info', message: 'Epoch 1/10', step: 1000, epoch: 1, metrics: { trainLoss: 0.8, trainAccuracy: 0.7 } },
      { s: 61, level: 'warn', message: '12 rows dropped' },
      { s: 120, level: 'info', message: '验证集评估', step: 1000, epoch: 1, metrics: { valLoss: 0.75, valAccuracy: 0.72 } },
      { s: 121, level: 'error', message: 'out of memory', step: 1001, epoch: 1 },
    ])
  })

  it("answers the spec's shape: info and above, oldest first, metrics only on lines that carry them", async () => {
    const response = await get<LogsReply>(`/v1/training/jobs/${jobId}/logs`)
    expect(response.status, response.text).toBe(200)
    expect(response.body.success).toBe(true)
    expect(response.body.data.logs).toEqual([
      { timestamp: '2026-02-03T12:05:00.000Z', level: 'info', message: '训练任务开始', step: 0, epoch: 0 },
      { timestamp: '2026-02-03T12:06:00.000Z', level: 'info', message: 'Epoch 1/10', step: 1000, epoch: 1, metrics: { trainLoss: 0.8, trainAccuracy: 0.7 } },
      { timestamp: '2026-02-03T12:06:01.000Z', level: 'warn', message: '12 rows dropped', step: null, epoch: null },
      { timestamp: '2026-02-03T12:07:00.000Z', level: 'info', message: '验证集评估', step: 1000, epoch: 1, metrics: { valLoss: 0.75, valAccuracy: 0.72 } },
      { timestamp: '2026-02-03T12:07:01.000Z', level: 'error', message: 'out of memory', step: 1001, epoch: 1 },
    ])
    expect(response.body.data).toMatchObject({ hasMore: false, nextCursor: null, nextStartTime: null })
  })

  it.each([
    ['debug', 6],
    ['info', 5],
    ['warn', 2],
    ['error', 1],
  ])('level=%s is a minimum level (%i lines)', async (level, count) => {
    const response = await get<LogsReply>(`/v1/training/jobs/${jobId}/logs?level=${level}`)
    expect(response.status, response.text).toBe(200)
    const levels: string[] = response.body.data.logs.map((log: { level: string }) => log.level)
    expect(levels).toHaveLength(count)
    expect(levels.every((l) => logSeverity[l as LogLevel] >= logSeverity[level as LogLevel])).toBe(true)
  })

  it('keeps lines from startTime to endTime, both inclusive, with any time zone', async () => {
    const response = await get<LogsReply>(`/v1/training/jobs/${jobId}/logs?startTime=2026-02-03T12:06:00.000Z&endTime=2026-02-03T20:07:00%2B08:00`)
    expect(response.status, response.text).toBe(200)
    expect(response.body.data.logs.map((log: { message: string }) => log.message)).toEqual(['Epoch 1/10', '12 rows dropped', '验证集评估'])
    // A `+` left unencoded arrives as a space; it is read as the offset it was meant to be.
    const unencoded = await get<LogsReply>(`/v1/training/jobs/${jobId}/logs?startTime=2026-02-03T20:07:00+08:00`)
    expect(unencoded.status, unencoded.text).toBe(200)
    expect(unencoded.body.data.logs.map((log: { message: string }) => log.message)).toEqual(['验证集评估', 'out of memory'])
  })

  it('pages with limit and nextCursor without repeating or skipping lines that share a timestamp', async () => {
    const paged = await createJob({ name: 'paged' })
    await insertLogs(paged, [
      { s: 0, level: 'info', message: 'a' },
      { s: 1, level: 'info', message: 'b' },
      { s: 1, level: 'info', message: 'c' },
      { s: 1, level: 'info', message: 'd' },
      { s: 2, level: 'info', message: 'e' },
    ])
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const response: TestResponse<LogsReply> = await get<LogsReply>(`/v1/training/jobs/${paged}/logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(response.status, response.text).toBe(200)
      const { logs, hasMore, nextCursor, nextStartTime } = response.body.data
      seen.push(...logs.map((log: { message: string }) => log.message))
      expect(hasMore).toBe(nextCursor !== null)
      if (pages === 0) expect(nextStartTime).toBe(at(1).toISOString())
      cursor = nextCursor
      pages++
    } while (cursor && pages < 10)
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(pages).toBe(3)
  })

  it('returns at most limit lines (default 100, up to 1000)', async () => {
    const many = await createJob({ name: 'many lines' })
    await insertLogs(
      many,
      Array.from({ length: 1005 }, (_, i) => ({ s: i, level: 'info' as const, message: `line ${i}` })),
    )
    const byDefault = await get<LogsReply>(`/v1/training/jobs/${many}/logs`)
    expect(byDefault.body.data.logs).toHaveLength(100)
    expect(byDefault.body.data.logs[99].message).toBe('line 99')
    const most = await get<LogsReply>(`/v1/training/jobs/${many}/logs?limit=1000`)
    expect(most.body.data.logs).toHaveLength(1000)
    expect(most.body.data.hasMore).toBe(true)
    expect(most.body.data.nextStartTime).toBe(at(1000).toISOString())
  })

  it.each([
    ['level=verbose', 'level'],
    ['startTime=yesterday', 'startTime'],
    ['startTime=2026-02-30T00:00:00Z', 'startTime'],
    ['endTime=2026-02-03T12:00:00', 'endTime'],
    ['startTime=2026-02-03T13:00:00Z&endTime=2026-02-03T12:00:00Z', 'endTime'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=2.5', 'limit'],
    ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['page=2', 'page'],
  ])('rejects %s with 400 E1108 naming %s', async (query, field) => {
    const response = await get<LogsReply>(`/v1/training/jobs/${jobId}/logs?${query}`)
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(problemFields(response)).toEqual([field])
    expect(response.body.error.message).toContain(field)
  })

  it("answers 404 E1101 for another user's job and for an unknown one", async () => {
    for (const response of [await get<LogsReply>(`/v1/training/jobs/${jobId}/logs`, tokens.bob), await get<LogsReply>('/v1/training/jobs/job-nope/logs')]) {
      expect(response.status).toBe(404)
      expect(response.body.error.code).toBe('E1101')
      expect(response.text).not.toContain('训练任务开始')
    }
  })
})

describe('GET /v1/training/jobs/{jobId}/metrics', () => {
  let jobId: string
  const trainLoss = (i: number) => 1 / (1 + i)
  beforeAll(async () => {
    jobId = await createJob({ name: 'measured' })
    await insertSeries(jobId, { trainLoss, trainAccuracy: (i) => 0.5 + i / 100 }, 30)
    await insertSeries(jobId, { valLoss: (i) => 0.9 - i / 100 }, 3, 5)
  })

  it('answers every reported series in step order, the task names first', async () => {
    const response = await get<MetricsReply>(`/v1/training/jobs/${jobId}/metrics`)
    expect(response.status, response.text).toBe(200)
    const { metrics } = response.body.data
    expect(Object.keys(metrics)).toEqual(['trainLoss', 'trainAccuracy', 'valLoss'])
    expect(metrics.trainLoss).toHaveLength(30)
    expect(metrics.trainLoss[3]).toEqual({ step: 30, epoch: 0.3, value: trainLoss(3), timestamp: at(3).toISOString() })
    expect(metrics.valLoss.map((p: { step: number }) => p.step)).toEqual([5, 15, 25])
    for (const points of Object.values(metrics) as { step: number }[][]) {
      expect(points.map((p) => p.step)).toEqual([...points.map((p) => p.step)].sort((a, b) => a - b))
    }
  })

  it('filters by metrics=, answering an empty series for a known name with no points yet', async () => {
    const response = await get<MetricsReply>(`/v1/training/jobs/${jobId}/metrics?metrics=valLoss,valAccuracy`)
    expect(response.status, response.text).toBe(200)
    expect(Object.keys(response.body.data.metrics)).toEqual(['valLoss', 'valAccuracy'])
    expect(response.body.data.metrics.valAccuracy).toEqual([])
  })

  it('accepts a name the job reported that is not one of the standard names', async () => {
    const custom = await createJob({ name: 'custom metric' })
    await insertSeries(custom, { gradNorm: (i) => i }, 4)
    const response = await get<MetricsReply>(`/v1/training/jobs/${custom}/metrics?metrics=gradNorm`)
    expect(response.status, response.text).toBe(200)
    expect(response.body.data.metrics.gradNorm.map((p: { value: number }) => p.value)).toEqual([0, 1, 2, 3])
  })

  it('rejects a name that is neither a metric of the task nor reported, listing the valid ones', async () => {
    const response = await get<MetricsReply>(`/v1/training/jobs/${jobId}/metrics?metrics=trainLoss,valRmse`)
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(problemFields(response)).toEqual(['metrics'])
    expect(response.body.error.details![0].message).toMatch(/"valRmse".*valid names: trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate/)
  })

  it('knows the regression names: valRmse yes, valAccuracy no', async () => {
    const job = await regression({ name: 'regression names' })
    expect((await get(`/v1/training/jobs/${job}/metrics?metrics=valRmse,trainMae`)).status).toBe(200)
    const wrong = await get(`/v1/training/jobs/${job}/metrics?metrics=valAccuracy`)
    expect(wrong.status).toBe(400)
    expect(wrong.body.error.details![0].message).toContain('valRmse')
  })

  it('downsamples each series to maxPoints: first and last exact, bucket means between', async () => {
    const long = await createJob({ name: 'long run' })
    const value = (i: number) => Math.sin(i / 50) + (i % 7) / 10
    await insertSeries(long, { trainLoss: value }, 5000)
    await insertSeries(long, { valLoss: (i) => i }, 40)

    const response = await get<MetricsReply>(`/v1/training/jobs/${long}/metrics?maxPoints=100`)
    expect(response.status, response.text).toBe(200)
    const { trainLoss: points, valLoss } = response.body.data.metrics
    expect(points).toHaveLength(100)
    expect(points[0]).toMatchObject({ step: 0, value: value(0) })
    expect(points[99]).toMatchObject({ step: 49_990, value: value(4999) })
    // Bucket 0 of 98 holds interior points 1..51 (4998 / 98 = 51 each): the mean of their values, at the last one's step.
    const bucket = Array.from({ length: 51 }, (_, k) => value(1 + k))
    expect(points[1].step).toBe(510)
    expect(points[1].value).toBeCloseTo(bucket.reduce((a, b) => a + b, 0) / bucket.length, 12)
    const steps = points.map((p: { step: number }) => p.step)
    expect(new Set(steps).size).toBe(100)
    expect(steps).toEqual([...steps].sort((a, b) => a - b))
    // A series shorter than maxPoints comes back whole.
    expect(valLoss).toHaveLength(40)

    const two = await get<MetricsReply>(`/v1/training/jobs/${long}/metrics?metrics=trainLoss&maxPoints=2`)
    expect(two.body.data.metrics.trainLoss.map((p: { step: number }) => p.step)).toEqual([0, 49_990])

    // The database's buckets are the reference implementation's, point for point.
    const full = (await get<MetricsReply>(`/v1/training/jobs/${long}/metrics?metrics=trainLoss`)).body.data.metrics.trainLoss
    for (const maxPoints of [3, 97, 100, 4999]) {
      const reduced = (await get<MetricsReply>(`/v1/training/jobs/${long}/metrics?metrics=trainLoss&maxPoints=${maxPoints}`)).body.data.metrics.trainLoss
      const expected = downsample(full, maxPoints)
      expect(reduced.map((p: { step: number }) => p.step)).toEqual(expected.map((p) => p.step))
      reduced.forEach((p, i) => {
        expect(p.value).toBeCloseTo(expected[i].value, 9)
        expect(p).toMatchObject({ epoch: expected[i].epoch, timestamp: expected[i].timestamp })
      })
    }
  })

  it('puts uneven buckets where the reference puts them (7 points into 5)', async () => {
    const short = await createJob({ name: 'seven points' })
    await insertSeries(short, { trainLoss: (i) => 2 ** i }, 7)
    const response = await get<MetricsReply>(`/v1/training/jobs/${short}/metrics?maxPoints=5`)
    expect(response.body.data.metrics.trainLoss.map((p: { step: number; value: number }) => [p.step, p.value])).toEqual([
      [0, 1],
      [20, 3],
      [40, 12],
      [50, 32],
      [60, 64],
    ])
  })

  it.each([
    ['maxPoints=1', 'maxPoints'],
    ['maxPoints=10001', 'maxPoints'],
    ['maxPoints=many', 'maxPoints'],
    ['metrics=trainLoss,,valLoss', 'metrics'],
    ['metric=trainLoss', 'metric'],
  ])('rejects %s with 400 E1108 naming %s', async (query, field) => {
    const response = await get<MetricsReply>(`/v1/training/jobs/${jobId}/metrics?${query}`)
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(problemFields(response)).toEqual([field])
  })

  it("answers 404 E1101 for another user's job", async () => {
    const response = await get(`/v1/training/jobs/${jobId}/metrics`, tokens.bob)
    expect(response.status).toBe(404)
    expect(response.body.error.code).toBe('E1101')
  })
})

describe('downsample', () => {
  const series = (n: number) => Array.from({ length: n }, (_, i) => ({ step: i, epoch: null, value: i * i, timestamp: at(i).toISOString() }))

  it('keeps the mean of the whole series close and every bucket non-empty for any size', () => {
    for (const [n, max] of [
      [3, 2],
      [10, 3],
      [1001, 10],
      [12_345, 500],
      [10_000, 9_999],
    ]) {
      const out = downsample(series(n), max)
      expect(out).toHaveLength(max)
      expect(out[0].step).toBe(0)
      expect(out.at(-1)?.step).toBe(n - 1)
      for (let i = 1; i < out.length; i++) expect(out[i].step).toBeGreaterThan(out[i - 1].step)
    }
    expect(downsample(series(5), 5)).toEqual(series(5))
  })
})

describe('ReadStore.metricSeries on SQLite', () => {
  it('answers each series in (step, id) order, and buckets exactly as downsample() does', async () => {
    const jobId = await createJob({ name: 'awkward series' })
    await insertAwkwardSeries(database, jobId)
    await expectSeriesLikeReference(database, jobId)
  })

  it('reads times that SQL wrote in its own format as well as the ones Prisma writes', async () => {
    const jobId = await createJob({ name: 'times written by SQL' })
    await database.db.metricPoint.create({ data: { jobId, name: 'trainLoss', step: 1, value: 0.5, timestamp: at(1) } })
    await database.db
      .$executeRaw`INSERT INTO "MetricPoint" ("jobId", "name", "step", "value", "timestamp") VALUES (${jobId}, 'trainLoss', 2, 0.25, '2026-02-03 12:05:02')`
    const [series] = await database.reads.metricSeries(jobId, null, null)
    expect(series.points.map((point) => point.timestamp)).toEqual([at(1).toISOString(), at(2).toISOString()])
  })
})

describe('GET /v1/training/jobs/{jobId}/checkpoints and /evaluation', () => {
  it('lists checkpoints in step order with sizes as numbers beyond 32 bits', async () => {
    const jobId = await createJob({ name: 'checkpointed' })
    await database.db.checkpoint.createMany({
      data: [
        {
          id: 'ckpt-b',
          jobId,
          step: 2000,
          epoch: 2,
          path: `checkpoints/${jobId}/b`,
          sizeBytes: 5_000_000_123n,
          metrics: { valLoss: 0.5 },
          isBest: true,
          createdAt: at(200),
        },
        { id: 'ckpt-a', jobId, step: 1000, epoch: 1, path: `checkpoints/${jobId}/a`, sizeBytes: 1234n, createdAt: at(100) },
      ],
    })
    const response = await get<CheckpointsReply>(`/v1/training/jobs/${jobId}/checkpoints`)
    expect(response.status, response.text).toBe(200)
    expect(response.body.data.checkpoints).toEqual([
      { id: 'ckpt-a', step: 1000, epoch: 1, sizeBytes: 1234, metrics: null, isBest: false, createdAt: at(100).toISOString() },
      { id: 'ckpt-b', step: 2000, epoch: 2, sizeBytes: 5_000_000_123, metrics: { valLoss: 0.5 }, isBest: true, createdAt: at(200).toISOString() },
    ])
    expect(response.text).not.toContain('checkpoints/')
    expect((await get(`/v1/training/jobs/${jobId}/checkpoints`, tokens.bob)).status).toBe(404)
  })

  it('answers the evaluation of a completed job', async () => {
    const jobId = await createJob({ name: 'evaluated' })
    await finish(jobId, 'completed')
    const perClass = [
      { label: 'food', precision: 1, recall: 0.5, f1: 2 / 3, support: 2 },
      { label: 'tech', precision: 2 / 3, recall: 1, f1: 0.8, support: 2 },
    ]
    await database.db.evaluation.create({
      data: {
        id: 'eval-1',
        jobId,
        checkpointId: 'ckpt-x',
        sampleCount: 4,
        metrics: { loss: 0.4, accuracy: 0.75 },
        perClass,
        confusionMatrix: [
          [1, 1],
          [0, 2],
        ],
        labels: ['food', 'tech'],
        createdAt: at(95),
      },
    })
    const response = await get<EvaluationReply>(`/v1/training/jobs/${jobId}/evaluation`)
    expect(response.status, response.text).toBe(200)
    expect(response.body.data.evaluation).toEqual({
      jobId,
      checkpointId: 'ckpt-x',
      split: 'test',
      sampleCount: 4,
      metrics: { loss: 0.4, accuracy: 0.75 },
      perClass,
      confusionMatrix: [
        [1, 1],
        [0, 2],
      ],
      labels: ['food', 'tech'],
      createdAt: at(95).toISOString(),
    })
  })

  it('answers 404 E1109 saying why a job has no evaluation', async () => {
    const pending = await createJob({ name: 'queued' })
    const failed = await createJob({ name: 'broken' })
    await finish(failed, 'failed', { errorCode: 'E1104', errorMessage: 'loss became NaN at step 12' })
    const noTest = await createJob({ name: 'no test split', dataset: { id: textDataset, testSplit: 0 } })
    await finish(noTest, 'completed')
    const cases: [string, RegExp][] = [
      [pending, /no evaluation yet: it is queued \(pending\)/],
      [failed, /it failed before evaluating \(E1104: loss became NaN at step 12\)/],
      [noTest, /without a test split/],
    ]
    for (const [id, message] of cases) {
      const response = await get(`/v1/training/jobs/${id}/evaluation`)
      expect(response.status).toBe(404)
      expect(response.body.error.code).toBe('E1109')
      expect(response.body.error.message).toMatch(message)
      expect(response.body.error.message).toContain(id)
    }
    expect((await get(`/v1/training/jobs/${pending}/evaluation`, tokens.bob)).body.error.code).toBe('E1101')
  })
})

describe('GET /v1/training/jobs/compare', () => {
  let a: string
  let b: string
  let c: string
  beforeAll(async () => {
    const options = { seed: 7 }
    a = await createJob({ name: 'lr-small', hyperparameters: { learningRate: 0.001, batchSize: 8, epochs: 2 }, options })
    b = await createJob({ name: 'lr-big', hyperparameters: { learningRate: 0.01, batchSize: 8, epochs: 2 }, options })
    c = await createJob({ name: 'lr-big-batch', hyperparameters: { learningRate: 0.01, batchSize: 16, epochs: 2 }, options })
    await finish(a, 'completed', { metrics: { trainLoss: 0.3, valAccuracy: 0.8 } })
    await finish(b, 'completed', { completedAt: at(30) })
    for (const [id, accuracy] of [
      [a, 0.8],
      [b, 0.9],
    ] as const) {
      await database.db.evaluation.create({ data: { id: `eval-${id}`, jobId: id, sampleCount: 10, metrics: { loss: 0.5, accuracy } } })
    }
  })

  it('answers the jobs side by side, the settings that differ and the best by test accuracy', async () => {
    const response = await get<CompareReply>(`/v1/training/jobs/compare?ids=${a},${b},${c}`)
    expect(response.status, response.text).toBe(200)
    const { jobs, differences, best } = response.body.data
    expect(jobs.map((job: { id: string }) => job.id)).toEqual([a, b, c])
    expect(jobs[0]).toMatchObject({
      id: a,
      name: 'lr-small',
      status: 'completed',
      model: { baseModel: 'text-cnn', task: 'text-classification' },
      hyperparameters: { learningRate: 0.001, batchSize: 8 },
      finalMetrics: { trainLoss: 0.3, valAccuracy: 0.8 },
      testMetrics: { loss: 0.5, accuracy: 0.8 },
      duration: 90.5,
      cost: { actualCost: expect.any(Number), estimatedCost: expect.any(Number) },
    })
    expect(jobs[1].duration).toBe(30)
    expect(jobs[2]).toMatchObject({ status: 'pending', testMetrics: null, duration: null, cost: { actualCost: null } })
    expect(differences).toEqual({ 'hyperparameters.learningRate': [0.001, 0.01, 0.01], 'hyperparameters.batchSize': [8, 8, 16] })
    expect(best).toEqual({ metric: 'accuracy', jobId: b, value: 0.9 })
  })

  it('picks the lowest test RMSE among regression jobs, and none across task families', async () => {
    const r1 = await regression({ name: 'r1', options: { seed: 1 } })
    const r2 = await regression({ name: 'r2', options: { seed: 1 }, hyperparameters: { learningRate: 0.001, batchSize: 4, epochs: 2 } })
    await database.db.evaluation.create({ data: { id: `eval-${r1}`, jobId: r1, sampleCount: 4, metrics: { loss: 1, mae: 0.5, rmse: 0.7, r2: 0.9 } } })
    await database.db.evaluation.create({ data: { id: `eval-${r2}`, jobId: r2, sampleCount: 4, metrics: { loss: 1, mae: 0.4, rmse: 0.6, r2: 0.95 } } })
    const response = await get<CompareReply>(`/v1/training/jobs/compare?ids=${r1},${r2}`)
    expect(response.body.data.best).toEqual({ metric: 'rmse', jobId: r2, value: 0.6 })
    expect(response.body.data.differences).toEqual({ 'hyperparameters.batchSize': [8, 4] })
    const mixed = await get<CompareReply>(`/v1/training/jobs/compare?ids=${a},${r1}`)
    expect(mixed.body.data.best).toBeNull()
    expect(mixed.body.data.differences).toMatchObject({
      'model.task': ['text-classification', 'tabular-regression'],
      'dataset.id': [textDataset, tabularDataset],
    })
  })

  it.each([
    ['one id', (ids: string[]) => `ids=${ids[0]}`, /from 2 to 20/],
    ['a repeated id', (ids: string[]) => `ids=${ids[0]},${ids[1]},${ids[0]}`, /more than once/],
    ['an empty entry', (ids: string[]) => `ids=${ids[0]},,${ids[1]}`, /empty/],
    ['21 ids', () => `ids=${Array.from({ length: 21 }, (_, i) => `job-${i}`).join(',')}`, /got 21/],
    ['no ids', () => '', /required/],
  ])('rejects %s with 400 E1108 naming ids', async (_case, query, message) => {
    const response = await get<CompareReply>(`/v1/training/jobs/compare?${query([a, b])}`)
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('E1108')
    expect(problemFields(response)).toEqual(['ids'])
    expect(response.body.error.details![0].message).toMatch(message)
  })

  it("answers 404 E1101 naming another user's job and an unknown one", async () => {
    const bobs = await createJob({ name: 'bob job' }, tokens.bob)
    const response = await get<CompareReply>(`/v1/training/jobs/compare?ids=${a},${bobs},job-missing`)
    expect(response.status).toBe(404)
    expect(response.body.error.code).toBe('E1101')
    expect(response.body.error.message).toBe(`Jobs "${bobs}", "job-missing" not found`)
  })
})

describe('on PostgreSQL', () => {
  const postgresUrl = 'postgresql://postgres@127.0.0.1:5432/test'
  const schema = `t_monitoring_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`
  let pgServer: TestServer
  let pgDatabase: Database

  beforeAll(async () => {
    pgServer = await startServer({ DATABASE_URL: `${postgresUrl}?schema=${schema}` })
    pgDatabase = await createDatabase(`${postgresUrl}?schema=${schema}`)
  })
  afterAll(async () => {
    await pgDatabase?.close()
    await pgServer?.close()
    const client = new pg.Client({ connectionString: postgresUrl })
    await client.connect()
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await client.end()
    }
  })

  it('ReadStore.metricSeries answers each series in (step, id) order, and buckets exactly as downsample() does', async () => {
    const dataset = await createDataset(pgServer)
    const created = await pgServer.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(dataset) })
    const jobId = created.body.data.job.id as string
    await insertAwkwardSeries(pgDatabase, jobId)
    await expectSeriesLikeReference(pgDatabase, jobId)
  })

  it('downsamples in the database exactly as on SQLite, and pages logs by cursor', async () => {
    const dataset = await createDataset(pgServer)
    const created = await pgServer.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(dataset) })
    const jobId = created.body.data.job.id as string
    const value = (i: number) => Math.cos(i / 9) + i / 1000
    await pgDatabase.db.metricPoint.createMany({
      data: ['trainLoss', 'valLoss'].flatMap((name, s) =>
        Array.from({ length: 1234 - s * 1000 }, (_, i) => ({ jobId, name, step: i * 3, epoch: i / 100, value: value(i), timestamp: at(i) })),
      ),
    })
    const full = (await pgServer.request<MetricsReply>('GET', `/v1/training/jobs/${jobId}/metrics`)).body.data.metrics
    const reduced = await pgServer.request<MetricsReply>('GET', `/v1/training/jobs/${jobId}/metrics?maxPoints=50`)
    expect(reduced.status, reduced.text).toBe(200)
    for (const name of ['trainLoss', 'valLoss']) {
      const expected = downsample(full[name], 50)
      expect(reduced.body.data.metrics[name].map((p: { step: number }) => p.step)).toEqual(expected.map((p) => p.step))
      reduced.body.data.metrics[name].forEach((p, i) => {
        expect(p.value).toBeCloseTo(expected[i].value, 9)
        expect(p).toMatchObject({ timestamp: expected[i].timestamp, epoch: expected[i].epoch })
      })
    }
    const filtered = await pgServer.request<MetricsReply>('GET', `/v1/training/jobs/${jobId}/metrics?metrics=valLoss&maxPoints=2`)
    expect(Object.keys(filtered.body.data.metrics)).toEqual(['valLoss'])
    expect(filtered.body.data.metrics.valLoss.map((p: { step: number }) => p.step)).toEqual([0, 233 * 3])

    await pgDatabase.db.jobLog.createMany({ data: ['a', 'b', 'c'].map((message) => ({ jobId, timestamp: at(5), level: 'info', severity: 20, message })) })
    const first = await pgServer.request<LogsReply>('GET', `/v1/training/jobs/${jobId}/logs?limit=2`)
    const rest = await pgServer.request<LogsReply>('GET', `/v1/training/jobs/${jobId}/logs?limit=2&cursor=${first.body.data.nextCursor}`)
    expect([...first.body.data.logs, ...rest.body.data.logs].map((log: { message: string }) => log.message)).toEqual(['a', 'b', 'c'])
  })
})

const JobResults = graphql(`
  query JobResults($id: ID!, $minLevel: LogLevel, $limit: Int, $names: [String!], $maxPoints: Int) {
    job(id: $id) {
      id
      logs(minLevel: $minLevel, limit: $limit) {
        logs {
          timestamp
          level
          message
          step
          epoch
          metrics
        }
        hasMore
        nextCursor
      }
      metricHistory(names: $names, maxPoints: $maxPoints) {
        name
        points {
          step
          value
        }
      }
      checkpoints {
        id
        sizeBytes
        isBest
      }
      evaluation {
        sampleCount
        metrics
        perClass {
          label
          f1
        }
        confusionMatrix
        labels
      }
    }
  }
`)

const CompareJobs = graphql(`
  query CompareJobs($ids: [ID!]!) {
    compareJobs(ids: $ids) {
      jobs {
        job {
          id
          name
        }
        testMetrics
        duration
      }
      differences {
        path
        values
      }
      best {
        metric
        jobId
        value
      }
    }
  }
`)

describe('GraphQL: Job.logs, metricHistory, checkpoints, evaluation; compareJobs', () => {
  it('answers the same data as REST through fields of Job', async () => {
    const jobId = await createJob({ name: 'graphql view' })
    await insertLogs(jobId, [
      { s: 0, level: 'debug', message: 'hidden' },
      { s: 1, level: 'warn', message: 'shown', step: 3, epoch: 1, metrics: { trainLoss: 2 } },
      { s: 2, level: 'error', message: 'also shown' },
    ])
    await insertSeries(jobId, { trainLoss: (i) => 10 - i }, 10)
    await database.db.checkpoint.create({ data: { id: 'ckpt-g', jobId, step: 10, epoch: 1, path: 'x', sizeBytes: 3_000_000_000n, isBest: true } })
    await database.db.evaluation.create({
      data: {
        id: 'eval-g',
        jobId,
        sampleCount: 3,
        metrics: { accuracy: 2 / 3 },
        perClass: [{ label: 'x', precision: 1, recall: 1, f1: 1, support: 3 }],
        confusionMatrix: [[3]],
        labels: ['x'],
      },
    })

    const result = await server.graphql(JobResults, { id: jobId, minLevel: 'warn', limit: 1, names: ['trainLoss'], maxPoints: 3 })
    expect(result.errors).toBeUndefined()
    const job = result.data?.job
    expect(job?.logs).toEqual({
      logs: [{ timestamp: at(1).toISOString(), level: 'warn', message: 'shown', step: 3, epoch: 1, metrics: { trainLoss: 2 } }],
      hasMore: true,
      nextCursor: expect.any(String),
    })
    expect(job?.metricHistory).toEqual([
      {
        name: 'trainLoss',
        points: [
          { step: 0, value: 10 },
          { step: 80, value: 5.5 },
          { step: 90, value: 1 },
        ],
      },
    ])
    expect(job?.checkpoints).toEqual([{ id: 'ckpt-g', sizeBytes: 3_000_000_000, isBest: true }])
    expect(job?.evaluation).toEqual({ sampleCount: 3, metrics: { accuracy: 2 / 3 }, perClass: [{ label: 'x', f1: 1 }], confusionMatrix: [[3]], labels: ['x'] })

    const empty = await server.graphql(JobResults, { id: await createJob({ name: 'bare' }) })
    expect(empty.errors).toBeUndefined()
    expect(empty.data?.job).toMatchObject({ logs: { logs: [], hasMore: false }, metricHistory: [], checkpoints: [], evaluation: null })
  })

  it('reports bad arguments as E1108 naming the argument', async () => {
    const jobId = await createJob({ name: 'graphql bad args' })
    const result = await server.graphql(JobResults, { id: jobId, limit: 5000 })
    expect(result.errors?.[0].extensions).toMatchObject({ code: 'E1108', details: [{ field: 'limit' }] })
    const names = await server.graphql(JobResults, { id: jobId, names: ['nope'] })
    expect(names.errors?.[0].extensions).toMatchObject({ code: 'E1108', details: [{ field: 'names' }] })
  })

  it('compareJobs answers differences as path and values, and E1101 for a job of another user', async () => {
    const x = await createJob({ name: 'gx', options: { seed: 3 } })
    const y = await createJob({ name: 'gy', options: { seed: 4 } })
    const result = await server.graphql(CompareJobs, { ids: [x, y] })
    expect(result.errors).toBeUndefined()
    expect(result.data?.compareJobs).toEqual({
      jobs: [
        { job: { id: x, name: 'gx' }, testMetrics: null, duration: null },
        { job: { id: y, name: 'gy' }, testMetrics: null, duration: null },
      ],
      differences: [{ path: 'options.seed', values: [3, 4] }],
      best: null,
    })
    const foreign = await server.graphql(CompareJobs, { ids: [x, y] }, tokens.bob)
    expect(foreign.errors?.[0].extensions?.code).toBe('E1101')
  })
})

describe('writeEventStream', () => {
  it('frames events with ids, sends heartbeats while idle, and returns the source when the client leaves', async () => {
    let returned = false
    let release!: () => void
    const idle = new Promise<void>((resolve) => (release = resolve))
    const items = [{ n: 1 }, { n: 2 }]
    const source: AsyncIterator<{ n: number }> = {
      async next() {
        if (items.length > 0) return { done: false, value: items.shift() as { n: number } }
        await idle
        return { done: true, value: undefined }
      },
      async return() {
        returned = true
        release()
        return { done: true, value: undefined }
      },
    }
    let finished!: Promise<void>
    const plain = http.createServer((_request, response) => {
      finished = writeEventStream(response, source, (item) => ({ event: 'tick', data: item }), { heartbeatMs: 20 })
    })
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    try {
      const abort = new AbortController()
      const response = await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/`, { signal: abort.signal })
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      let text = ''
      while (!text.includes(': heartbeat\n\n: heartbeat\n\n')) text += new TextDecoder().decode((await reader.read()).value)
      expect(text.startsWith('id: 1\nevent: tick\ndata: {"n":1}\n\nid: 2\nevent: tick\ndata: {"n":2}\n\n: heartbeat\n\n')).toBe(true)
      abort.abort()
      await finished
      expect(returned).toBe(true)
    } finally {
      plain.closeAllConnections()
      await new Promise((resolve) => plain.close(resolve))
    }
  })
})
