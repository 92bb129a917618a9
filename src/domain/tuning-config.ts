// A hyperparameter tuning request (spec §3.1), checked field by field: the
// search space, the strategy with its stopping rules, and the objective.
// The base job configuration is checked by the job service as any job is.
import { z } from 'zod'
import type { Architecture, Task } from './catalog.ts'
import { descriptionSchema, earlyStoppingMetrics, hyperparametersSchema, nameSchema } from './job-config.ts'
import type { Direction, ParameterSpec, ParameterValue, SearchSpace } from './search-space.ts'
import type { FieldProblem } from '../errors/index.ts'
import { problemsOf } from './validation.ts'

export const strategyTypes = ['grid', 'random', 'bayesian'] as const
export const pruningTypes = ['median', 'asha'] as const
export const directions = ['minimize', 'maximize'] as const satisfies readonly Direction[]

const int = (min: number, max: number) => z.int('must be an integer').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)
const finite = z.number('must be a number').refine(Number.isFinite, 'must be a finite number')

const floatSpecSchema = z.strictObject({
  type: z.literal('float'),
  min: finite,
  max: finite,
  scale: z.enum(['linear', 'log'], 'must be linear or log').optional(),
})
const intSpecSchema = z.strictObject({
  type: z.literal('int'),
  min: z.int('must be an integer'),
  max: z.int('must be an integer'),
  step: z.int('must be an integer').min(1, 'must be at least 1').optional(),
  scale: z.enum(['linear', 'log'], 'must be linear or log').optional(),
})
const categoricalSpecSchema = z.strictObject({
  type: z.literal('categorical'),
  values: z
    .array(z.union([finite, z.string(), z.boolean()], 'must be numbers, strings or booleans'))
    .min(1, 'must list at least one value')
    .max(1000, 'must list at most 1000 values'),
})
const parameterSpecSchema = z.discriminatedUnion('type', [floatSpecSchema, intSpecSchema, categoricalSpecSchema], 'type must be float, int or categorical')

export const earlyStoppingSchema = z.strictObject({
  type: z.enum(pruningTypes, `must be one of ${pruningTypes.join(', ')}`),
  /** median: completed trials needed at an epoch before any trial is pruned there. */
  startupTrials: int(0, 1000).optional(),
  /** median: epochs never pruned at the start of a trial. */
  warmupEpochs: int(0, 10_000).optional(),
  /** asha: epochs of the first rung. */
  minResource: int(1, 10_000).optional(),
  /** asha: η, the reduction factor between rungs. */
  reductionFactor: int(2, 100).optional(),
})

export const strategySchema = z.strictObject({
  type: z.enum(strategyTypes, `must be one of ${strategyTypes.join(', ')}`),
  maxTrials: int(1, 1000).optional(),
  parallelTrials: int(1, 64).optional(),
  seed: int(0, 2_147_483_647).optional(),
  gridPoints: int(2, 100).optional(),
  startupTrials: int(0, 1000).optional(),
  maxFailedTrials: int(1, 1000).nullable().optional(),
  earlyStopping: earlyStoppingSchema.nullable().optional(),
})

export const objectiveSchema = z.strictObject({
  metric: z.string().min(1, 'must not be empty'),
  direction: z.enum(directions, 'must be minimize or maximize'),
  target: finite.nullable().optional(),
})

export const createTuningSchema = z.strictObject({
  name: nameSchema,
  description: descriptionSchema,
  baseJobId: z.string().min(1, 'must not be empty').optional(),
  templateId: z.string().min(1, 'must not be empty').optional(),
  /** With templateId: the dataset the trials train on, and changes to the template (as in §6.2). */
  datasetId: z.string().min(1, 'must not be empty').optional(),
  overrides: z.record(z.string(), z.unknown()).optional(),
  /** A whole job request (the body of POST /v1/training/jobs) to start from. */
  baseJob: z.record(z.string(), z.unknown()).optional(),
  /** Each spec is checked on its own by checkSearchSpace, so that every problem is reported at once. */
  parameters: z
    .record(z.string(), z.unknown(), 'must be an object of hyperparameter names to ranges')
    .refine((space) => Object.keys(space).length > 0, 'must name at least one hyperparameter'),
  strategy: strategySchema,
  objective: objectiveSchema,
  warmStartFrom: z.array(z.string().min(1, 'must not be empty')).max(20, 'must list at most 20 tunings').optional(),
})
export type CreateTuningInput = z.output<typeof createTuningSchema>

export interface TuningStrategy {
  type: (typeof strategyTypes)[number]
  maxTrials: number
  parallelTrials: number
  seed: number
  gridPoints: number
  startupTrials: number
  maxFailedTrials: number | null
  earlyStopping: EarlyStopping | null
}

export type EarlyStopping = { type: 'median'; startupTrials: number; warmupEpochs: number } | { type: 'asha'; minResource: number; reductionFactor: number }

export interface TuningObjective {
  metric: string
  direction: Direction
  target: number | null
}

/** Hyperparameters every architecture reads. */
const commonParameters = ['learningRate', 'batchSize', 'epochs', 'warmupSteps', 'weightDecay', 'gradientClipping', 'lrSchedule', 'dropout']

/** Model and data knobs each built-in architecture reads (see trainer/ml/models.ts). */
const modelParameters: Record<string, string[]> = {
  'text-classification/bag-of-embeddings': ['embeddingDim', 'hiddenSize', 'vocabSize', 'maxSequenceLength'],
  'text-classification/cnn': ['embeddingDim', 'filters', 'kernelSize', 'numLayers', 'vocabSize', 'maxSequenceLength'],
  'text-classification/transformer': ['hiddenSize', 'embeddingDim', 'numLayers', 'numHeads', 'vocabSize', 'maxSequenceLength'],
  'tabular-classification/mlp': ['hiddenSize', 'numLayers'],
  'tabular-regression/mlp': ['hiddenSize', 'numLayers'],
  'image-classification/cnn': ['filters', 'kernelSize', 'numLayers', 'hiddenSize'],
}

/** The hyperparameters a tuning may search for a model. */
export function searchableParameters(task: Task, architecture: Architecture): string[] {
  return [...commonParameters, ...(modelParameters[`${task}/${architecture}`] ?? [])]
}

/** Validation metrics a trial reports after every epoch, the ones an objective may use. */
export function objectiveMetrics(task: Task): string[] {
  return task === 'tabular-regression' ? earlyStoppingMetrics.filter((m) => m !== 'valAccuracy') : ['valLoss', 'valAccuracy']
}

/** The range or values of one parameter, problems named by field. */
function specProblems(name: string, spec: z.output<typeof parameterSpecSchema>): FieldProblem[] {
  const field = `parameters.${name}`
  const problems: FieldProblem[] = []
  if (spec.type === 'categorical') {
    const seen = new Set(spec.values.map((value) => JSON.stringify(value)))
    if (seen.size !== spec.values.length) problems.push({ field: `${field}.values`, message: 'lists a value more than once' })
    return problems
  }
  if (spec.min >= spec.max) problems.push({ field: `${field}.max`, message: `must be greater than min (${spec.min})` })
  if (spec.scale === 'log' && spec.min <= 0) problems.push({ field: `${field}.min`, message: 'must be greater than 0 with scale log' })
  if (spec.type === 'int' && spec.scale === 'log' && (spec.step ?? 1) !== 1) {
    problems.push({ field: `${field}.step`, message: 'must be 1 with scale log' })
  }
  return problems
}

/** Every value a spec can produce is checked against the job schema through its extremes (or each categorical value). */
function valueProblems(name: string, spec: z.output<typeof parameterSpecSchema>): FieldProblem[] {
  const schema = hyperparametersSchema.shape[name as keyof typeof hyperparametersSchema.shape]
  const samples: [string, ParameterValue][] =
    spec.type === 'categorical'
      ? spec.values.map((value, i) => [`values[${i}]`, value])
      : [
          ['min', spec.min],
          ['max', spec.max],
        ]
  const problems: FieldProblem[] = []
  for (const [key, value] of samples) {
    const result = schema.safeParse(value)
    if (!result.success) {
      problems.push({
        field: `parameters.${name}.${key}`,
        message: `${JSON.stringify(value)} is not a valid ${name}: ${result.error.issues[0]?.message ?? 'invalid'}`,
      })
    }
  }
  return problems
}

/**
 * The space with defaults filled in, and every problem with it: each spec's
 * shape and range, and, given the base job's model, whether the model uses
 * the parameter and whether every value is a valid setting of it.
 */
export function checkSearchSpace(
  parameters: Record<string, unknown>,
  model: { task: Task; architecture: Architecture } | null,
): { space: SearchSpace; problems: FieldProblem[] } {
  const searchable = model ? searchableParameters(model.task, model.architecture) : null
  const problems: FieldProblem[] = []
  const space: SearchSpace = {}
  for (const [name, raw] of Object.entries(parameters)) {
    const parsed = parameterSpecSchema.safeParse(raw)
    if (!parsed.success) {
      problems.push(...problemsOf(parsed.error.issues, `parameters.${name}`))
      continue
    }
    const spec = parsed.data
    const own = specProblems(name, spec)
    problems.push(...own)
    if (!searchable || !model) continue
    if (!(name in hyperparametersSchema.shape)) {
      problems.push({
        field: `parameters.${name}`,
        message: `unknown hyperparameter; searchable for ${model.task}/${model.architecture}: ${searchable.join(', ')}`,
      })
    } else if (!searchable.includes(name)) {
      problems.push({
        field: `parameters.${name}`,
        message: `the ${model.architecture} architecture does not use ${name}; searchable for ${model.task}/${model.architecture}: ${searchable.join(', ')}`,
      })
    } else if (own.length === 0) {
      problems.push(...valueProblems(name, spec))
    }
    space[name] = withSpecDefaults(spec)
  }
  return { space, problems }
}

function withSpecDefaults(spec: z.output<typeof parameterSpecSchema>): ParameterSpec {
  if (spec.type === 'categorical') return spec
  if (spec.type === 'float') return { type: 'float', min: spec.min, max: spec.max, scale: spec.scale ?? 'linear' }
  return { type: 'int', min: spec.min, max: spec.max, step: spec.step ?? 1, scale: spec.scale ?? 'linear' }
}

/** Problems of the objective for the base job's task. */
export function objectiveProblems(objective: CreateTuningInput['objective'], task: Task): FieldProblem[] {
  const allowed = objectiveMetrics(task)
  if (allowed.includes(objective.metric)) return []
  return [
    {
      field: 'objective.metric',
      message: `${JSON.stringify(objective.metric)} is not reported for ${task}; use one of ${allowed.join(', ')} (validation metrics, reported after every epoch)`,
    },
  ]
}

/** The strategy with every default filled in. `gridSize`: points of the grid, for grid searches. */
export function withStrategyDefaults(strategy: CreateTuningInput['strategy'], seed: number, gridSize: (gridPoints: number) => number): TuningStrategy {
  const gridPoints = strategy.gridPoints ?? 3
  const maxTrials = strategy.type === 'grid' ? Math.min(strategy.maxTrials ?? Infinity, gridSize(gridPoints)) : (strategy.maxTrials ?? 10)
  const early = strategy.earlyStopping ?? null
  return {
    type: strategy.type,
    maxTrials,
    parallelTrials: strategy.parallelTrials ?? 1,
    seed: strategy.seed ?? seed,
    gridPoints,
    // Optuna starts TPE after 10 random trials; a short search keeps a third of its trials random.
    startupTrials: strategy.startupTrials ?? Math.min(10, Math.max(2, Math.ceil(maxTrials / 3))),
    maxFailedTrials: strategy.maxFailedTrials ?? null,
    earlyStopping:
      early === null
        ? null
        : early.type === 'median'
          ? { type: 'median', startupTrials: early.startupTrials ?? 3, warmupEpochs: early.warmupEpochs ?? 0 }
          : { type: 'asha', minResource: early.minResource ?? 1, reductionFactor: early.reductionFactor ?? 3 },
  }
}

/** Strategy fields that mean nothing for the chosen strategy type. */
export function strategyProblems(strategy: CreateTuningInput['strategy']): FieldProblem[] {
  const problems: FieldProblem[] = []
  if (strategy.type !== 'grid' && strategy.gridPoints !== undefined) problems.push({ field: 'strategy.gridPoints', message: 'applies to grid searches only' })
  if (strategy.type !== 'bayesian' && strategy.startupTrials !== undefined)
    problems.push({ field: 'strategy.startupTrials', message: 'applies to bayesian searches only' })
  const early = strategy.earlyStopping
  if (early?.type === 'median' && (early.minResource !== undefined || early.reductionFactor !== undefined)) {
    problems.push({ field: 'strategy.earlyStopping', message: 'minResource and reductionFactor apply to asha only' })
  }
  if (early?.type === 'asha' && (early.startupTrials !== undefined || early.warmupEpochs !== undefined)) {
    problems.push({ field: 'strategy.earlyStopping', message: 'startupTrials and warmupEpochs apply to median only' })
  }
  return problems
}
