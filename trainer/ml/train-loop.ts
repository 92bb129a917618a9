// The training loop: seeded epoch shuffles, AdamW steps under the learning-rate
// schedule, validation each epoch, early stopping, checkpoints, stop requests
// and exact resume. One small dataSync per step is the only CPU read on the
// hot path; validation reads once per pass.
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import { stepCounts } from '../../src/domain/job-config.ts'
import {
  checkpointId,
  listCheckpoints,
  loadCheckpoint,
  readCheckpointInfo,
  removeCheckpoint,
  removeIncompleteCheckpoints,
  saveCheckpoint,
  type CheckpointState,
} from './checkpoint.ts'
import { inputTensor, PROBABILITY_EPSILON } from './evaluate.ts'
import { AdamW } from './optimizer.ts'
import { createRandom, shuffle } from '../data/random.ts'
import { learningRateAt } from './schedule.ts'
import { BadInputError, type CheckpointInfo, type JobConfig, type Metrics, type PreparedData, type Split, type Task, type TrainingReporter } from './types.ts'

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
  /** Whether the backend can compute in float16 (see the mixed-precision note in trainLoop). */
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

/** Trains `model` on `data.train` as `config` says, reporting as it goes; see the file header. */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const { model, data, task, config, reporter, checkpointDir } = options
  const hp = config.hyperparameters
  const regression = task === 'tabular-regression'
  const train = data.train
  if (train.count === 0) throw new BadInputError('The training split is empty: there are no rows to train on')
  if (!regression && (data.numClasses == null || data.numClasses < 2)) {
    throw new BadInputError(`Classification needs at least 2 classes, the data has ${data.numClasses ?? 'none'}`)
  }
  checkModelFitsData(model, data, regression)
  const { perEpoch, total } = stepCounts(train.count, hp.batchSize, hp.epochs)
  const hasValidation = data.validation.count > 0
  const monitor = monitoredMetric(config, regression)
  const higherIsBetter = monitor === 'valAccuracy'
  const seed = config.options.seed
  const targetStd = data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1

  await removeIncompleteCheckpoints(checkpointDir)
  let kept = await listCheckpoints(checkpointDir)

  const layerVariables = model.trainableWeights
  const variables = layerVariables.map((w) => w.read() as tf.Variable)
  const optimizer = new AdamW(
    variables,
    { weightDecay: hp.weightDecay, clipNorm: hp.gradientClipping },
    layerVariables.map((w) => w.originalName),
  )

  let step = 0
  let epoch = 0
  let batchInEpoch = 0
  let bestValue: number | null = null
  let bestCheckpointId: string | null = null
  let epochsWithoutImprovement = 0
  let trainMetrics: Metrics = {}
  let validationMetrics: Metrics = {}
  let best: CheckpointInfo | null = null
  let last: CheckpointInfo | null = null
  let lastSavedStep = -1

  try {
    if (options.resumeFrom) {
      const resumed = await restore(options.resumeFrom, model, optimizer)
      const state = resumed.state
      if (state.seed !== seed) {
        reporter.log('warn', `Checkpoint ${state.id} was trained with seed ${state.seed}, this run uses ${seed}: batch order differs from the original run`)
      }
      if (state.batchInEpoch > perEpoch) {
        throw new BadInputError(`Checkpoint ${state.id} is at batch ${state.batchInEpoch} of an epoch that now has ${perEpoch}: batchSize or data changed`)
      }
      ;({ step, epoch, batchInEpoch, bestValue, bestCheckpointId, epochsWithoutImprovement } = state)
      trainMetrics = pick(state.metrics, (name) => !name.startsWith('val'))
      validationMetrics = pick(state.metrics, (name) => name.startsWith('val'))
      last = await readCheckpointInfo(options.resumeFrom)
      lastSavedStep = state.step
      const bestEntry = kept.find((entry) => entry.id === bestCheckpointId)
      if (bestEntry) best = { ...(await readCheckpointInfo(bestEntry.dir)), isBest: true }
      reporter.log('info', `Resumed from ${state.id} at step ${step} (epoch ${epoch + 1}, batch ${batchInEpoch} of ${perEpoch})`, { step })
    }
    if (config.options.enableMixedPrecision) logMixedPrecision(reporter, options.float16)
    if (!hasValidation) {
      reporter.log(
        'info',
        `The validation split is empty: skipping validation${config.options.enableEarlyStopping ? ', early stopping is off' : ''}; the latest checkpoint counts as best`,
      )
    }

    /** Saves ckpt-<step>; `isBest` marks weights that just validated best (or any save without validation data). */
    const save = async (isBest: boolean): Promise<void> => {
      // The checkpoint of this step is already on disk (e.g. the final save right after an epoch's).
      if (step === lastSavedStep) return
      const id = checkpointId(step)
      if (isBest) bestCheckpointId = id
      const metrics = { ...trainMetrics, ...validationMetrics }
      const state: CheckpointState = {
        version: 1,
        id,
        step,
        epoch,
        batchInEpoch,
        epochsCompleted: epoch + batchInEpoch / perEpoch,
        seed,
        monitor,
        bestValue,
        bestCheckpointId,
        epochsWithoutImprovement,
        metrics,
        isBest,
        optimizer: null,
      }
      const { dir, sizeBytes } = await saveCheckpoint(checkpointDir, model, optimizer.getState(), state)
      const removed: string[] = []
      kept = kept.filter((entry) => entry.id !== id)
      if (config.output.saveBestOnly) {
        // Keep the best and this one (the one to resume from); the rest go.
        for (const entry of kept.filter((e) => e.id !== bestCheckpointId)) {
          await removeCheckpoint(entry.dir)
          removed.push(entry.id)
        }
        kept = kept.filter((entry) => entry.id === bestCheckpointId)
      }
      kept.push({ id, step, dir })
      const info: CheckpointInfo = { id, step, epoch: state.epochsCompleted, dir, sizeBytes, metrics, isBest, removed }
      if (isBest) best = info
      last = info
      lastSavedStep = step
      reporter.checkpoint(info)
    }

    const interval = config.output.checkpointInterval
    while (epoch < hp.epochs) {
      const order = epochOrder(seed, epoch, train.count)
      while (batchInEpoch < perEpoch) {
        const stop = reporter.stopRequested()
        if (stop) {
          await save(!hasValidation)
          reporter.log('info', `Stopped at step ${step} (${stop === 'timeout' ? 'time limit reached' : 'stop requested'})`, { step })
          return { outcome: stop === 'timeout' ? 'timeout' : 'stopped', best, last, step }
        }
        const rows = order.subarray(batchInEpoch * hp.batchSize, Math.min(train.count, (batchInEpoch + 1) * hp.batchSize))
        const learningRate = learningRateAt(step, { base: hp.learningRate, warmupSteps: hp.warmupSteps, totalSteps: total, schedule: hp.lrSchedule })
        const values = trainStep({
          model,
          variables,
          optimizer,
          split: train,
          rows,
          inputShape: data.inputShape,
          regression,
          numClasses: data.numClasses ?? 1,
          learningRate,
        })
        step += 1
        batchInEpoch += 1
        if (!Number.isFinite(values[0])) {
          throw new BadInputError(`Training diverged: the loss is ${values[0]} at step ${step}; lower learningRate or set gradientClipping`)
        }
        trainMetrics = regression
          ? { trainLoss: values[0], trainMae: values[1] * targetStd, trainRmse: Math.sqrt(values[0]) * targetStd, learningRate }
          : { trainLoss: values[0], trainAccuracy: values[1], learningRate }
        reporter.step({ step, epoch: epoch + batchInEpoch / perEpoch, metrics: trainMetrics, samples: rows.length })
        // An interval checkpoint that falls on the epoch's last batch waits for validation, so it carries val metrics.
        if (interval != null && step % interval === 0 && batchInEpoch < perEpoch) await save(!hasValidation)
        await yieldToEventLoop()
      }

      let improved = !hasValidation
      if (hasValidation) {
        validationMetrics = await validate(model, data, data.validation, regression, hp.batchSize, targetStd)
        reporter.validation({ step, epoch: epoch + 1, metrics: validationMetrics })
        improved = judge(validationMetrics[monitor])
      }
      // The position a resume would continue from: the start of the next epoch.
      epoch += 1
      batchInEpoch = 0
      const dueAtInterval = interval != null && step % interval === 0
      // Without an interval, every epoch ends with a checkpoint; with one, validated-best weights are saved too.
      if (interval == null || dueAtInterval || improved) await save(improved)
      if (config.options.enableEarlyStopping && hasValidation && epochsWithoutImprovement >= config.options.earlyStoppingPatience) {
        reporter.log(
          'info',
          `Early stopping after epoch ${epoch}: ${monitor} did not improve by more than ${config.options.earlyStoppingMinDelta} for ${epochsWithoutImprovement} epochs (best ${bestValue})`,
          { step, epoch },
        )
        await save(false)
        return { outcome: 'early-stopped', best, last, step }
      }
    }
    await save(!hasValidation)
    return { outcome: 'completed', best, last, step }
  } finally {
    optimizer.dispose()
  }

  /** Updates the best value and the patience counter; true when `value` is a new best. */
  function judge(value: number | undefined): boolean {
    // One rule serves both the best checkpoint and early stopping: an
    // improvement must beat the best by more than earlyStoppingMinDelta (0 by default).
    const delta = config.options.earlyStoppingMinDelta
    const better = value != null && Number.isFinite(value) && (bestValue == null || (higherIsBetter ? value > bestValue + delta : value < bestValue - delta))
    if (better) {
      bestValue = value
      epochsWithoutImprovement = 0
    } else {
      epochsWithoutImprovement += 1
    }
    return better
  }
}

/** A model from another job (fine-tuning) must take these inputs and predict these outputs. */
function checkModelFitsData(model: tfl.LayersModel, data: PreparedData, regression: boolean): void {
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

/** The metric that decides the best checkpoint and early stopping (valLoss unless configured). */
function monitoredMetric(config: JobConfig, regression: boolean): string {
  const metric = config.options.earlyStoppingMetric
  if (regression && metric === 'valAccuracy') return 'valLoss'
  if (!regression && (metric === 'valMae' || metric === 'valRmse')) return 'valLoss'
  return metric
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

async function restore(dir: string, model: tfl.LayersModel, optimizer: AdamW): Promise<{ state: CheckpointState }> {
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
  return { state: loaded.state }
}

interface StepInput {
  model: tfl.LayersModel
  variables: tf.Variable[]
  optimizer: AdamW
  split: Split
  rows: Uint32Array
  inputShape: number[]
  regression: boolean
  numClasses: number
  learningRate: number
}

/** One optimizer update on the given rows; returns [loss, accuracy] or [mse, mae] (standardized) from one small read. */
function trainStep({ model, variables, optimizer, split, rows, inputShape, regression, numClasses, learningRate }: StepInput): Float32Array {
  const packed = tf.tidy(() => {
    const xs = gatherRows(split.x, rows, inputShape)
    const ys = gatherLabels(split.y, rows, regression)
    let outputs: tf.Tensor | null = null
    const { value, grads } = tf.variableGrads(() => {
      const out = model.apply(xs, { training: true }) as tf.Tensor
      // Kept past the gradient's inner scopes for the metrics below; disposed by hand.
      outputs = tf.keep(out)
      return regression ? meanSquaredError(out, ys) : crossEntropy(out, ys, numClasses)
    }, variables)
    optimizer.apply(
      variables.map((v) => grads[v.name] ?? null),
      learningRate,
    )
    const out = outputs as unknown as tf.Tensor
    const metrics = regression ? tf.stack([value, tf.mean(tf.abs(tf.sub(tf.reshape(out, [-1]), ys)))]) : tf.stack([value, accuracy(out, ys)])
    out.dispose()
    return metrics
  })
  try {
    return packed.dataSync() as Float32Array
  } finally {
    packed.dispose()
  }
}

function crossEntropy(probabilities: tf.Tensor, labels: tf.Tensor, numClasses: number): tf.Scalar {
  // Negating before the sum keeps a perfect prediction's loss at +0, not -0.
  const negativeLogs = tf.neg(tf.log(tf.clipByValue(probabilities, PROBABILITY_EPSILON, 1)))
  return tf.mean(tf.sum(tf.mul(tf.oneHot(labels, numClasses), negativeLogs), 1)) as tf.Scalar
}

function meanSquaredError(predictions: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.square(tf.sub(tf.reshape(predictions, [-1]), targets))) as tf.Scalar
}

function accuracy(probabilities: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.mean(tf.cast(tf.equal(tf.argMax(probabilities, 1), labels), 'float32')) as tf.Scalar
}

/** Validation in inference mode, batch by batch, summed on the device and read once. */
async function validate(model: tfl.LayersModel, data: PreparedData, split: Split, regression: boolean, batchSize: number, targetStd: number): Promise<Metrics> {
  let sums: tf.Tensor | null = null
  for (let start = 0; start < split.count; start += batchSize) {
    const end = Math.min(split.count, start + batchSize)
    const batchSums = tf.tidy(() => {
      const xs = inputTensor(split.x, start, end, data.inputShape)
      const ys = labelTensor(split.y.subarray(start, end), regression)
      const out = model.predict(xs, { batchSize: end - start }) as tf.Tensor
      const n = end - start
      if (regression) {
        const errors = tf.sub(tf.reshape(out, [-1]), ys)
        return tf.stack([tf.sum(tf.square(errors)), tf.sum(tf.abs(errors))])
      }
      return tf.stack([tf.mul(crossEntropy(out, ys, data.numClasses ?? 1), n), tf.mul(accuracy(out, ys), n)])
    })
    if (sums == null) {
      sums = batchSums
    } else {
      const previous: tf.Tensor = sums
      sums = tf.add(previous, batchSums)
      tf.dispose([previous, batchSums])
    }
    await yieldToEventLoop()
  }
  const totals = sums!.dataSync()
  sums!.dispose()
  const n = split.count
  if (regression) {
    return { valLoss: totals[0] / n, valMae: (totals[1] / n) * targetStd, valRmse: Math.sqrt(totals[0] / n) * targetStd }
  }
  return { valLoss: totals[0] / n, valAccuracy: totals[1] / n }
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

/** The given rows of a split's inputs as one batch tensor. */
function gatherRows(x: Float32Array | Int32Array, rows: Uint32Array, inputShape: number[]): tf.Tensor {
  const rowSize = inputShape.reduce((a, b) => a * b, 1)
  const batch = x instanceof Int32Array ? new Int32Array(rows.length * rowSize) : new Float32Array(rows.length * rowSize)
  for (let i = 0; i < rows.length; i++) batch.set(x.subarray(rows[i] * rowSize, (rows[i] + 1) * rowSize), i * rowSize)
  return tf.tensor(batch, [rows.length, ...inputShape], x instanceof Int32Array ? 'int32' : 'float32')
}

function gatherLabels(y: Float32Array | Int32Array, rows: Uint32Array, regression: boolean): tf.Tensor {
  const batch = regression ? new Float32Array(rows.length) : new Int32Array(rows.length)
  for (let i = 0; i < rows.length; i++) batch[i] = y[rows[i]]
  return labelTensor(batch, regression)
}

function labelTensor(y: Float32Array | Int32Array, regression: boolean): tf.Tensor {
  return tf.tensor1d(y, regression ? 'float32' : 'int32')
}

function pick(metrics: Metrics, keep: (name: string) => boolean): Metrics {
  return Object.fromEntries(Object.entries(metrics).filter(([name]) => keep(name)))
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
