// Hot read paths (job status, job lists, metric series) as prepared SQL on
// the database driver itself. Prisma's driver-adapter engine spends ~2 ms
// compiling and running even a primary-key lookup here (better-sqlite3
// alone: ~0.03 ms; see bench/RESULTS.md), which would cap job status at a few
// hundred requests per second, and ~20 µs mapping each row, which makes a
// 100k-point metric history take seconds. Writes and every other read stay on
// Prisma; job rows come back in Prisma's own shapes, so the same view code
// serves both. The SQLite and PostgreSQL implementations of the same
// queries sit side by side here (~310 lines) so that they stay in step.
import Sqlite from 'better-sqlite3'
import pg from 'pg'
import type { DatabaseTarget } from './database-url.ts'
import type { Job } from './db.ts'
import { jobSummaryColumns, type JobSummaryRow } from '../domain/views.ts'

export type JobRow = Job & { owner: { name: string } }

export interface JobFilter {
  ownerId?: string
  status?: string
  baseModel?: string
}

export interface JobOrder {
  sortBy: 'createdAt' | 'updatedAt' | 'name'
  sortOrder: 'asc' | 'desc'
}

/** One point of a metric series; `timestamp` in ISO form (`…T…:…:….mmmZ`). */
export interface MetricPointRow {
  step: number
  epoch: number | null
  value: number
  timestamp: string
}

/** One metric series of a job, its points in (step, id) order. */
export interface MetricSeriesRows {
  name: string
  points: MetricPointRow[]
}

export interface ReadStore {
  jobById(id: string, ownerId: string | undefined): Promise<JobRow | undefined>
  jobs(filter: JobFilter, order: JobOrder, window: { offset: number; limit: number }): Promise<JobRow[]>
  /** Like `jobs`, reading only what a list entry shows. */
  jobSummaries(filter: JobFilter, order: JobOrder, window: { offset: number; limit: number }): Promise<JobSummaryRow[]>
  countJobs(filter: JobFilter): Promise<number>
  /**
   * A job's metric series: those of `names` in that order (empty where none
   * is stored), or else every stored series by name; with `maxPoints`, each
   * downsampled in the database as `downsample()` (src/services/monitoring/
   * metrics.ts) does it.
   */
  metricSeries(jobId: string, names: readonly string[] | null, maxPoints: number | null): Promise<MetricSeriesRows[]>
  close(): Promise<void>
}

const jsonColumns = ['modelConfig', 'datasetConfig', 'hyperparameters', 'resourcesConfig', 'outputConfig', 'optionsConfig', 'metrics'] as const
const dateColumns = [
  'estimatedStartTime',
  'estimatedCompletionTime',
  'startedAt',
  'stoppedAt',
  'completedAt',
  'heartbeatAt',
  'deletedAt',
  'createdAt',
  'updatedAt',
] as const
const sortColumns: Record<JobOrder['sortBy'], string> = { createdAt: '"createdAt"', updatedAt: '"updatedAt"', name: '"name"' }

/** SQLite stores Prisma DateTimes as ISO text (`…+00:00`), or `YYYY-MM-DD HH:MM:SS` where SQL defaults wrote them. */
function sqliteDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'number') return new Date(value)
  const text = String(value)
  return new Date(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`)
}

/** Builds the WHERE clause; `param(i)` renders the dialect's i-th placeholder. */
function whereOf(filter: JobFilter, param: (index: number) => string, args: unknown[]): string {
  const clauses = ['j."deletedAt" IS NULL']
  const add = (sql: string, value: unknown) => {
    args.push(value)
    clauses.push(`${sql} = ${param(args.length)}`)
  }
  if (filter.ownerId !== undefined) add('j."ownerId"', filter.ownerId)
  if (filter.status !== undefined) add('j."status"', filter.status)
  if (filter.baseModel !== undefined) add('j."baseModel"', filter.baseModel)
  return clauses.join(' AND ')
}

const summarySelect = jobSummaryColumns.map((column) => `j."${column}"`).join(', ')

function listSql(table: (name: string) => string, select: string, where: string, order: JobOrder, limitParam: string, offsetParam: string): string {
  const direction = order.sortOrder === 'asc' ? 'ASC' : 'DESC'
  return `SELECT ${select}, u."name" AS "ownerName" FROM ${table('Job')} j JOIN ${table('User')} u ON u."id" = j."ownerId"
    WHERE ${where} ORDER BY j.${sortColumns[order.sortBy]} ${direction}, j."id" ${direction} LIMIT ${limitParam} OFFSET ${offsetParam}`
}

/**
 * The queries of `metricSeries`. One series per query: its rows come back
 * without their name, already in the answer's shape (no per-row copy, no name
 * string per row; a third less time for 100k points than one query for all).
 * Without maxPoints, the points as stored. With it, the buckets of
 * `downsample()`: number the points i = 0..n-1 in (step, id) order; a series
 * of n <= maxPoints keeps every point (bucket i); otherwise the first and last
 * points are buckets of their own and interior point i goes to bucket
 * ((i - 1)·B) / (n - 2) (integer division) of B = maxPoints - 2. Each bucket
 * is one point: the mean value at the step, epoch and time of its last point,
 * the one whose successor's formula gives another bucket (for the last
 * interior point, B: the formula at i = n - 1). `m` is maxPoints as an
 * integer, so that the divisions are integer divisions in both dialects; CASE
 * (evaluated in order, unlike OR) keeps them away from n = 2 (division by
 * zero on PostgreSQL) and i = 0 (negative numbers).
 */
function metricSeriesSql(dialect: {
  table: string
  /** Placeholders (each used more than once) of the job id, the series name and (as an integer expression) maxPoints. */
  jobId: string
  name: string
  maxPoints: string
  /** ISO text of a DateTime expression, or the expression itself where the caller converts. */
  timestamp: (expression: string) => string
}) {
  const where = `"jobId" = ${dialect.jobId} AND "name" = ${dialect.name}`
  return {
    names: `SELECT DISTINCT "name" FROM ${dialect.table} WHERE "jobId" = ${dialect.jobId} ORDER BY "name"`,
    whole: `SELECT "step", "epoch", "value", ${dialect.timestamp('"timestamp"')} AS "timestamp" FROM ${dialect.table} WHERE ${where} ORDER BY "step", "id"`,
    downsampled: `WITH ranked AS (
        SELECT "step", "epoch", "value", "timestamp",
          ROW_NUMBER() OVER (ORDER BY "step", "id") - 1 AS i, ${dialect.maxPoints} AS m,
          -- Not COUNT(*) OVER (): SQLite would sort the rows for it again (a quarter of this query's time).
          (SELECT COUNT(*) FROM ${dialect.table} WHERE ${where}) AS n
        FROM ${dialect.table} WHERE ${where}
      ), bucketed AS (
        SELECT "step", "epoch", "value", "timestamp",
          CASE WHEN n <= m THEN i WHEN i = 0 THEN -1 WHEN i = n - 1 THEN n WHEN m = 2 THEN NULL
            ELSE ((i - 1) * (m - 2)) / (n - 2) END AS b,
          CASE WHEN n <= m OR i = 0 OR i = n - 1 THEN TRUE
            ELSE ((i - 1) * (m - 2)) / (n - 2) <> (i * (m - 2)) / (n - 2) END AS "isLast"
        FROM ranked
      )
      SELECT MAX("step") FILTER (WHERE "isLast") AS "step", MAX("epoch") FILTER (WHERE "isLast") AS "epoch", AVG("value") AS "value",
        ${dialect.timestamp('MAX("timestamp") FILTER (WHERE "isLast")')} AS "timestamp"
      FROM bucketed WHERE b IS NOT NULL GROUP BY b ORDER BY b`,
  }
}

/** A stored SQLite DateTime in ISO form; Prisma's own `…+00:00` text (nearly every row) without going through Date. */
function sqliteIso(value: unknown): string {
  if (typeof value === 'string' && value.length === 29 && value.endsWith('+00:00') && value[10] === 'T') return `${value.slice(0, 23)}Z`
  return (sqliteDate(value) as Date).toISOString()
}

function createSqliteStore(filePath: string): ReadStore {
  const db = new Sqlite(filePath, { fileMustExist: true })
  db.pragma('journal_mode = WAL')
  db.pragma('busy_timeout = 10000')
  const table = (name: string) => `"${name}"`
  const statements = new Map<string, Sqlite.Statement>()
  const prepare = (sql: string) => {
    let statement = statements.get(sql)
    if (!statement) {
      statement = db.prepare(sql)
      statements.set(sql, statement)
    }
    return statement
  }
  // Converts in place (better-sqlite3 hands out a fresh object per row), only the columns selected.
  const toRow = <T = JobRow>(row: Record<string, unknown>): T => {
    for (const column of jsonColumns)
      if (column in row) row[column] = typeof row[column] === 'string' ? JSON.parse(row[column] as string) : (row[column] ?? null)
    for (const column of dateColumns) if (column in row) row[column] = sqliteDate(row[column])
    row.owner = { name: row.ownerName }
    delete row.ownerName
    return row as T
  }
  const param = () => '?'
  // better-sqlite3 binds JavaScript numbers as REAL: maxPoints is cast.
  const seriesSql = metricSeriesSql({
    table: '"MetricPoint"',
    jobId: '@jobId',
    name: '@name',
    maxPoints: 'CAST(@maxPoints AS INTEGER)',
    timestamp: (expression) => expression,
  })
  return {
    async jobById(id, ownerId) {
      const args: unknown[] = []
      const where = whereOf({ ownerId }, param, args)
      const raw = prepare(`SELECT j.*, u."name" AS "ownerName" FROM "Job" j JOIN "User" u ON u."id" = j."ownerId" WHERE j."id" = ? AND ${where}`).get(
        id,
        ...args,
      )
      return raw ? toRow(raw as Record<string, unknown>) : undefined
    },
    async jobs(filter, order, window) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(listSql(table, 'j.*', where, order, '?', '?')).all(...args, window.limit, window.offset) as Record<string, unknown>[]).map((row) =>
        toRow(row),
      )
    },
    async jobSummaries(filter, order, window) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(listSql(table, summarySelect, where, order, '?', '?')).all(...args, window.limit, window.offset) as Record<string, unknown>[]).map(
        (row) => toRow<JobSummaryRow>(row),
      )
    },
    async countJobs(filter) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(`SELECT COUNT(*) AS "count" FROM "Job" j WHERE ${where}`).get(...args) as { count: number }).count
    },
    async metricSeries(jobId, names, maxPoints) {
      // One transaction: every series from the same snapshot while the trainer writes.
      return db.transaction(() => {
        const seriesNames = names ?? (prepare(seriesSql.names).pluck().all({ jobId }) as string[])
        return seriesNames.map((name) => {
          const points = (
            maxPoints === null ? prepare(seriesSql.whole).all({ jobId, name }) : prepare(seriesSql.downsampled).all({ jobId, name, maxPoints })
          ) as MetricPointRow[]
          // In place: better-sqlite3 hands out a fresh object per row.
          for (const point of points) point.timestamp = sqliteIso(point.timestamp)
          return { name, points }
        })
      })()
    },
    async close() {
      db.close()
    },
  }
}

function createPostgresStore(connectionString: string, schema: string | undefined): ReadStore {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    // Prisma writes TIMESTAMP(3) without time zone, in UTC; read it back as UTC whatever TZ this process has.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === 1114
          ? (text: string) => new Date(`${text.replace(' ', 'T')}Z`)
          : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  })
  const quotedSchema = `"${(schema ?? 'public').replaceAll('"', '""')}"`
  const table = (name: string) => `${quotedSchema}."${name}"`
  const param = (index: number) => `$${index}`
  // ISO text from the server: no Date per row on this side.
  const seriesSql = metricSeriesSql({
    table: table('MetricPoint'),
    jobId: '$1',
    name: '$2',
    maxPoints: '$3::int',
    timestamp: (expression) => `to_char(${expression}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  })
  const toRow = <T = JobRow>(raw: Record<string, unknown>): T => {
    const { ownerName, ...row } = raw
    return { ...row, owner: { name: ownerName as string } } as T
  }
  const list = async <T>(select: string, filter: JobFilter, order: JobOrder, window: { offset: number; limit: number }) => {
    const args: unknown[] = []
    const where = whereOf(filter, param, args)
    args.push(window.limit, window.offset)
    const result = await pool.query({ text: listSql(table, select, where, order, `$${args.length - 1}`, `$${args.length}`), values: args })
    return result.rows.map((row) => toRow<T>(row))
  }
  return {
    async jobById(id, ownerId) {
      const args: unknown[] = [id]
      const where = whereOf({ ownerId }, param, args)
      const result = await pool.query({
        text: `SELECT j.*, u."name" AS "ownerName" FROM ${table('Job')} j JOIN ${table('User')} u ON u."id" = j."ownerId" WHERE j."id" = $1 AND ${where}`,
        values: args,
      })
      return result.rows[0] ? toRow(result.rows[0]) : undefined
    },
    jobs: (filter, order, window) => list<JobRow>('j.*', filter, order, window),
    jobSummaries: (filter, order, window) => list<JobSummaryRow>(summarySelect, filter, order, window),
    async countJobs(filter) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      const result = await pool.query({ text: `SELECT COUNT(*)::int AS "count" FROM ${table('Job')} j WHERE ${where}`, values: args })
      return result.rows[0].count as number
    },
    async metricSeries(jobId, names, maxPoints) {
      const seriesNames = names ?? (await pool.query<{ name: string }>({ text: seriesSql.names, values: [jobId] })).rows.map((row) => row.name)
      // In parallel on the pool's connections, each series its own snapshot (a running job's series may differ by the points written meanwhile).
      const points = await Promise.all(
        seriesNames.map(async (name) =>
          maxPoints === null
            ? (await pool.query<MetricPointRow>({ text: seriesSql.whole, values: [jobId, name] })).rows
            : (await pool.query<MetricPointRow>({ text: seriesSql.downsampled, values: [jobId, name, maxPoints] })).rows,
        ),
      )
      return seriesNames.map((name, i) => ({ name, points: points[i] }))
    },
    async close() {
      await pool.end()
    },
  }
}

export function createReadStore(target: DatabaseTarget): ReadStore {
  return target.provider === 'sqlite' ? createSqliteStore(target.filePath) : createPostgresStore(target.connectionString, target.schema)
}
