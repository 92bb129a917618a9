// Bulk inserts of training history (metric points and log lines) as
// prepared SQL on the database driver. A running job writes thousands of
// metric points a second; through Prisma's driver-adapter engine each point
// costs ~150 µs of CPU in the trainer's process (better-sqlite3 alone:
// ~5 µs), CPU that the job's own process then lacks (bench/RESULTS.md,
// training overhead). Rows are written exactly as Prisma writes them, so
// Prisma and the read store read them back unchanged.
import Sqlite from 'better-sqlite3'
import pg from 'pg'
import type { DatabaseTarget } from './database-url.ts'

export interface MetricPointInsert {
  jobId: string
  name: string
  step: number
  epoch: number | null
  value: number
  timestamp: Date
}

export interface JobLogInsert {
  jobId: string
  timestamp: Date
  level: string
  severity: number
  message: string
  step: number | null
  epoch: number | null
  metrics: Record<string, number> | null
}

export interface HistoryWriter {
  /** Writes both batches in one transaction. */
  write(points: readonly MetricPointInsert[], logs: readonly JobLogInsert[]): Promise<void>
  close(): Promise<void>
}

/** Prisma's SQLite DateTime text. */
const sqliteTime = (date: Date) => date.toISOString().replace('Z', '+00:00')

function createSqliteWriter(filePath: string): HistoryWriter {
  const db = new Sqlite(filePath, { fileMustExist: true })
  db.pragma('journal_mode = WAL')
  db.pragma('busy_timeout = 10000')
  const insertPoint = db.prepare('INSERT INTO "MetricPoint" ("jobId", "name", "step", "epoch", "value", "timestamp") VALUES (?, ?, ?, ?, ?, ?)')
  const insertLog = db.prepare(
    'INSERT INTO "JobLog" ("jobId", "timestamp", "level", "severity", "message", "step", "epoch", "metrics") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const writeAll = db.transaction((points: readonly MetricPointInsert[], logs: readonly JobLogInsert[]) => {
    for (const p of points) insertPoint.run(p.jobId, p.name, p.step, p.epoch, p.value, sqliteTime(p.timestamp))
    for (const l of logs) {
      insertLog.run(l.jobId, sqliteTime(l.timestamp), l.level, l.severity, l.message, l.step, l.epoch, l.metrics === null ? null : JSON.stringify(l.metrics))
    }
  })
  return {
    async write(points, logs) {
      writeAll(points, logs)
    },
    async close() {
      db.close()
    },
  }
}

function createPostgresWriter(connectionString: string, schema: string | undefined): HistoryWriter {
  const pool = new pg.Pool({ connectionString, max: 2 })
  const table = (name: string) => `"${(schema ?? 'public').replaceAll('"', '""')}"."${name}"`
  // One statement per table whatever the batch size: arrays unnested into rows.
  const pointsSql = `INSERT INTO ${table('MetricPoint')} ("jobId", "name", "step", "epoch", "value", "timestamp")
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::float8[], $6::timestamp(3)[])`
  const logsSql = `INSERT INTO ${table('JobLog')} ("jobId", "timestamp", "level", "severity", "message", "step", "epoch", "metrics")
    SELECT j, t, l, s, m, st, e, x::jsonb FROM unnest($1::text[], $2::timestamp(3)[], $3::text[], $4::int[], $5::text[], $6::int[], $7::int[], $8::text[]) AS u(j, t, l, s, m, st, e, x)`
  // TIMESTAMP(3) without time zone holds UTC (as Prisma writes it): send the UTC wall time.
  const utc = (date: Date) => date.toISOString().slice(0, 23).replace('T', ' ')
  return {
    async write(points, logs) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        if (points.length > 0) {
          await client.query(pointsSql, [
            points.map((p) => p.jobId),
            points.map((p) => p.name),
            points.map((p) => p.step),
            points.map((p) => p.epoch),
            points.map((p) => p.value),
            points.map((p) => utc(p.timestamp)),
          ])
        }
        if (logs.length > 0) {
          await client.query(logsSql, [
            logs.map((l) => l.jobId),
            logs.map((l) => utc(l.timestamp)),
            logs.map((l) => l.level),
            logs.map((l) => l.severity),
            logs.map((l) => l.message),
            logs.map((l) => l.step),
            logs.map((l) => l.epoch),
            logs.map((l) => (l.metrics === null ? null : JSON.stringify(l.metrics))),
          ])
        }
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    },
    async close() {
      await pool.end()
    },
  }
}

export function createHistoryWriter(target: DatabaseTarget): HistoryWriter {
  return target.provider === 'sqlite' ? createSqliteWriter(target.filePath) : createPostgresWriter(target.connectionString, target.schema)
}
