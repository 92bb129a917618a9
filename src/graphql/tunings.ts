// Hyperparameter tunings in GraphQL (spec §3): the Tuning and Trial types,
// queries, createTuning / stopTuning, and a tuningUpdated subscription.
// Longer than most domain modules (~320 lines) because the search space's
// three parameter kinds, the strategy with its two pruning rules and the
// trial each need their own input and output types.
import { builder, SortOrder, withoutNulls } from './builder.ts'
import { filterOf, offsetConnection } from './connection.ts'
import { Job } from './jobs.ts'
import { CreateJobInput } from './job-config.ts'
import { enumOf } from './enums.ts'
import { viewer } from '../context.ts'
import { InvalidInputError } from '../errors/index.ts'
import type { ParameterSpec } from '../domain/search-space.ts'
import { directions, pruningTypes, strategyTypes, type EarlyStopping, type TuningObjective, type TuningStrategy } from '../domain/tuning-config.ts'
import { trialStatuses, tuningStatuses, type IntermediateValue, type TrialView, type TuningView } from '../domain/tuning-view.ts'
import { tuningSortFields } from '../services/tunings.ts'

const TuningStatus = enumOf(
  'TuningStatus',
  'pending → running → completed | failed; stop: running → stopping → cancelled, pending → cancelled.',
  tuningStatuses,
)
const TrialStatus = enumOf(
  'TrialStatus',
  'pending (its job is queued) → running → completed | failed | pruned (stopped early by strategy.earlyStopping) | cancelled (the tuning stopped or ended first).',
  trialStatuses,
)
const StrategyType = enumOf(
  'TuningStrategyType',
  'grid: every combination; random: independent draws; bayesian: Tree-structured Parzen Estimator.',
  strategyTypes,
)
const PruningType = enumOf(
  'TrialPruningType',
  'median: stop a trial worse than the median of completed trials at the same epoch; asha: successive halving at rungs.',
  pruningTypes,
)
const Direction = enumOf('ObjectiveDirection', 'Whether lower or higher objective values are better.', directions)

type NamedSpec = ParameterSpec & { name: string }

const SearchParameter = builder.objectRef<NamedSpec>('SearchParameter').implement({
  description: 'One hyperparameter of the search space.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Hyperparameter name (as in the job hyperparameters).' }),
    type: t.exposeString('type', { description: 'float, int or categorical.' }),
    min: t.float({ nullable: true, description: 'Lower bound (float, int).', resolve: (spec) => (spec.type === 'categorical' ? null : spec.min) }),
    max: t.float({ nullable: true, description: 'Upper bound (float, int).', resolve: (spec) => (spec.type === 'categorical' ? null : spec.max) }),
    step: t.int({ nullable: true, description: 'Step between int values.', resolve: (spec) => (spec.type === 'int' ? spec.step : null) }),
    scale: t.string({ nullable: true, description: 'linear or log (float, int).', resolve: (spec) => (spec.type === 'categorical' ? null : spec.scale) }),
    values: t.field({
      type: ['JSON'],
      nullable: true,
      description: 'The choices (categorical).',
      resolve: (spec) => (spec.type === 'categorical' ? spec.values : null),
    }),
  }),
})

const EarlyStoppingRef = builder.objectRef<EarlyStopping>('TrialEarlyStopping').implement({
  description: 'How trials are pruned.',
  fields: (t) => ({
    type: t.field({ type: PruningType, description: 'median or asha.', resolve: (rule) => rule.type }),
    startupTrials: t.int({
      nullable: true,
      description: 'median: completed trials needed at an epoch before pruning there.',
      resolve: (rule) => (rule.type === 'median' ? rule.startupTrials : null),
    }),
    warmupEpochs: t.int({
      nullable: true,
      description: 'median: epochs never pruned at the start.',
      resolve: (rule) => (rule.type === 'median' ? rule.warmupEpochs : null),
    }),
    minResource: t.int({ nullable: true, description: 'asha: epochs of the first rung.', resolve: (rule) => (rule.type === 'asha' ? rule.minResource : null) }),
    reductionFactor: t.int({ nullable: true, description: 'asha: η between rungs.', resolve: (rule) => (rule.type === 'asha' ? rule.reductionFactor : null) }),
  }),
})

const Strategy = builder.objectRef<TuningStrategy>('TuningStrategy').implement({
  description: 'The search strategy, defaults filled in.',
  fields: (t) => ({
    type: t.field({ type: StrategyType, description: 'grid, random or bayesian.', resolve: (s) => s.type }),
    maxTrials: t.exposeInt('maxTrials', { description: 'Trials at most (grid: at most the grid size).' }),
    parallelTrials: t.exposeInt('parallelTrials', { description: 'Trials running at once, at most.' }),
    seed: t.exposeInt('seed', { description: 'Seed of the suggestions.' }),
    gridPoints: t.exposeInt('gridPoints', { description: 'grid: values per float/int range.' }),
    startupTrials: t.exposeInt('startupTrials', { description: 'bayesian: random trials before the model is used.' }),
    maxFailedTrials: t.exposeInt('maxFailedTrials', { nullable: true, description: 'The tuning fails once this many trials failed.' }),
    earlyStopping: t.expose('earlyStopping', { type: EarlyStoppingRef, nullable: true, description: 'Pruning of trials, if any.' }),
  }),
})

const Objective = builder.objectRef<TuningObjective>('TuningObjective').implement({
  description: 'What the search optimizes.',
  fields: (t) => ({
    metric: t.exposeString('metric', { description: 'A validation metric (valLoss, valAccuracy, valMae, valRmse).' }),
    direction: t.field({ type: Direction, description: 'minimize or maximize.', resolve: (o) => o.direction }),
    target: t.exposeFloat('target', { nullable: true, description: 'The tuning ends completed once a trial reaches it.' }),
  }),
})

const Progress = builder.objectRef<TuningView['progress']>('TuningProgress').implement({
  description: 'How far the search has come.',
  fields: (t) => ({
    completedTrials: t.exposeInt('completedTrials', { description: 'Trials finished, whatever the outcome.' }),
    totalTrials: t.exposeInt('totalTrials', { description: 'Trials planned (the trials run, once the tuning ended early).' }),
    percentage: t.exposeFloat('percentage', { description: '0-100.' }),
    runningTrials: t.exposeInt('runningTrials', { description: 'Trials training now.' }),
    succeededTrials: t.exposeInt('succeededTrials', { description: 'Trials completed.' }),
    prunedTrials: t.exposeInt('prunedTrials', { description: 'Trials pruned.' }),
    failedTrials: t.exposeInt('failedTrials', { description: 'Trials failed.' }),
  }),
})

const Intermediate = builder.objectRef<IntermediateValue>('TrialIntermediateValue').implement({
  description: 'The objective at the end of one epoch of a trial.',
  fields: (t) => ({
    epoch: t.exposeInt('epoch', { description: 'Epoch (1-based).' }),
    step: t.exposeInt('step', { description: 'Optimizer step at the end of the epoch.' }),
    value: t.exposeFloat('value', { description: 'Objective value.' }),
  }),
})

type TrialRef = Pick<TrialView, 'id' | 'number' | 'jobId' | 'parameters' | 'metrics' | 'objectiveValue'> & Partial<TrialView>

const Trial = builder.objectRef<TrialRef>('TuningTrial').implement({
  description: 'One trial: a training job with suggested hyperparameters.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'trial-… id.' }),
    number: t.exposeInt('number', { description: '1, 2, ... in suggestion order.' }),
    jobId: t.exposeID('jobId', { nullable: true, description: 'The training job (null if it was deleted).' }),
    job: t.field({
      type: Job,
      nullable: true,
      description: 'The training job, with its own logs and metrics.',
      resolve: async (trial, _args, ctx) => (trial.jobId ? ctx.services.jobs.get(viewer(ctx), trial.jobId).catch(() => null) : null),
    }),
    parameters: t.field({ type: 'JSONObject', description: 'The suggested hyperparameters.', resolve: (trial) => trial.parameters }),
    metrics: t.field({ type: 'JSONObject', nullable: true, description: "The job's latest metrics.", resolve: (trial) => trial.metrics }),
    objectiveValue: t.exposeFloat('objectiveValue', { nullable: true, description: 'Best objective value over its epochs.' }),
    status: t.field({ type: TrialStatus, nullable: true, description: 'State.', resolve: (trial) => trial.status ?? null }),
    statusReason: t.string({ nullable: true, description: 'Why it was pruned, failed or cancelled.', resolve: (trial) => trial.statusReason ?? null }),
    prunedAtEpoch: t.int({ nullable: true, description: 'Pruned: the epoch that decided it.', resolve: (trial) => trial.prunedAtEpoch ?? null }),
    prunedAtStep: t.int({ nullable: true, description: "Pruned: the job's last step.", resolve: (trial) => trial.prunedAtStep ?? null }),
    intermediate: t.field({ type: [Intermediate], description: 'Objective after each epoch.', resolve: (trial) => trial.intermediate ?? [] }),
    startedAt: t.field({ type: 'DateTime', nullable: true, description: 'When its job started.', resolve: (trial) => trial.startedAt ?? null }),
    completedAt: t.field({ type: 'DateTime', nullable: true, description: 'When its job ended.', resolve: (trial) => trial.completedAt ?? null }),
  }),
})

const TuningError = builder.objectRef<NonNullable<TuningView['error']>>('TuningError').implement({
  description: 'Why a tuning failed.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'E1106.' }),
    message: t.exposeString('message', { description: 'What went wrong.' }),
  }),
})

const Tuning = builder.objectRef<TuningView>('Tuning').implement({
  description: 'A hyperparameter tuning (spec §3).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'tuning-… id.' }),
    name: t.exposeString('name', { description: 'Name.' }),
    description: t.exposeString('description', { nullable: true, description: 'Description.' }),
    owner: t.exposeString('owner', { description: 'User who created it.' }),
    baseJobId: t.exposeID('baseJobId', { nullable: true, description: 'Job the trials start from, if given.' }),
    templateId: t.exposeID('templateId', { nullable: true, description: 'Template the trials start from, if given.' }),
    parameters: t.field({
      type: [SearchParameter],
      description: 'The search space.',
      resolve: (tuning) => Object.entries(tuning.parameters).map(([name, spec]) => ({ ...spec, name })),
    }),
    strategy: t.expose('strategy', { type: Strategy, description: 'Strategy.' }),
    objective: t.expose('objective', { type: Objective, description: 'Objective.' }),
    warmStartFrom: t.exposeIDList('warmStartFrom', { description: 'Earlier tunings whose trials seeded the search.' }),
    status: t.field({ type: TuningStatus, description: 'State.', resolve: (tuning) => tuning.status }),
    progress: t.expose('progress', { type: Progress, description: 'Progress.' }),
    trials: t.field({ type: [Trial], description: 'Trials in suggestion order.', resolve: (tuning) => tuning.trials }),
    bestTrial: t.field({
      type: Trial,
      nullable: true,
      description: 'The completed trial with the best objective value.',
      resolve: (tuning) => tuning.trials.find((trial) => trial.id === tuning.bestTrial?.id) ?? tuning.bestTrial,
    }),
    endReason: t.exposeString('endReason', { nullable: true, description: 'Why it ended before its last trial.' }),
    error: t.expose('error', { type: TuningError, nullable: true, description: 'Set when it failed.' }),
    createdAt: t.field({ type: 'DateTime', description: 'Created.', resolve: (tuning) => tuning.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'Last changed.', resolve: (tuning) => tuning.updatedAt }),
    startedAt: t.field({ type: 'DateTime', nullable: true, description: 'When the first trial was suggested.', resolve: (tuning) => tuning.startedAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, description: 'When it ended.', resolve: (tuning) => tuning.completedAt }),
  }),
})

const SearchParameterInput = builder.inputType('SearchParameterInput', {
  description: 'One hyperparameter to search: float or int with min and max (step, scale), or categorical with values.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Hyperparameter name, e.g. learningRate.' }),
    type: t.string({ required: true, description: 'float, int or categorical.' }),
    min: t.float({ description: 'Lower bound.' }),
    max: t.float({ description: 'Upper bound.' }),
    step: t.int({ description: 'int: step between values (default 1).' }),
    scale: t.string({ description: 'linear (default) or log.' }),
    values: t.field({ type: ['JSON'], description: 'categorical: the choices.' }),
  }),
})

const EarlyStoppingInput = builder.inputType('TrialEarlyStoppingInput', {
  description: 'Pruning of trials.',
  fields: (t) => ({
    type: t.field({ type: PruningType, required: true, description: 'median or asha.' }),
    startupTrials: t.int({ description: 'median: completed trials needed at an epoch before pruning there (default 3).' }),
    warmupEpochs: t.int({ description: 'median: epochs never pruned (default 0).' }),
    minResource: t.int({ description: 'asha: epochs of the first rung (default 1).' }),
    reductionFactor: t.int({ description: 'asha: η (default 3).' }),
  }),
})

const StrategyInput = builder.inputType('TuningStrategyInput', {
  description: 'How to search.',
  fields: (t) => ({
    type: t.field({ type: StrategyType, required: true, description: 'grid, random or bayesian.' }),
    maxTrials: t.int({ description: 'Default 10 (grid: the grid size).' }),
    parallelTrials: t.int({ description: 'Default 1.' }),
    seed: t.int({ description: 'Default: drawn at random and shown.' }),
    gridPoints: t.int({ description: 'grid: values per range (default 3).' }),
    startupTrials: t.int({ description: 'bayesian: random trials first (default: a third of maxTrials, 2 to 10).' }),
    maxFailedTrials: t.int({ description: 'Fail the tuning after this many failed trials.' }),
    earlyStopping: t.field({ type: EarlyStoppingInput, description: 'Pruning of trials.' }),
  }),
})

const ObjectiveInput = builder.inputType('TuningObjectiveInput', {
  description: 'What to optimize.',
  fields: (t) => ({
    metric: t.string({ required: true, description: 'valLoss, valAccuracy (classification), valMae, valRmse (regression).' }),
    direction: t.field({ type: Direction, required: true, description: 'minimize or maximize.' }),
    target: t.float({ description: 'End as soon as a trial reaches this value.' }),
  }),
})

const CreateTuningInput = builder.inputType('CreateTuningInput', {
  description: 'A tuning request (the body of POST /v1/training/tuning, with parameters as a list).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Name.' }),
    description: t.string({ description: 'Description.' }),
    baseJobId: t.id({ description: 'One of your jobs to start from.' }),
    templateId: t.id({ description: 'A template to start from (with datasetId).' }),
    datasetId: t.id({ description: 'With templateId: the dataset.' }),
    overrides: t.field({ type: 'JSONObject', description: 'With templateId: changes to the template.' }),
    baseJob: t.field({ type: CreateJobInput, description: 'A whole job request to start from.' }),
    parameters: t.field({ type: [SearchParameterInput], required: true, description: 'The search space.' }),
    strategy: t.field({ type: StrategyInput, required: true, description: 'How to search.' }),
    objective: t.field({ type: ObjectiveInput, required: true, description: 'What to optimize.' }),
    warmStartFrom: t.idList({ description: 'Earlier tunings (same objective and parameters) whose trials seed the search.' }),
  }),
})

const TuningSortField = enumOf('TuningSortField', 'Tuning list order.', tuningSortFields, {
  createdAt: 'Creation time',
  updatedAt: 'Last change',
  name: 'Name',
})

/** The REST shape of `parameters` (a map by name) from the GraphQL list. */
function spaceOf(list: { name: string }[]): Record<string, unknown> {
  const space: Record<string, unknown> = {}
  for (const [i, { name, ...spec }] of list.entries()) {
    if (name in space) throw InvalidInputError.fromProblems([{ field: `parameters[${i}].name`, message: `${name} is listed more than once` }])
    space[name] = spec
  }
  return space
}

builder.queryFields((t) => ({
  tuning: t.field({
    type: Tuning,
    description: 'One tuning (E1109 when it does not exist or is not yours).',
    args: { id: t.arg.id({ required: true, description: 'Tuning id.' }) },
    resolve: (_root, args, ctx) => ctx.services.tunings.get(viewer(ctx), String(args.id)),
  }),
  tunings: t.connection({
    type: Tuning,
    description: 'Your tunings, newest first by default.',
    args: {
      status: t.arg({ type: TuningStatus, description: 'Only tunings in this state.' }),
      sortBy: t.arg({ type: TuningSortField, description: 'Default createdAt.' }),
      sortOrder: t.arg({ type: SortOrder, description: 'Default desc.' }),
    },
    resolve: (_root, args, ctx) => {
      const filter = filterOf({ status: args.status, sortBy: args.sortBy, sortOrder: args.sortOrder })
      return offsetConnection(args, (window) => ctx.services.tunings.find(viewer(ctx), filter, window))
    },
  }),
}))

builder.mutationFields((t) => ({
  createTuning: t.field({
    type: Tuning,
    description: 'Starts a hyperparameter tuning (spec §3.1). Invalid input: E1108 naming every problem; unknown base job: E1101.',
    args: { input: t.arg({ type: CreateTuningInput, required: true, description: 'The tuning.' }) },
    resolve: (_root, args, ctx) => {
      const input = withoutNulls(args.input)
      return ctx.services.tunings.create(viewer(ctx), { ...input, parameters: spaceOf(input.parameters) })
    },
  }),
  stopTuning: t.field({
    type: Tuning,
    description: 'Stops a tuning: pending → cancelled at once; running → stopping, then cancelled once its running trials stopped.',
    args: { id: t.arg.id({ required: true, description: 'Tuning id.' }) },
    resolve: (_root, args, ctx) => ctx.services.tunings.stop(viewer(ctx), String(args.id)),
  }),
}))

builder.subscriptionFields((t) => ({
  tuningUpdated: t.field({
    type: Tuning,
    description:
      'Every change of one of your tunings: trials suggested, reporting, pruned, ended; bestTrial; the state. Sends the current state first; completes after the tuning ends.',
    args: { id: t.arg.id({ required: true, description: 'Tuning id.' }) },
    subscribe: (_root, args, ctx) => ctx.services.tunings.watch(viewer(ctx), String(args.id)),
    resolve: (tuning) => tuning,
  }),
}))
