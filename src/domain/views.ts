// JSON shapes the API answers with (REST data and GraphQL objects alike),
// built from database rows. Every group the spec shows is always present;
// what the service has not measured is null.
import type { Dataset, DatasetTag, Job, Template } from '../infra/db.ts'
import type { JobConfig } from './job-config.ts'
import { datasetMetadataOf, datasetSchemaOf, jobConfigOf, jobMetricsOf, jobModelOf, templateGroupsOf } from './json-columns.ts'

type Json = Record<string, unknown>

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null)
const round = (value: number | null | undefined, digits = 6) =>
  value === null || value === undefined || !Number.isFinite(value) ? null : Number(value.toFixed(digits))

export const classificationMetricNames = ['trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'learningRate'] as const
export const regressionMetricNames = ['trainLoss', 'valLoss', 'trainMae', 'valMae', 'trainRmse', 'valRmse', 'learningRate'] as const

export function metricNamesFor(task: string): readonly string[] {
  return task === 'tabular-regression' ? regressionMetricNames : classificationMetricNames
}

export type JobStatus = 'pending' | 'running' | 'stopping' | 'completed' | 'failed' | 'cancelled'
export const jobStatuses: JobStatus[] = ['pending', 'running', 'stopping', 'completed', 'failed', 'cancelled']
export const activeStatuses: JobStatus[] = ['pending', 'running', 'stopping']
export const endedStatuses: JobStatus[] = ['completed', 'failed', 'cancelled']

export interface JobView {
  id: string
  name: string
  description: string | null
  owner: string
  status: JobStatus
  priority: number
  model: JobConfig['model']
  dataset: JobConfig['dataset']
  hyperparameters: JobConfig['hyperparameters']
  resources: JobConfig['resources'] & {
    backend: string | null
    cpuUtilization: number | null
    memoryUsage: number | null
    gpuUtilization: number | null
  }
  output: JobConfig['output']
  options: JobConfig['options']
  progress: { epoch: number | null; totalEpochs: number; step: number | null; totalSteps: number | null; percentage: number }
  metrics: Record<string, number | null>
  time: { startedAt: string | null; elapsedTime: number | null; estimatedRemainingTime: number | null; completedAt: string | null }
  cost: { estimatedCost: number | null; actualCost: number | null; currency: 'USD'; pricePerHour: number | null }
  error: { code: string; message: string } | null
  templateId: string | null
  tuningId: string | null
  createdAt: string
  updatedAt: string
  estimatedStartTime: string | null
  estimatedCompletionTime: string | null
  stoppedAt: string | null
  completedAt: string | null
}

/** Seconds between start and end (or now, while the job runs). */
function elapsedSeconds(job: Job, now: Date): number | null {
  if (!job.startedAt) return null
  const end = job.completedAt ?? now
  return Math.max(0, Math.round((end.getTime() - job.startedAt.getTime()) / 1000))
}

export function jobView(job: Job, owner: string, pricePerHour: number | null, now = new Date()): JobView {
  const elapsed = elapsedSeconds(job, now)
  const config = jobConfigOf(job)
  const latest: Record<string, unknown> = jobMetricsOf(job) ?? {}
  const metrics: Record<string, number | null> = {}
  for (const name of metricNamesFor(job.task)) {
    const value = latest[name]
    metrics[name] = typeof value === 'number' ? value : null
  }
  for (const [name, value] of Object.entries(latest)) if (!(name in metrics) && typeof value === 'number') metrics[name] = value
  const running = job.status === 'running' || job.status === 'stopping'
  const remaining = running && job.estimatedCompletionTime ? Math.max(0, Math.round((job.estimatedCompletionTime.getTime() - now.getTime()) / 1000)) : null
  const hours = elapsed === null ? null : elapsed / 3600
  return {
    id: job.id,
    name: job.name,
    description: job.description,
    owner,
    status: job.status as JobStatus,
    priority: job.priority,
    model: config.model,
    dataset: config.dataset,
    hyperparameters: config.hyperparameters,
    resources: {
      ...config.resources,
      backend: job.backend,
      cpuUtilization: round(job.cpuUtilization, 1),
      memoryUsage: round(job.memoryUsage, 1),
      gpuUtilization: round(job.gpuUtilization, 1),
    },
    output: config.output,
    options: config.options,
    progress: {
      epoch: job.epoch,
      totalEpochs: job.totalEpochs,
      step: job.step,
      totalSteps: job.totalSteps,
      percentage: round(job.percentage, 2) ?? 0,
    },
    metrics,
    time: { startedAt: iso(job.startedAt), elapsedTime: elapsed, estimatedRemainingTime: remaining, completedAt: iso(job.completedAt) },
    cost: {
      estimatedCost: round(job.estimatedCost, 6),
      actualCost: hours === null || pricePerHour === null ? null : round(pricePerHour * job.instanceCount * hours, 6),
      currency: 'USD',
      pricePerHour,
    },
    error: job.errorCode ? { code: job.errorCode, message: job.errorMessage ?? '' } : null,
    templateId: job.templateId,
    tuningId: job.tuningId,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    estimatedStartTime: iso(job.estimatedStartTime),
    estimatedCompletionTime: iso(job.estimatedCompletionTime),
    stoppedAt: iso(job.stoppedAt),
    completedAt: iso(job.completedAt),
  }
}

/** The columns a job list entry is made of. */
export const jobSummaryColumns = [
  'id',
  'name',
  'status',
  'epoch',
  'totalEpochs',
  'step',
  'totalSteps',
  'percentage',
  'modelConfig',
  'datasetId',
  'instanceType',
  'instanceCount',
  'templateId',
  'tuningId',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof Job)[]

export type JobSummaryRow = Pick<Job, (typeof jobSummaryColumns)[number]> & { owner: { name: string } }

/** A list entry (spec §1.3): the fields the spec lists, plus a few that make lists useful. */
export function jobSummary(job: JobSummaryRow) {
  return {
    id: job.id,
    name: job.name,
    owner: job.owner.name,
    status: job.status as JobStatus,
    progress: { epoch: job.epoch, totalEpochs: job.totalEpochs, step: job.step, totalSteps: job.totalSteps, percentage: round(job.percentage, 2) ?? 0 },
    model: jobModelOf(job),
    dataset: { id: job.datasetId },
    resources: { instanceType: job.instanceType, instanceCount: job.instanceCount },
    templateId: job.templateId,
    tuningId: job.tuningId,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
  }
}

export interface DatasetColumn {
  name: string
  type: 'string' | 'integer' | 'float' | 'boolean'
  [extra: string]: unknown
}

export interface DatasetView {
  id: string
  name: string
  description: string | null
  type: string
  format: string
  size: number
  rowCount: number
  columnCount: number
  schema: { columns: DatasetColumn[] }
  metadata: Json | null
  tags: string[]
  status: string
  fileName: string
  checksum: string
  createdAt: string
  updatedAt: string
}

export function datasetView(dataset: Dataset & { tags: DatasetTag[] }): DatasetView {
  return {
    id: dataset.id,
    name: dataset.name,
    description: dataset.description,
    type: dataset.type,
    format: dataset.format,
    size: Number(dataset.size),
    rowCount: dataset.rowCount,
    columnCount: dataset.columnCount,
    schema: datasetSchemaOf(dataset),
    metadata: datasetMetadataOf(dataset),
    tags: [...dataset.tags].sort((a, b) => a.position - b.position).map((t) => t.tag),
    status: dataset.status,
    fileName: dataset.fileName,
    checksum: `sha256:${dataset.checksum}`,
    createdAt: dataset.createdAt.toISOString(),
    updatedAt: dataset.updatedAt.toISOString(),
  }
}

export interface TemplateView {
  id: string
  name: string
  description: string | null
  owner: string
  model: Json
  dataset: Json | null
  hyperparameters: Json
  resources: Json | null
  output: Json | null
  options: Json | null
  isPublic: boolean
  createdAt: string
  updatedAt: string
}

export function templateView(template: Template, owner: string): TemplateView {
  const groups = templateGroupsOf(template)
  return {
    id: template.id,
    name: template.name,
    description: template.description,
    owner,
    ...groups,
    hyperparameters: groups.hyperparameters ?? {},
    isPublic: template.isPublic,
    createdAt: template.createdAt.toISOString(),
    updatedAt: template.updatedAt.toISOString(),
  }
}
