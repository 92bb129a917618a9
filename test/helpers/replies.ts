// The `data` of the REST replies the tests read, for TestServer.request<D>:
// the service's own view types, which are the JSON the routes answer.
import type { ExportView } from '../../src/domain/exports.ts'
import type { Pagination } from '../../src/domain/pagination.ts'
import type { TuningView } from '../../src/domain/tuning-view.ts'
import type { DatasetView, JobStatus, JobView, TemplateView, jobSummary } from '../../src/domain/views.ts'
import type { Comparison } from '../../src/services/monitoring/compare.ts'
import type { LogPage } from '../../src/services/monitoring/logs.ts'
import type { SeriesPoint } from '../../src/services/monitoring/metrics.ts'
import type { CheckpointView, EvaluationView } from '../../src/services/monitoring/results.ts'
import type { PredictResult } from '../../trainer/serving.ts'

export type { ExportView, JobView }

/** POST /jobs, GET /jobs/:id, POST /templates/:id/create-job. */
export interface JobReply {
  job: JobView
}

/** GET /jobs. */
export interface JobListReply {
  jobs: ReturnType<typeof jobSummary>[]
  pagination: Pagination
}

/** POST /jobs/:id/stop. */
export interface StopReply {
  job: { id: string; status: JobStatus; stoppedAt: string | null }
}

/** DELETE /jobs/:id. */
export interface JobDeleteReply {
  jobId: string
  deleted: boolean
  deletedAt: string
  force: boolean
}

/** DELETE /datasets/:id. */
export interface DatasetDeleteReply {
  datasetId: string
  deleted: boolean
  deletedAt: string
}

/** POST /datasets. */
export interface DatasetReply {
  dataset: DatasetView
}

/** GET /datasets/:id: the dataset with its first rows. */
export interface DatasetDetailReply {
  dataset: DatasetView & { preview: Record<string, unknown>[] }
}

/** GET /datasets. */
export interface DatasetListReply {
  datasets: DatasetView[]
  pagination: Pagination
}

/** POST /templates, GET /templates/:id. */
export interface TemplateReply {
  template: TemplateView
}

/** DELETE /templates/:id. */
export interface TemplateDeleteReply {
  templateId: string
  deleted: boolean
  deletedAt: string
}

/** GET /templates. */
export interface TemplateListReply {
  templates: TemplateView[]
  pagination: Pagination
}

/** POST /tuning, GET /tuning/:id, POST /tuning/:id/stop. */
export interface TuningReply {
  tuning: TuningView
}

/** GET /tuning. */
export interface TuningListReply {
  tunings: TuningView[]
  pagination: Pagination
}

/** GET /jobs/:id/logs. */
export type LogsReply = LogPage

/** GET /jobs/:id/metrics: a series per metric name. */
export interface MetricsReply {
  metrics: Record<string, SeriesPoint[]>
}

/** GET /jobs/:id/checkpoints. */
export interface CheckpointsReply {
  checkpoints: CheckpointView[]
}

/** GET /jobs/:id/evaluation. */
export interface EvaluationReply {
  evaluation: EvaluationView
}

/** GET /jobs/compare. */
export type CompareReply = Comparison

/** POST /jobs/:id/export, GET /jobs/:id/exports/:exportId. */
export interface ExportReply {
  export: ExportView
}

/** GET /jobs/:id/exports. */
export interface ExportListReply {
  exports: ExportView[]
  pagination: Pagination
}

/** POST /jobs/:id/predict. */
export type PredictReply = PredictResult
