// The training loop: seeded epoch shuffles, AdamW steps under the learning-rate
// schedule, validation each epoch, stop requests and exact resume.
// Checkpointing (checkpointer.ts) and early stopping (early-stopping.ts) are
// callbacks the loop calls at fixed points, as tfjs-layers' fit does: after
// every batch, at every epoch's end and when training ends. One small dataSync
// per step (train-step.ts) is the only CPU read on the hot path; validation
// reads once per pass.
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import { stepCounts } from '../../src/domain/job-config.ts'
import { loadCheckpoint, type CheckpointState } from './checkpoint.ts'
import { Checkpointer, folderCheckpointStore } from './checkpointer.ts'
import { createEarlyStopping, type EarlyStopping } from './early-stopping.ts'
import { AdamW } from './optimizer.ts'
import { epochsCompleted, type TrainProgress } from './progress.ts'
import { createRandom, shuffle } from '../data/random.ts'
import { learningRateAt, type ScheduleOptions } from './schedule.ts'
import { type StepTarget, trainStep, validate, yieldToEventLoop } from './train-step.ts'
import { BadInputError, type CheckpointInfo, type JobConfig, type Metrics, type PreparedData, type Task, type TrainingReporter } from './types.ts'

export interface TrainLoopOptions {
  model: tfl.LayersModel
  data: PreparedData
  task: Task
  config: JobConfig
  reporter: TrainingReporter
  /** Where ckpt-<step> folders go. */
  checkpointDir: string
  /** A checkpoint folder of this same job to continue from, or null to start fresh. */
  resumeFrom: string | null
  /** Whether the backend can compute in float16 (see logMixedPrecision). */
  float16: boolean
}

export type TrainOutcome = 'completed' | 'early-stopped' | 'stopped' | 'timeout'

export interface TrainLoopResult {
  outcome: TrainOutcome
  best: CheckpointInfo | null
  last: CheckpointInfo | null
  /** Optimizer updates completed. */
  step: number
}

/** One run's fixed inputs, its progress and its callbacks. */
interface Run {
  config: JobConfig
  data: PreparedData
  reporter: TrainingReporter
  target: StepTarget
  schedule: ScheduleOptions
  hasValidation: boolean
  /** Regression targets are standardized: errors are reported times this, in the target's units. */
  targetStd: number
  progress: TrainProgress
  checkpointer: Checkpointer
  earlyStopping: EarlyStopping
}

/** Trains `model` on `data.train` as `config` says, reporting as it goes; see the file header. */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const { model, data, config, reporter } = options
  const hp = config.hyperparameters
  const regression = options.task === 'tabular-regression'
  checkTrainable(model, data, regression)
  const { perEpoch, total } = stepCounts(data.train.count, hp.batchSize, hp.epochs)
  const hasValidation = data.validation.count > 0
  const progress: TrainProgress = { step: 0, epoch: 0, batchInEpoch: 0, perEpoch, trainMetrics: {}, validationMetrics: {} }
  const earlyStopping = createEarlyStopping(config, regression, hasValidation, reporter)
  const layerVariables = model.trainableWeights
  const variables = layerVariables.map((w) => w.read() as tf.Variable)
  const optimizer = new AdamW(
    variables,
    { weightDecay: hp.weightDecay, clipNorm: hp.gradientClipping },
    layerVariables.map((w) => w.originalName),
  )
  try {
    const checkpointer = await Checkpointer.open({
      store: folderCheckpointStore(options.checkpointDir, model, optimizer),
      interval: config.output.checkpointInterval,
      saveBestOnly: config.output.saveBestOnly,
      hasValidation,
      seed: config.options.seed,
      earlyStopping,
      reporter,
    })
    const run: Run = {
      config,
      data,
      reporter,
      target: { model, variables, optimizer, split: data.train, inputShape: data.inputShape, regression, numClasses: data.numClasses ?? 1 },
      schedule: { base: hp.learningRate, warmupSteps: hp.warmupSteps, totalSteps: total, schedule: hp.lrSchedule },
      hasValidation,
      targetStd: data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1,
      progress,
      checkpointer,
      earlyStopping,
    }
    if (options.resumeFrom) await resume(run, options.resumeFrom)
    logSetup(run, options.float16)
    const outcome = await runEpochs(run)
    return { outcome, best: checkpointer.best, last: checkpointer.last, step: progress.step }
  } finally {
    optimizer.dispose()
  }
}

/** Epoch after epoch until the last, a stop request or early stopping; the callbacks save on the way. */
async function runEpochs(run: Run): Promise<TrainOutcome> {
  const { config, data, reporter, progress, checkpointer, earlyStopping } = run
  while (progress.epoch < config.hyperparameters.epochs) {
    const stop = await trainEpoch(run)
    if (stop) {
      await checkpointer.onTrainEnd(progress)
      reporter.log('info', `Stopped at step ${progress.step} (${stop === 'timeout' ? 'time limit reached' : 'stop requested'})`, { step: progress.step })
      return stop === 'timeout' ? 'timeout' : 'stopped'
    }
    let improved = false
    if (run.hasValidation) {
      const { model, regression } = run.target
      progress.validationMetrics = await validate(model, data, data.validation, regression, config.hyperparameters.batchSize, run.targetStd)
      reporter.validation({ step: progress.step, epoch: progress.epoch + 1, metrics: progress.validationMetrics })
      improved = earlyStopping.onEpochEnd(progress.validationMetrics)
    }
    // The position a resume would continue from: the start of the next epoch.
    progress.epoch += 1
    progress.batchInEpoch = 0
    await checkpointer.onEpochEnd(progress, improved)
    if (earlyStopping.shouldStop(progress)) {
      await checkpointer.onTrainEnd(progress)
      return 'early-stopped'
    }
  }
  await checkpointer.onTrainEnd(progress)
  return 'completed'
}

/** The rest of the current epoch's batches (all of them, unless resumed mid-epoch); the stop asked for, or null. */
async function trainEpoch(run: Run): Promise<'stop' | 'timeout' | null> {
  const { reporter, target, progress, checkpointer } = run
  const batchSize = run.config.hyperparameters.batchSize
  const count = target.split.count
  const order = epochOrder(run.config.options.seed, progress.epoch, count)
  while (progress.batchInEpoch < progress.perEpoch) {
    const stop = reporter.stopRequested()
    if (stop) return stop
    const rows = order.subarray(progress.batchInEpoch * batchSize, Math.min(count, (progress.batchInEpoch + 1) * batchSize))
    const learningRate = learningRateAt(progress.step, run.schedule)
    const values = trainStep(target, rows, learningRate)
    progress.step += 1
    progress.batchInEpoch += 1
    if (!Number.isFinite(values[0])) {
      throw new BadInputError(`Training diverged: the loss is ${values[0]} at step ${progress.step}; lower learningRate or set gradientClipping`)
    }
    progress.trainMetrics = target.regression
      ? { trainLoss: values[0], trainMae: values[1] * run.targetStd, trainRmse: Math.sqrt(values[0]) * run.targetStd, learningRate }
      : { trainLoss: values[0], trainAccuracy: values[1], learningRate }
    reporter.step({ step: progress.step, epoch: epochsCompleted(progress), metrics: progress.trainMetrics, samples: rows.length })
    // Null unless a checkpoint is due: most steps await nothing here.
    const saving = checkpointer.onBatchEnd(progress)
    if (saving) await saving
    await yieldToEventLoop()
  }
  return null
}

/** Continues from checkpoint `dir` of this job: weights, optimizer, position, metrics and both callbacks' state. */
async function resume(run: Run, dir: string): Promise<void> {
  const { reporter, progress } = run
  const state = await restoreWeights(dir, run.target)
  const seed = run.config.options.seed
  if (state.seed !== seed) {
    reporter.log('warn', `Checkpoint ${state.id} was trained with seed ${state.seed}, this run uses ${seed}: batch order differs from the original run`)
  }
  if (state.batchInEpoch > progress.perEpoch) {
    throw new BadInputError(`Checkpoint ${state.id} is at batch ${state.batchInEpoch} of an epoch that now has ${progress.perEpoch}: batchSize or data changed`)
  }
  progress.step = state.step
  progress.epoch = state.epoch
  progress.batchInEpoch = state.batchInEpoch
  progress.trainMetrics = pick(state.metrics, (name) => !name.startsWith('val'))
  progress.validationMetrics = pick(state.metrics, (name) => name.startsWith('val'))
  run.earlyStopping.restore(state)
  await run.checkpointer.restore(state, dir)
  reporter.log('info', `Resumed from ${state.id} at step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch} of ${progress.perEpoch})`, {
    step: state.step,
  })
}

/** Loads a checkpoint's weights into the model and its moments into the optimizer; returns its state. */
async function restoreWeights(dir: string, { model, optimizer }: StepTarget): Promise<CheckpointState> {
  const loaded = await loadCheckpoint(dir)
  try {
    const saved = loaded.model.weights
    const current = model.weights
    const mismatch = saved.length !== current.length || saved.some((w, i) => w.shape.join('x') !== current[i].shape.join('x'))
    if (mismatch) throw new BadInputError(`Checkpoint ${loaded.state.id} does not fit this model: its weights have other shapes`)
    model.setWeights(loaded.model.getWeights())
    if (!loaded.optimizerState) throw new BadInputError(`Checkpoint ${loaded.state.id} has no optimizer state to resume from`)
    optimizer.setState(loaded.optimizerState)
  } finally {
    loaded.model.dispose()
  }
  return loaded.state
}

/** The run's opening notes: mixed precision, and what an empty validation split turns off. */
function logSetup(run: Run, float16: boolean): void {
  const { config, reporter } = run
  if (config.options.enableMixedPrecision) logMixedPrecision(reporter, float16)
  if (!run.hasValidation) {
    reporter.log(
      'info',
      `The validation split is empty: skipping validation${config.options.enableEarlyStopping ? ', early stopping is off' : ''}; the latest checkpoint counts as best`,
    )
  }
}

/** Data the loop cannot train on, and a model from another job (fine-tuning) that does not take these inputs or predict these outputs. */
function checkTrainable(model: tfl.LayersModel, data: PreparedData, regression: boolean): void {
  if (data.train.count === 0) throw new BadInputError('The training split is empty: there are no rows to train on')
  if (!regression && (data.numClasses == null || data.numClasses < 2)) {
    throw new BadInputError(`Classification needs at least 2 classes, the data has ${data.numClasses ?? 'none'}`)
  }
  const inputShape = model.inputs[0].shape.slice(1)
  if (inputShape.join('x') !== data.inputShape.join('x')) {
    throw new BadInputError(`The model takes inputs of shape [${inputShape}], the data has [${data.inputShape}]`)
  }
  const outputShape = model.outputs[0].shape
  const units = outputShape[outputShape.length - 1]
  const expected = regression ? 1 : data.numClasses
  if (units !== expected) {
    throw new BadInputError(`The model predicts ${units} values per row, the data needs ${expected}${regression ? '' : ' (one per class)'}`)
  }
}

function logMixedPrecision(reporter: TrainingReporter, float16: boolean): void {
  const backend = tf.getBackend()
  if (!float16) {
    reporter.log('info', `Mixed precision was requested but backend ${backend} has no float16 support; training in float32`)
    return
  }
  // TF.js has no float16 tensor type to cast to: float16 is a storage mode a
  // backend applies to its own kernels. The loop leaves it to the backend and
  // keeps its loss, metrics and optimizer arithmetic in float32 tensors.
  reporter.log('info', `Mixed precision: backend ${backend} computes in float16 where it supports it; loss, metrics and optimizer updates stay float32`)
}

/**
 * The order of the training rows in `epoch`: a Fisher–Yates shuffle driven by
 * a PRNG seeded from (seed, epoch) alone, so any epoch's order can be
 * recomputed, e.g. by a run resuming mid-epoch.
 */
export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  const order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  return shuffle(order, createRandom(hash32(seed, epoch)))
}

function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)
  h ^= h >>> 16
  h = Math.imul(h, 0x7feb352d)
  h ^= h >>> 15
  h = Math.imul(h, 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

function pick(metrics: Metrics, keep: (name: string) => boolean): Metrics {
  return Object.fromEntries(Object.entries(metrics).filter(([name]) => keep(name)))
}
