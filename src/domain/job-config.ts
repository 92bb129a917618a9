// The configuration of a training job, as the spec's §1.1 request carries
// it, with every field checked. Templates (§6) reuse the same groups.
// Schemas carry no defaults: templates store what the user wrote; defaults
// are applied once, when a job is created (`withJobDefaults`). One file on
// purpose (~370 lines): these schemas are the single source of the shape that
// REST validates and GraphQL's types are generated from (src/graphql/zod-fields.ts),
// with each field's description and bounds next to it.
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

const about = (description: string) => ({ description })

export const modelSchema = z
  .strictObject({
    baseModel: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      .meta(
        about(
          'A built-in base model (see `baseModels`), the id of one of your completed jobs (fine-tuning it), or any other name together with `architecture` (trained from scratch).',
        ),
      ),
    task: z.enum(tasks, `must be one of ${tasks.join(', ')}`).meta(about('What the model learns to predict.')),
    architecture: z
      .enum(architectures, `must be one of ${architectures.join(', ')}`)
      .optional()
      .meta(about('The network trained; resolved from the base model when not given.')),
  })
  .meta(about('What to train: a base model for a task.'))

/** Dataset settings without the dataset id (what a template may carry). */
export const datasetSettingsSchema = z
  .strictObject({
    validationSplit: fraction.optional().meta(about('Fraction of the rows held out for validation.')),
    testSplit: fraction.optional().meta(about('Fraction of the rows held out for the test evaluation; validationSplit + testSplit must be below 1.')),
    textColumn: columnName.optional().meta(about('Column holding the text (text tasks); unset: `text`, else the first string column.')),
    labelColumn: columnName.optional().meta(about('Column holding the label; unset: `label`, else the last column.')),
    featureColumns: z
      .array(columnName)
      .min(1, 'must list at least one column')
      .max(100_000)
      .optional()
      .meta(about('Input columns (tabular and image tasks), each once; unset: every column but the label.')),
  })
  .meta(about('How a dataset is split and which columns play which role.'))

export const datasetRefSchema = datasetSettingsSchema
  .extend({
    id: z.string().min(1, 'must not be empty').max(200).meta(about('Dataset id: one of your datasets.')),
  })
  .meta(about('The dataset to train on and how to split it.'))

export const lrSchedules = ['constant', 'linear', 'cosine', 'exponential'] as const

/** Unset: the architecture's own default. */
const sizeKnob = (min: number, max: number, description: string) =>
  int(min, max)
    .optional()
    .meta(about(`${description}; unset: the architecture's default.`))

export const hyperparametersSchema = z
  .strictObject({
    learningRate: z.number().gt(0, 'must be greater than 0').max(10, 'must be at most 10').optional().meta(about('Peak learning rate (after warm-up).')),
    batchSize: int(1, 65_536).optional().meta(about('Samples per step.')),
    epochs: int(1, 10_000).optional().meta(about('Passes over the training split.')),
    warmupSteps: int(0, 1_000_000_000).optional().meta(about('Steps of linear warm-up before the schedule starts.')),
    weightDecay: z.number().min(0, 'must be at least 0').max(1, 'must be at most 1').optional().meta(about('Decoupled (AdamW) weight decay.')),
    gradientClipping: z
      .number()
      .gt(0, 'must be greater than 0')
      .max(1e6)
      .nullable()
      .optional()
      .meta(about('Clip gradients to this global norm; null: no clipping.')),
    lrSchedule: z
      .enum(lrSchedules, `must be one of ${lrSchedules.join(', ')}`)
      .optional()
      .meta(about('How the learning rate decays after warm-up.')),
    dropout: fraction.optional().meta(about("Dropout rate; unset: the architecture's default.")),
    // Model size knobs the built-in architectures expose (and tuning may search).
    hiddenSize: sizeKnob(4, 4096, 'Hidden width'),
    numLayers: sizeKnob(1, 48, 'Layers'),
    numHeads: sizeKnob(1, 64, 'Attention heads (transformer), dividing hiddenSize'),
    embeddingDim: sizeKnob(4, 4096, 'Token embedding width (text)'),
    maxSequenceLength: sizeKnob(4, 4096, 'Tokens kept per text'),
    vocabSize: sizeKnob(100, 1_000_000, 'Vocabulary size cap (text)'),
    filters: sizeKnob(4, 1024, 'Convolution filters (cnn)'),
    kernelSize: sizeKnob(1, 15, 'Convolution kernel size (cnn)'),
  })
  .meta(about('Training hyperparameters; each is optional.'))

export const resourcesSchema = z
  .strictObject({
    instanceType: z.string().min(1, 'must not be empty').max(100).meta(about('An instance type from `instanceTypes`.')),
    instanceCount: int(1, 64).optional().meta(about('Instances; more than 1 needs distributed.')),
    distributed: z.boolean().optional().meta(about('Data-parallel training across the instances; must be true when instanceCount is more than 1.')),
  })
  .meta(about('Where the job runs.'))

export const exportFormats = ['onnx', 'tfjs'] as const

export const outputSchema = z
  .strictObject({
    checkpointInterval: int(1, 1_000_000_000).nullable().optional().meta(about('Save a checkpoint every this many steps; null: every epoch.')),
    saveBestOnly: z.boolean().optional().meta(about('Keep only the checkpoint with the best monitored metric (and the one to resume from).')),
    exportFormat: z
      .enum(exportFormats, `must be one of ${exportFormats.join(', ')}`)
      .nullable()
      .optional()
      .meta(about('Export made when the job completes; null: none.')),
  })
  .meta(about('Checkpointing and export.'))

export const earlyStoppingMetrics = ['valLoss', 'valAccuracy', 'valMae', 'valRmse'] as const

export const optionsSchema = z
  .strictObject({
    enableEarlyStopping: z.boolean().optional().meta(about('Stop when the monitored metric stops improving.')),
    earlyStoppingPatience: int(1, 1000).optional().meta(about('Epochs without improvement before stopping.')),
    earlyStoppingMetric: z
      .enum(earlyStoppingMetrics, `must be one of ${earlyStoppingMetrics.join(', ')}`)
      .optional()
      .meta(about('The metric early stopping and the best checkpoint watch (valAccuracy: classification; valMae, valRmse: regression).')),
    earlyStoppingMinDelta: z.number().min(0, 'must be at least 0').optional().meta(about('Smallest change that counts as an improvement.')),
    enableMixedPrecision: z.boolean().optional().meta(about('Use float16 where the backend supports it.')),
    enableLogging: z.boolean().optional().meta(about('Write per-epoch log lines.')),
    seed: int(0, 2_147_483_647).optional().meta(about('Seed of the shuffle, the splits and the initialisation; unset: drawn at random (and recorded).')),
    maxRetries: int(0, 10).optional().meta(about('Re-runs, from the last checkpoint, after a failure that is not caused by the input.')),
    maxRuntimeSeconds: int(1, 30 * 24 * 3600)
      .nullable()
      .optional()
      .meta(about('Fail the job when it runs longer than this many seconds; null: no limit.')),
  })
  .meta(about('Other options.'))

const priority = int(-1000, 1000).optional().meta(about('Queue priority: higher runs first.'))

export const createJobSchema = z
  .strictObject({
    name: nameSchema.meta(about('Job name.')),
    description: descriptionSchema.meta(about('What the job is for.')),
    priority,
    model: modelSchema.meta(about('What to train.')),
    dataset: datasetRefSchema.meta(about('Dataset and splits.')),
    hyperparameters: hyperparametersSchema.meta(about('Hyperparameters.')),
    resources: resourcesSchema.meta(about('Instance type and count.')),
    output: outputSchema.optional().meta(about('Checkpointing and export.')),
    options: optionsSchema.optional().meta(about('Other options.')),
  })
  .meta(about('A training job request (the body of POST /v1/training/jobs).'))
export type CreateJobInput = z.output<typeof createJobSchema>

export const createTemplateSchema = z
  .strictObject({
    name: nameSchema.meta(about('Template name.')),
    description: descriptionSchema.meta(about('What the template is for.')),
    model: modelSchema.meta(about('What to train.')),
    dataset: datasetSettingsSchema.optional().meta(about('Splits and column roles (the dataset itself is chosen per job).')),
    hyperparameters: hyperparametersSchema.optional().meta(about('Hyperparameters.')),
    resources: resourcesSchema.optional().meta(about('Resources.')),
    output: outputSchema.optional().meta(about('Checkpointing and export.')),
    options: optionsSchema.optional().meta(about('Other options.')),
    isPublic: z.boolean().optional().meta(about('Visible to every user; unset: private to you.')),
  })
  .meta(about('A template (the body of POST /v1/training/templates).'))
export type CreateTemplateInput = z.output<typeof createTemplateSchema>

/** What `overrides` of POST /templates/{id}/create-job may change. */
export const templateOverridesSchema = z.strictObject({
  description: descriptionSchema,
  priority,
  model: modelSchema.partial().optional(),
  dataset: datasetSettingsSchema.optional(),
  hyperparameters: hyperparametersSchema.optional(),
  resources: resourcesSchema.partial().optional(),
  output: outputSchema.optional(),
  options: optionsSchema.optional(),
})

/**
 * The defaults of a job's optional settings: `withJobDefaults` fills them in
 * when a job is created, and the GraphQL schema shows them. Settings without
 * one here are left unset (the architecture's own), or `resolvedAtCreation`.
 */
export const jobDefaults = {
  priority: 0,
  dataset: { validationSplit: 0.1, testSplit: 0.1 },
  hyperparameters: { learningRate: 0.001, batchSize: 32, epochs: 10, warmupSteps: 0, weightDecay: 0, gradientClipping: null, lrSchedule: 'linear' },
  resources: { instanceCount: 1, distributed: false },
  output: { checkpointInterval: null, saveBestOnly: false, exportFormat: null },
  options: {
    enableEarlyStopping: false,
    earlyStoppingPatience: 3,
    earlyStoppingMetric: 'valLoss',
    earlyStoppingMinDelta: 0,
    enableMixedPrecision: false,
    enableLogging: true,
    maxRetries: 0,
    maxRuntimeSeconds: null,
  },
} as const satisfies {
  priority: number
  dataset: Partial<z.output<typeof datasetSettingsSchema>>
  hyperparameters: Partial<z.output<typeof hyperparametersSchema>>
  resources: Partial<z.output<typeof resourcesSchema>>
  output: Partial<z.output<typeof outputSchema>>
  options: Partial<z.output<typeof optionsSchema>>
}

/** Settings every job has that no default gives: the architecture (from the base model) and the seed (drawn at random). */
export const resolvedAtCreation = { model: ['architecture'], options: ['seed'] } as const

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
    const validation = typeof v === 'number' ? v : jobDefaults.dataset.validationSplit
    const test = typeof t === 'number' ? t : jobDefaults.dataset.testSplit
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

/** The effective configuration: the request with every default (`jobDefaults`) filled in. */
export function withJobDefaults(input: CreateJobInput, resolved: { architecture: JobConfig['model']['architecture']; seed: number }): JobConfig {
  const hp = input.hyperparameters
  const options = input.options ?? {}
  const output = input.output ?? {}
  const d = jobDefaults
  return {
    name: input.name,
    description: input.description ?? null,
    priority: input.priority ?? d.priority,
    model: { baseModel: input.model.baseModel, task: input.model.task, architecture: resolved.architecture },
    // id first: it reads best at the top of the group.
    dataset: Object.assign({ id: input.dataset.id }, input.dataset, {
      validationSplit: input.dataset.validationSplit ?? d.dataset.validationSplit,
      testSplit: input.dataset.testSplit ?? d.dataset.testSplit,
    }),
    hyperparameters: {
      ...hp,
      learningRate: hp.learningRate ?? d.hyperparameters.learningRate,
      batchSize: hp.batchSize ?? d.hyperparameters.batchSize,
      epochs: hp.epochs ?? d.hyperparameters.epochs,
      warmupSteps: hp.warmupSteps ?? d.hyperparameters.warmupSteps,
      weightDecay: hp.weightDecay ?? d.hyperparameters.weightDecay,
      gradientClipping: hp.gradientClipping ?? d.hyperparameters.gradientClipping,
      lrSchedule: hp.lrSchedule ?? d.hyperparameters.lrSchedule,
    },
    resources: {
      instanceType: input.resources.instanceType,
      instanceCount: input.resources.instanceCount ?? d.resources.instanceCount,
      distributed: input.resources.distributed ?? d.resources.distributed,
    },
    output: {
      checkpointInterval: output.checkpointInterval ?? d.output.checkpointInterval,
      saveBestOnly: output.saveBestOnly ?? d.output.saveBestOnly,
      exportFormat: output.exportFormat ?? d.output.exportFormat,
    },
    options: {
      enableEarlyStopping: options.enableEarlyStopping ?? d.options.enableEarlyStopping,
      earlyStoppingPatience: options.earlyStoppingPatience ?? d.options.earlyStoppingPatience,
      earlyStoppingMetric: options.earlyStoppingMetric ?? d.options.earlyStoppingMetric,
      earlyStoppingMinDelta: options.earlyStoppingMinDelta ?? d.options.earlyStoppingMinDelta,
      enableMixedPrecision: options.enableMixedPrecision ?? d.options.enableMixedPrecision,
      enableLogging: options.enableLogging ?? d.options.enableLogging,
      seed: options.seed ?? resolved.seed,
      maxRetries: options.maxRetries ?? d.options.maxRetries,
      maxRuntimeSeconds: options.maxRuntimeSeconds ?? d.options.maxRuntimeSeconds,
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
