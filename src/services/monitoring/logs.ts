// A job's log lines (spec §4.1), paged by an opaque cursor.
import type { Db } from '../../infra/db.ts'
import { InvalidInputError } from '../../errors/index.ts'
import { logSeverity, type JobLogView, type LogLevel } from '../../events/index.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { checkIntRange, type ParamNames } from './inputs.ts'
import { logMetricsOf } from '../../domain/json-columns.ts'

export const logLimit = { default: 100, max: 1000 }

export interface LogQuery {
  /** Lines at this level and above. Default info. */
  minLevel?: LogLevel
  /** Inclusive bounds on the line's timestamp. */
  startTime?: Date
  endTime?: Date
  limit?: number
  /** `nextCursor` of a previous page: continues right after its last line. */
  after?: string
}

/** A log line as the spec's §4.1 shows it: `metrics` only where the line carries some. */
export type LogLine = Omit<JobLogView, 'metrics'> & { metrics?: Record<string, number> }

export interface LogPage {
  logs: LogLine[]
  /** More lines match after these. */
  hasMore: boolean
  /** Timestamp of the first line not returned (null when none). A new `startTime` from it repeats lines of that same millisecond; `nextCursor` does not. */
  nextStartTime: string | null
  /** Opaque: pass back as `cursor` (REST) or `after` (GraphQL) for the next page. */
  nextCursor: string | null
}

function encodeCursor(timestamp: Date, id: number): string {
  return Buffer.from(`${timestamp.getTime()}:${id}`).toString('base64url')
}

function decodeCursor(cursor: string, field: string): { timestamp: Date; id: number } {
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (!match) throw InvalidInputError.fromProblems([{ field, message: 'is not a cursor this service gave out (use nextCursor of a previous page)' }])
  return { timestamp: new Date(Number(match[1])), id: Number(match[2]) }
}

export function createLogReads(deps: { db: Db; jobs: JobService }) {
  const { db, jobs } = deps
  return {
    /**
     * Log lines (§4.1) at `minLevel` and above within the time window, oldest
     * first (timestamp, then insertion order), at most `limit`; `nextCursor`
     * continues where the page stops.
     */
    async logs(principal: Principal, jobId: string, query: LogQuery, params: ParamNames<keyof LogQuery> = {}): Promise<LogPage> {
      await jobs.get(principal, jobId)
      const limit = query.limit ?? logLimit.default
      checkIntRange(limit, { min: 1, max: logLimit.max }, params.limit ?? 'limit')
      if (query.startTime && query.endTime && query.startTime > query.endTime) {
        throw InvalidInputError.fromProblems([{ field: params.endTime ?? 'endTime', message: `is before startTime (${query.startTime.toISOString()})` }])
      }
      const after = query.after === undefined ? undefined : decodeCursor(query.after, params.after ?? 'after')
      const rows = await db.jobLog.findMany({
        where: {
          jobId,
          severity: { gte: logSeverity[query.minLevel ?? 'info'] },
          timestamp: { gte: query.startTime, lte: query.endTime },
          ...(after ? { OR: [{ timestamp: { gt: after.timestamp } }, { timestamp: after.timestamp, id: { gt: after.id } }] } : {}),
        },
        orderBy: [{ timestamp: 'asc' }, { id: 'asc' }],
        take: limit + 1,
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      const hasMore = rows.length > limit
      return {
        logs: page.map((row) => {
          const metrics = logMetricsOf(row)
          return {
            timestamp: row.timestamp.toISOString(),
            level: row.level as LogLevel,
            message: row.message,
            step: row.step,
            epoch: row.epoch,
            ...(metrics !== null ? { metrics } : {}),
          }
        }),
        hasMore,
        nextStartTime: hasMore ? rows[limit].timestamp.toISOString() : null,
        nextCursor: hasMore && last ? encodeCursor(last.timestamp, last.id) : null,
      }
    },
  }
}
