// Typed decoders for the JSON columns of the data model, one per column, and
// the one encoder for writing them. The service writes these columns itself,
// from values it checked at the API boundary (zod in job-config.ts,
// tuning-config.ts, exports.ts), so a read checks the shape cheaply (an
// object where an object was written, an array where an array was) and
// hands back the column's type; a row that does not match fails naming its
// column instead of with a TypeError somewhere later. Reads of job rows are
// on the hot path (job status, lists), which is why the check stays this
// small instead of a full schema parse.
import type { Checkpoint, Dataset, Evaluation, Export, Job, JobLog, Prisma, Template, Trial, TuningJob } from '../infra/db.ts'
import type { ExportMetadata, ExportOptions } from './exports.ts'
import type { JobConfig } from './job-config.ts'
import type { ParameterSet, SearchSpace } from './search-space.ts'
import type { TuningObjective, TuningStrategy } from './tuning-config.ts'
import type { IntermediateValue } from './tuning-view.ts'

type Json = Prisma.JsonValue
type JsonObject = Record<string, unknown>

/** A stored JSON value that does not have the shape its column holds. */
export class CorruptColumnError extends Error {
  constructor(column: string, expected: string, value: unknown) {
    super(`${column} holds ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, not ${expected}`)
    this.name = 'CorruptColumnError'
  }
}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

function object<T>(column: string, value: Json): T {
  if (!isObject(value)) throw new CorruptColumnError(column, 'an object', value)
  return value as T
}

function optionalObject<T>(column: string, value: Json | null): T | null {
  return value === null ? null : object<T>(column, value)
}

function array<T>(column: string, value: Json | null, allowNull: boolean): T[] | null {
  if (value === null && allowNull) return null
  if (!Array.isArray(value)) throw new CorruptColumnError(column, 'an array', value)
  return value as T[]
}

/** Writes a plain-data value (already checked, JSON-safe) to a JSON column. */
export function toJson<T extends object | readonly unknown[]>(value: T): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue
}

/** A job's effective configuration groups, as created (defaults applied). */
export function jobConfigOf(
  job: Pick<
    Job,
    'name' | 'description' | 'priority' | 'modelConfig' | 'datasetConfig' | 'hyperparameters' | 'resourcesConfig' | 'outputConfig' | 'optionsConfig'
  >,
): JobConfig {
  return {
    name: job.name,
    description: job.description,
    priority: job.priority,
    model: jobModelOf(job),
    dataset: object<JobConfig['dataset']>('Job.datasetConfig', job.datasetConfig),
    hyperparameters: object<JobConfig['hyperparameters']>('Job.hyperparameters', job.hyperparameters),
    resources: object<JobConfig['resources']>('Job.resourcesConfig', job.resourcesConfig),
    output: object<JobConfig['output']>('Job.outputConfig', job.outputConfig),
    options: object<JobConfig['options']>('Job.optionsConfig', job.optionsConfig),
  }
}

export const jobModelOf = (job: Pick<Job, 'modelConfig'>): JobConfig['model'] => object('Job.modelConfig', job.modelConfig)

/** Latest metric values by name (null before the first step). */
export const jobMetricsOf = (job: Pick<Job, 'metrics'>): Record<string, number> | null => optionalObject('Job.metrics', job.metrics)

export const logMetricsOf = (log: Pick<JobLog, 'metrics'>): Record<string, number> | null => optionalObject('JobLog.metrics', log.metrics)

export const checkpointMetricsOf = (checkpoint: Pick<Checkpoint, 'metrics'>): Record<string, number> | null =>
  optionalObject('Checkpoint.metrics', checkpoint.metrics)

export interface StoredColumn {
  name: string
  type: 'string' | 'integer' | 'float' | 'boolean'
  nullCount?: number
  [key: string]: unknown
}

/** The columns the upload found (or the user declared and the upload confirmed). */
export const datasetColumnsOf = (dataset: Pick<Dataset, 'schema'>): StoredColumn[] => {
  const schema = object<{ columns: Json }>('Dataset.schema', dataset.schema)
  return array<StoredColumn>('Dataset.schema.columns', schema.columns, false) ?? []
}

export const datasetSchemaOf = (dataset: Pick<Dataset, 'schema'>): { columns: StoredColumn[]; [key: string]: unknown } => ({
  ...object<JsonObject>('Dataset.schema', dataset.schema),
  columns: datasetColumnsOf(dataset),
})

export const datasetMetadataOf = (dataset: Pick<Dataset, 'metadata'>): JsonObject | null => optionalObject('Dataset.metadata', dataset.metadata)

export const datasetPreviewOf = (dataset: Pick<Dataset, 'preview'>): JsonObject[] => array<JsonObject>('Dataset.preview', dataset.preview, false) ?? []

export const evaluationMetricsOf = (row: Pick<Evaluation, 'metrics'>): Record<string, number> => object('Evaluation.metrics', row.metrics)

/** A test-split evaluation; `PerClass` is the shape of its per-class rows (written by the trainer's evaluate). */
export const evaluationOf = <PerClass = JsonObject>(row: Pick<Evaluation, 'metrics' | 'perClass' | 'confusionMatrix' | 'labels'>) => ({
  metrics: evaluationMetricsOf(row),
  perClass: array<PerClass>('Evaluation.perClass', row.perClass, true),
  confusionMatrix: array<number[]>('Evaluation.confusionMatrix', row.confusionMatrix, true),
  labels: array<string>('Evaluation.labels', row.labels, true),
})

/** The tuning's settings as created: the base job configuration, the search space, strategy, objective and warm start. */
export const tuningConfigOf = (tuning: Pick<TuningJob, 'baseConfig' | 'parameters' | 'strategy' | 'objective' | 'warmStartFrom'>) => ({
  baseConfig: object<JobConfig>('TuningJob.baseConfig', tuning.baseConfig),
  space: object<SearchSpace>('TuningJob.parameters', tuning.parameters),
  strategy: object<TuningStrategy>('TuningJob.strategy', tuning.strategy),
  objective: object<TuningObjective>('TuningJob.objective', tuning.objective),
  warmStartFrom: array<string>('TuningJob.warmStartFrom', tuning.warmStartFrom, true) ?? [],
})

export const trialParametersOf = (trial: Pick<Trial, 'parameters'>): ParameterSet => object('Trial.parameters', trial.parameters)

export const trialMetricsOf = (trial: Pick<Trial, 'metrics'>): Record<string, number> | null => optionalObject('Trial.metrics', trial.metrics)

/** The objective after each epoch the trial has finished, in epoch order. */
export const trialIntermediateOf = (trial: Pick<Trial, 'intermediate'>): IntermediateValue[] =>
  array<IntermediateValue>('Trial.intermediate', trial.intermediate, true) ?? []

export const exportRowOptionsOf = (row: Pick<Export, 'options'>): ExportOptions => object('Export.options', row.options)

export const exportMetadataOf = (row: Pick<Export, 'metadata'>): ExportMetadata | null => optionalObject('Export.metadata', row.metadata)

/** A template's groups as the user wrote them (no defaults). */
export const templateGroupsOf = (template: Pick<Template, 'model' | 'dataset' | 'hyperparameters' | 'resources' | 'output' | 'options'>) => ({
  model: object<JsonObject>('Template.model', template.model),
  dataset: optionalObject<JsonObject>('Template.dataset', template.dataset),
  hyperparameters: optionalObject<JsonObject>('Template.hyperparameters', template.hyperparameters),
  resources: optionalObject<JsonObject>('Template.resources', template.resources),
  output: optionalObject<JsonObject>('Template.output', template.output),
  options: optionalObject<JsonObject>('Template.options', template.options),
})
