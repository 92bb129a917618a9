// Training monitoring (spec §4) and the results of a job: log lines, metric
// history, checkpoints, the test-set evaluation, a side-by-side comparison of
// jobs, and a live feed of one job's events. The trainer writes the rows and
// publishes the events; this service only reads and relays them. Each concern
// lives in its own file under ./monitoring/; this one puts them together.
import type { Db } from '../infra/db.ts'
import type { ReadStore } from '../infra/read-store.ts'
import type { JobService } from './jobs.ts'
import type { LiveViews } from './live.ts'
import { createComparison } from './monitoring/compare.ts'
import { createFeed } from './monitoring/feed.ts'
import { createLogReads } from './monitoring/logs.ts'
import { createMetricReads } from './monitoring/metrics.ts'
import { createResultReads } from './monitoring/results.ts'

export { compareRange, type ComparedJob, type Comparison } from './monitoring/compare.ts'
export type { MonitorEvent, WatchOptions } from './monitoring/feed.ts'
export { logLimit, type LogLine, type LogPage, type LogQuery } from './monitoring/logs.ts'
export { downsample, maxPointsRange, type MetricQuery, type SeriesPoint } from './monitoring/metrics.ts'
export { EvaluationMissingError, type CheckpointView, type EvaluationView, type PerClassMetrics } from './monitoring/results.ts'

export function createMonitoringService(deps: { db: Db; reads: ReadStore; live: LiveViews; jobs: JobService }) {
  return {
    ...createLogReads(deps),
    ...createMetricReads(deps),
    ...createResultReads(deps),
    ...createComparison(deps),
    ...createFeed(deps),
  }
}

export type MonitoringService = ReturnType<typeof createMonitoringService>
