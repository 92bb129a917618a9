// The configuration of a training job, as the spec's §1.1 request carries
// it, with every field checked. Templates (§6) reuse the same groups.
// Schemas carry no defaults: templates store what the user wrote; defaults
// are applied once, when a job is created (`withJobDefaults`).
import { z } from 'zod'
import { architectures, tasks } from './catalog.ts'
import type { FieldProblem } from '../errors/index.ts'
import { problemsOf } from './validation.ts'
import { InvalidInputError } from '../errors/index.ts'

const int = (min: number, max: number) => z.int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)
const fraction = z.number('must be a number').min(0, 'must be at least 0').lt(1, 'must be below 1')
const columnName = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters')

export const nameSchema = z.string().trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters')
export const descriptionSchema = z.string().max(2000, 'must be at most 2000 characters').nullable().optional()

export const modelSchema = z.strictObject({
  baseModel: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  task: z.enum(tasks, `must be one of ${tasks.join(', ')}`),
  architecture: z.enum(architectures, `must be one of ${architectures.join(', ')}`).optional(),
})

/** Dataset settings without the dataset id (what a template may carry). */
export const datasetSettingsSchema = z.strictObject({
  validationSplit: fraction.optional(),
  testSplit: fraction.optional(),
  textColumn: columnName.optional(),
  labelColumn: columnName.optional(),
  featureColumns: z.array(columnName).min(1, 'must list at least one column').max(100_000).optional(),
})

export const datasetRefSchema = datasetSettingsSchema.extend({
  id: z.string().min(1, 'must not be empty').max(200),
})

export const lrSchedules = ['constant', 'linear', 'cosine', 'exponential'] as const

export const hyperparametersSchema = z.strictObject({
  learningRate: z.number().gt(0, 'must be greater than 0').max(10, 'must be at most 10').optional(),
  batchSize: int(1, 65_536).optional(),
  epochs: int(1, 10_000).optional(),
  warmupSteps: int(0, 1_000_000_000).optional(),
  weightDecay: z.number().min(0, 'must be at least 0').max(1, 'must be at most 1').optional(),
  gradientClipping: z.number().gt(0, 'must be greater than 0').max(1e6).nullable().optional(),
  lrSchedule: z.enum(lrSchedules, `must be one of ${lrSchedules.join(', ')}`).optional(),
  dropout: fraction.optional(),
  // Model size knobs the built-in architectures expose (and tuning may search).
  hiddenSize: int(4, 4096).optional(),
  numLayers: int(1, 48).optional(),
  numHeads: int(1, 64).optional(),
  embeddingDim: int(4, 4096).optional(),
  maxSequenceLength: int(4, 4096).optional(),
  vocabSize: int(100, 1_000_000).optional(),
  filters: int(4, 1024).optional(),
  kernelSize: int(1, 15).optional(),
})

export const resourcesSchema = z.strictObject({
  instanceType: z.string().min(1, 'must not be empty').max(100),
  instanceCount: int(1, 64).optional(),
  distributed: z.boolean().optional(),
})

export const exportFormats = ['onnx', 'tfjs'] as const

export const outputSchema = z.strictObject({
  checkpointInterval: int(1, 1_000_000_000).nullable().optional(),
  saveBestOnly: z.boolean().optional(),
  exportFormat: z
    .enum(exportFormats, `must be one of ${exportFormats.join(', ')}`)
    .nullable()
    .optional(),
})

export const earlyStoppingMetrics = ['valLoss', 'valAccuracy', 'valMae', 'valRmse'] as const

export const optionsSchema = z.strictObject({
  enableEarlyStopping: z.boolean().optional(),
  earlyStoppingPatience: int(1, 1000).optional(),
  earlyStoppingMetric: z.enum(earlyStoppingMetrics, `must be one of ${earlyStoppingMetrics.join(', ')}`).optional(),
  earlyStoppingMinDelta: z.number().min(0, 'must be at least 0').optional(),
  enableMixedPrecision: z.boolean().optional(),
  enableLogging: z.boolean().optional(),
  seed: int(0, 2_147_483_647).optional(),
  maxRetries: int(0, 10).optional(),
  maxRuntimeSeconds: int(1, 30 * 24 * 3600)
    .nullable()
    .optional(),
})

export const createJobSchema = z.strictObject({
  name: nameSchema,
  description: descriptionSchema,
  priority: int(-1000, 1000).optional(),
  model: modelSchema,
  dataset: datasetRefSchema,
  hyperparameters: hyperparametersSchema,
  resources: resourcesSchema,
  output: outputSchema.optional(),
  options: optionsSchema.optional(),
})
export type CreateJobInput = z.output<typeof createJobSchema>

export const createTemplateSchema = z.strictObject({
  name: nameSchema,
  description: descriptionSchema,
  model: modelSchema,
  dataset: datasetSettingsSchema.optional(),
  hyperparameters: hyperparametersSchema.optional(),
  resources: resourcesSchema.optional(),
  output: outputSchema.optional(),
  options: optionsSchema.optional(),
  isPublic: z.boolean().optional(),
})
export type CreateTemplateInput = z.output<typeof createTemplateSchema>

/** What `overrides` of POST /templates/{id}/create-job may change. */
export const templateOverridesSchema = z.strictObject({
  description: descriptionSchema,
  priority: int(-1000, 1000).optional(),
  model: modelSchema.partial().optional(),
  dataset: datasetSettingsSchema.optional(),
  hyperparameters: hyperparametersSchema.optional(),
  resources: resourcesSchema.partial().optional(),
  output: outputSchema.optional(),
  options: optionsSchema.optional(),
})

type Loose = Record<string, unknown>
const isObject = (value: unknown): value is Loose => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Checks that span fields, run on the raw input so they are reported alongside every other problem. */
export function crossFieldProblems(input: unknown, prefix = ''): FieldProblem[] {
  const problems: FieldProblem[] = []
  if (!isObject(input)) return problems
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field)
  const dataset = input.dataset
  if (isObject(dataset)) {
    const v = dataset.validationSplit
    const t = dataset.testSplit
    const validation = typeof v === 'number' ? v : 0.1
    const test = typeof t === 'number' ? t : 0.1
    if (validation >= 0 && validation < 1 && test >= 0 && test < 1 && validation + test >= 1) {
      problems.push({ field: at('dataset.testSplit'), message: `validationSplit + testSplit must be below 1 (got ${validation} + ${test})` })
    }
    const features = dataset.featureColumns
    if (Array.isArray(features) && new Set(features).size !== features.length) {
      problems.push({ field: at('dataset.featureColumns'), message: 'lists a column more than once' })
    }
  }
  const resources = input.resources
  if (isObject(resources) && typeof resources.instanceCount === 'number' && resources.instanceCount > 1 && resources.distributed !== true) {
    problems.push({ field: at('resources.distributed'), message: 'must be true when instanceCount is more than 1' })
  }
  const model = input.model
  const options = input.options
  if (isObject(model) && isObject(options) && typeof options.earlyStoppingMetric === 'string') {
    const regression = model.task === 'tabular-regression'
    const metric = options.earlyStoppingMetric
    if (regression && metric === 'valAccuracy') {
      problems.push({ field: at('options.earlyStoppingMetric'), message: 'valAccuracy does not exist for tabular-regression; use valLoss, valMae or valRmse' })
    } else if (!regression && typeof model.task === 'string' && (metric === 'valMae' || metric === 'valRmse')) {
      problems.push({ field: at('options.earlyStoppingMetric'), message: `${metric} exists only for tabular-regression; use valLoss or valAccuracy` })
    }
  }
  const hp = input.hyperparameters
  if (isObject(hp) && typeof hp.hiddenSize === 'number' && typeof hp.numHeads === 'number' && hp.hiddenSize % hp.numHeads !== 0) {
    problems.push({ field: at('hyperparameters.numHeads'), message: `must divide hiddenSize (${hp.hiddenSize})` })
  }
  return problems
}

/**
 * Parses with `schema` plus the cross-field checks; throws one E1108 listing
 * every problem, together with `extra` ones the caller found.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix = '', extra: FieldProblem[] = []): z.output<S> {
  const result = schema.safeParse(input)
  const problems = [...(result.success ? [] : problemsOf(result.error.issues, prefix)), ...crossFieldProblems(input, prefix), ...extra]
  if (problems.length > 0) throw InvalidInputError.fromProblems(problems)
  return (result as { data: z.output<S> }).data
}

export interface JobConfig {
  name: string
  description: string | null
  priority: number
  model: { baseModel: string; task: (typeof tasks)[number]; architecture: (typeof architectures)[number] }
  dataset: z.output<typeof datasetRefSchema> & { validationSplit: number; testSplit: number }
  hyperparameters: z.output<typeof hyperparametersSchema> & {
    learningRate: number
    batchSize: number
    epochs: number
    warmupSteps: number
    weightDecay: number
    gradientClipping: number | null
    lrSchedule: (typeof lrSchedules)[number]
  }
  resources: { instanceType: string; instanceCount: number; distributed: boolean }
  output: { checkpointInterval: number | null; saveBestOnly: boolean; exportFormat: (typeof exportFormats)[number] | null }
  options: {
    enableEarlyStopping: boolean
    earlyStoppingPatience: number
    earlyStoppingMetric: (typeof earlyStoppingMetrics)[number]
    earlyStoppingMinDelta: number
    enableMixedPrecision: boolean
    enableLogging: boolean
    seed: number
    maxRetries: number
    maxRuntimeSeconds: number | null
  }
}

/** The effective configuration: the request with every default filled in. */
export function withJobDefaults(input: CreateJobInput, resolved: { architecture: JobConfig['model']['architecture']; seed: number }): JobConfig {
  const hp = input.hyperparameters
  const options = input.options ?? {}
  const output = input.output ?? {}
  return {
    name: input.name,
    description: input.description ?? null,
    priority: input.priority ?? 0,
    model: { baseModel: input.model.baseModel, task: input.model.task, architecture: resolved.architecture },
    // id first: it reads best at the top of the group.
    dataset: Object.assign({ id: input.dataset.id }, input.dataset, {
      validationSplit: input.dataset.validationSplit ?? 0.1,
      testSplit: input.dataset.testSplit ?? 0.1,
    }),
    hyperparameters: {
      ...hp,
      learningRate: hp.learningRate ?? 0.001,
      batchSize: hp.batchSize ?? 32,
      epochs: hp.epochs ?? 10,
      warmupSteps: hp.warmupSteps ?? 0,
      weightDecay: hp.weightDecay ?? 0,
      gradientClipping: hp.gradientClipping ?? null,
      lrSchedule: hp.lrSchedule ?? 'linear',
    },
    resources: {
      instanceType: input.resources.instanceType,
      instanceCount: input.resources.instanceCount ?? 1,
      distributed: input.resources.distributed ?? false,
    },
    output: {
      checkpointInterval: output.checkpointInterval ?? null,
      saveBestOnly: output.saveBestOnly ?? false,
      exportFormat: output.exportFormat ?? null,
    },
    options: {
      enableEarlyStopping: options.enableEarlyStopping ?? false,
      earlyStoppingPatience: options.earlyStoppingPatience ?? 3,
      earlyStoppingMetric: options.earlyStoppingMetric ?? 'valLoss',
      earlyStoppingMinDelta: options.earlyStoppingMinDelta ?? 0,
      enableMixedPrecision: options.enableMixedPrecision ?? false,
      enableLogging: options.enableLogging ?? true,
      seed: options.seed ?? resolved.seed,
      maxRetries: options.maxRetries ?? 0,
      maxRuntimeSeconds: options.maxRuntimeSeconds ?? null,
    },
  }
}

/** Rows used for training after the validation and test splits are held out (the trainer splits the same way). */
export function splitSizes(rowCount: number, validationSplit: number, testSplit: number) {
  const test = Math.round(rowCount * testSplit)
  const validation = Math.round(rowCount * validationSplit)
  return { train: Math.max(0, rowCount - test - validation), validation, test }
}

/** Steps of one epoch and of the whole job. */
export function stepCounts(trainRows: number, batchSize: number, epochs: number) {
  const perEpoch = Math.max(1, Math.ceil(trainRows / batchSize))
  return { perEpoch, total: perEpoch * epochs }
}
