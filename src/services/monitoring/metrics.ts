// A job's metric history (spec §4.2), whole or downsampled, read through the
// read store: the SQL does the bucketing, and the driver's rows are the
// answer's points, without Prisma's per-row mapping (which made a 100k-point
// history take seconds).
import type { Db } from '../../infra/db.ts'
import type { ReadStore } from '../../infra/read-store.ts'
import { metricNamesFor } from '../../domain/views.ts'
import type { MetricPointView } from '../../events/index.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { checkIntRange, checkMetricNames, type ParamNames } from './inputs.ts'

export const maxPointsRange = { min: 2, max: 10_000 }

/** One point of a metric series (§4.2): the name is the series' key. */
export type SeriesPoint = Omit<MetricPointView, 'name'>

export interface MetricQuery {
  names?: readonly string[]
  /** Downsample each series to at most this many points. */
  maxPoints?: number
}

/**
 * Evenly spaced bucket means, the reference for the SQL of
 * `ReadStore.metricSeries`: the first and last points stay exact; interior
 * point k (0-based) of I goes to bucket floor(k·B/I) of B = maxPoints - 2
 * (none when B is 0), and each bucket becomes one point with the mean value
 * at the step, epoch and time of its last point.
 */
export function downsample<P extends SeriesPoint>(points: readonly P[], maxPoints: number): P[] {
  const n = points.length
  if (n <= maxPoints) return [...points]
  const buckets = maxPoints - 2
  const interior = n - 2
  if (buckets === 0) return [points[0], points[n - 1]]
  const out: P[] = [points[0]]
  let sum = 0
  let count = 0
  for (let k = 0; k < interior; k++) {
    sum += points[k + 1].value
    count++
    const bucket = Math.floor((k * buckets) / interior)
    const nextBucket = k + 1 < interior ? Math.floor(((k + 1) * buckets) / interior) : -1
    if (nextBucket !== bucket) {
      out.push({ ...points[k + 1], value: sum / count })
      sum = 0
      count = 0
    }
  }
  out.push(points[n - 1])
  return out
}

export function createMetricReads(deps: { db: Db; reads: ReadStore; jobs: JobService }) {
  const { db, reads, jobs } = deps
  return {
    /**
     * Metric history (§4.2): each series in step order, downsampled to
     * `maxPoints` when asked (in SQL: only the buckets leave the database).
     * Series with no points are left out, except names asked for by name
     * (empty arrays).
     */
    async metricHistory(
      principal: Principal,
      jobId: string,
      query: MetricQuery,
      params: ParamNames<keyof MetricQuery> = {},
    ): Promise<Record<string, SeriesPoint[]>> {
      const job = await jobs.get(principal, jobId)
      checkIntRange(query.maxPoints, maxPointsRange, params.maxPoints ?? 'maxPoints')
      const names = query.names ? await checkMetricNames(db, job, query.names, params.names ?? 'names') : undefined
      // The store's points are already in the answer's shape: no copy per point.
      const series = await reads.metricSeries(jobId, names ?? null, query.maxPoints ?? null)
      if (names) return Object.fromEntries(series.map((entry) => [entry.name, entry.points]))
      // The task's names first, in their usual order, then the rest by name.
      const known = metricNamesFor(job.model.task)
      const rank = (name: string) => (known.includes(name) ? known.indexOf(name) : known.length)
      series.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
      return Object.fromEntries(series.map((entry) => [entry.name, entry.points]))
    },
  }
}
