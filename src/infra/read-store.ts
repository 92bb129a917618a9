// Hot read paths (job status, job lists) as prepared SQL on the database
// driver itself. Prisma's driver-adapter engine spends ~2 ms compiling and
// running even a primary-key lookup here (better-sqlite3 alone: ~0.03 ms;
// see bench/RESULTS.md), which would cap job status at a few hundred
// requests per second. Writes and every other read stay on Prisma; rows come
// back in Prisma's own shapes, so the same view code serves both.
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

export interface ReadStore {
  jobById(id: string, ownerId: string | undefined): Promise<JobRow | undefined>
  jobs(filter: JobFilter, order: JobOrder, window: { offset: number; limit: number }): Promise<JobRow[]>
  /** Like `jobs`, reading only what a list entry shows. */
  jobSummaries(filter: JobFilter, order: JobOrder, window: { offset: number; limit: number }): Promise<JobSummaryRow[]>
  countJobs(filter: JobFilter): Promise<number>
  close(): Promise<void>
}

const jsonColumns = ['modelConfig', 'datasetConfig', 'hyperparameters', 'resourcesConfig', 'outputConfig', 'optionsConfig', 'metrics'] as const
const dateColumns = ['estimatedStartTime', 'estimatedCompletionTime', 'startedAt', 'stoppedAt', 'completedAt', 'heartbeatAt', 'deletedAt', 'createdAt', 'updatedAt'] as const
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
    for (const column of jsonColumns) if (column in row) row[column] = typeof row[column] === 'string' ? JSON.parse(row[column] as string) : (row[column] ?? null)
    for (const column of dateColumns) if (column in row) row[column] = sqliteDate(row[column])
    row.owner = { name: row.ownerName }
    delete row.ownerName
    return row as T
  }
  const param = () => '?'
  return {
    async jobById(id, ownerId) {
      const args: unknown[] = []
      const where = whereOf({ ownerId }, param, args)
      const raw = prepare(`SELECT j.*, u."name" AS "ownerName" FROM "Job" j JOIN "User" u ON u."id" = j."ownerId" WHERE j."id" = ? AND ${where}`).get(id, ...args)
      return raw ? toRow(raw as Record<string, unknown>) : undefined
    },
    async jobs(filter, order, window) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(listSql(table, 'j.*', where, order, '?', '?')).all(...args, window.limit, window.offset) as Record<string, unknown>[]).map((row) => toRow(row))
    },
    async jobSummaries(filter, order, window) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(listSql(table, summarySelect, where, order, '?', '?')).all(...args, window.limit, window.offset) as Record<string, unknown>[]).map((row) =>
        toRow<JobSummaryRow>(row),
      )
    },
    async countJobs(filter) {
      const args: unknown[] = []
      const where = whereOf(filter, param, args)
      return (prepare(`SELECT COUNT(*) AS "count" FROM "Job" j WHERE ${where}`).get(...args) as { count: number }).count
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
        oid === 1114 ? (text: string) => new Date(`${text.replace(' ', 'T')}Z`) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  })
  const quotedSchema = `"${(schema ?? 'public').replaceAll('"', '""')}"`
  const table = (name: string) => `${quotedSchema}."${name}"`
  const param = (index: number) => `$${index}`
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
    async close() {
      await pool.end()
    },
  }
}

export function createReadStore(target: DatabaseTarget): ReadStore {
  return target.provider === 'sqlite' ? createSqliteStore(target.filePath) : createPostgresStore(target.connectionString, target.schema)
}
