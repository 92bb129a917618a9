// The trainer's models, optimizer, schedule, training loop, checkpoints and
// evaluation, on small generated data and the pure-JS cpu backend.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listCheckpoints, loadCheckpoint, loadModelFromCheckpoint, readCheckpointState } from '../../trainer/ml/checkpoint.ts'
import { classificationReport, evaluate, predictBatches, regressionMetrics } from '../../trainer/ml/evaluate.ts'
import { LayerNorm } from '../../trainer/ml/layers/index.ts'
import { createRandom } from '../../trainer/data/random.ts'
import { jobConfig } from '../helpers/models.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import { AdamW, clipByGlobalNorm, shouldDecay } from '../../trainer/ml/optimizer.ts'
import { learningRateAt } from '../../trainer/ml/schedule.ts'
import { epochOrder, trainLoop } from '../../trainer/ml/train-loop.ts'
import type { Architecture, CheckpointInfo, JobConfig, Metrics, PreparedData, Split, Task, TrainingReporter } from '../../trainer/ml/types.ts'

// ---------------------------------------------------------------- fixtures

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

function split(x: Float32Array | Int32Array, y: Float32Array | Int32Array, count: number): Split {
  return { x, y, count, rows: Array.from({ length: count }, (_, i) => i) }
}

/** Rows around three centres in 4 dimensions (well separated at the default noise), labelled by centre. */
function separableClasses(counts: { train: number; validation: number; test: number }, seed = 1, noise = 0.5): PreparedData {
  const random = createRandom(seed)
  const centres = [
    [2, 0, 0, 1],
    [-2, 2, 0, -1],
    [0, -2, 2, 0],
  ]
  const make = (n: number) => {
    const x = new Float32Array(n * 4)
    const y = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      y[i] = i % 3
      for (let d = 0; d < 4; d++) x[i * 4 + d] = centres[y[i]][d] + noise * gaussian(random)
    }
    return split(x, y, n)
  }
  return {
    preprocessing: { kind: 'tabular', labelColumn: 'label', features: [], inputSize: 4, labels: ['a', 'b', 'c'], target: null },
    inputShape: [4],
    inputDtype: 'float32',
    numClasses: 3,
    train: make(counts.train),
    validation: make(counts.validation),
    test: make(counts.test),
    warnings: [],
  }
}

/** target = 50 + 10·(standardized linear signal + small noise); y holds the standardized target, as trainer/data prepares it. */
function linearRegression(counts: { train: number; validation: number; test: number }, seed = 2): PreparedData {
  const random = createRandom(seed)
  const weights = [0.6, -0.5, 0.4, 0.3]
  const make = (n: number) => {
    const x = new Float32Array(n * 4)
    const y = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      let value = 0
      for (let d = 0; d < 4; d++) {
        x[i * 4 + d] = gaussian(random)
        value += weights[d] * x[i * 4 + d]
      }
      y[i] = value + 0.1 * gaussian(random)
    }
    return split(x, y, n)
  }
  return {
    preprocessing: { kind: 'tabular', labelColumn: 'price', features: [], inputSize: 4, labels: null, target: { mean: 50, std: 10 } },
    inputShape: [4],
    inputDtype: 'float32',
    numClasses: null,
    train: make(counts.train),
    validation: make(counts.validation),
    test: make(counts.test),
    warnings: [],
  }
}

/** Token sequences whose class is whether token 3 or token 4 dominates (tiny vocabulary: cpu's embedding gradient is slow). */
function tinyText(count: number, length = 8, seed = 3): PreparedData {
  const random = createRandom(seed)
  const x = new Int32Array(count * length)
  const y = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    y[i] = i % 2
    const used = 3 + Math.floor(random() * (length - 3))
    for (let t = 0; t < used; t++) x[i * length + t] = random() < 0.7 ? 3 + y[i] : 2 + Math.floor(random() * 10)
  }
  return {
    preprocessing: {
      kind: 'text',
      textColumn: 'text',
      labelColumn: 'label',
      tokenizer: { lowercase: true, cjkCharacters: true },
      vocabulary: ['<pad>', '<unk>', ...Array.from({ length: 10 }, (_, i) => `w${i}`)],
      maxSequenceLength: length,
      labels: ['no', 'yes'],
    },
    inputShape: [length],
    inputDtype: 'int32',
    numClasses: 2,
    train: split(x, y, count),
    validation: split(x.slice(0, 4 * length), y.slice(0, 4), 4),
    test: split(new Int32Array(0), new Int32Array(0), 0),
    warnings: [],
  }
}

interface Recording {
  steps: { step: number; epoch: number; metrics: Metrics; samples: number }[]
  validations: { step: number; epoch: number; metrics: Metrics; numTensors: number }[]
  checkpoints: CheckpointInfo[]
  logs: { level: string; message: string }[]
}

/** A reporter that records everything; `stopAt` answers a stop (or timeout) before that step. */
function recordingReporter(stopAt?: { step: number; reason: 'stop' | 'timeout' }): TrainingReporter & { recording: Recording } {
  const recording: Recording = { steps: [], validations: [], checkpoints: [], logs: [] }
  let polls = 0
  return {
    recording,
    log: (level, message) => recording.logs.push({ level, message }),
    step: (point) => recording.steps.push(point),
    validation: (point) => recording.validations.push({ ...point, numTensors: tf.memory().numTensors }),
    checkpoint: (info) => recording.checkpoints.push(info),
    stopRequested: () => {
      polls += 1
      return stopAt && polls > stopAt.step ? stopAt.reason : null
    },
  }
}

function modelFor(task: Task, architecture: Architecture, data: PreparedData, config: JobConfig): tfl.LayersModel {
  return buildModel({ task, architecture, data, hyperparameters: config.hyperparameters })
}

async function weightsOf(model: tfl.LayersModel): Promise<number[][]> {
  return Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())))
}

let root: string
let dirCount = 0
const freshDir = () => join(root, `run-${++dirCount}`)

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true)
  root = await mkdtemp(join(tmpdir(), 'trainer-ml-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

// ---------------------------------------------------------------- schedule and optimizer

describe('learning-rate schedule', () => {
  const base = { base: 0.1, warmupSteps: 10, totalSteps: 110 }

  it('warms up linearly, then decays as configured', () => {
    expect(learningRateAt(0, { ...base, schedule: 'constant' })).toBeCloseTo(0.01, 12)
    expect(learningRateAt(4, { ...base, schedule: 'constant' })).toBeCloseTo(0.05, 12)
    expect(learningRateAt(10, { ...base, schedule: 'constant' })).toBeCloseTo(0.1, 12)
    expect(learningRateAt(109, { ...base, schedule: 'constant' })).toBeCloseTo(0.1, 12)

    expect(learningRateAt(10, { ...base, schedule: 'linear' })).toBeCloseTo(0.1, 12)
    expect(learningRateAt(60, { ...base, schedule: 'linear' })).toBeCloseTo(0.05, 12)
    expect(learningRateAt(110, { ...base, schedule: 'linear' })).toBe(0)

    expect(learningRateAt(60, { ...base, schedule: 'cosine' })).toBeCloseTo(0.05, 12)
    expect(learningRateAt(35, { ...base, schedule: 'cosine' })).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 4)), 12)
    expect(learningRateAt(110, { ...base, schedule: 'cosine' })).toBeCloseTo(0, 12)

    expect(learningRateAt(60, { ...base, schedule: 'exponential' })).toBeCloseTo(0.01, 12)
    expect(learningRateAt(110, { ...base, schedule: 'exponential' })).toBeCloseTo(0.001, 12)
  })

  it('has no warm-up when warmupSteps is 0', () => {
    expect(learningRateAt(0, { base: 0.1, warmupSteps: 0, totalSteps: 10, schedule: 'linear' })).toBeCloseTo(0.1, 12)
  })
})

describe('AdamW', () => {
  it('matches a hand-computed first update, decaying kernels and not biases', () => {
    const kernel = tf.variable(tf.tensor1d([1, -2]))
    const bias = tf.variable(tf.tensor1d([0.5]))
    const optimizer = new AdamW([kernel, bias], { weightDecay: 0.1, clipNorm: null }, ['dense/kernel', 'dense/bias'])
    const lr = 0.01
    const g = [0.3, -0.004, 2]
    tf.tidy(() => optimizer.apply([tf.tensor1d([g[0], g[1]]), tf.tensor1d([g[2]])], lr))
    // Step 1: m̂ = g, v̂ = g², so the Adam step is lr·g/(|g|+ε); the kernel also shrinks by lr·wd.
    const adam = (p: number, grad: number, decay: number) => p * (1 - lr * decay) - lr * (grad / (Math.abs(grad) + 1e-8))
    const k = kernel.dataSync()
    expect(k[0]).toBeCloseTo(adam(1, g[0], 0.1), 6)
    expect(k[1]).toBeCloseTo(adam(-2, g[1], 0.1), 6)
    expect(bias.dataSync()[0]).toBeCloseTo(adam(0.5, g[2], 0), 6)
    expect(optimizer.step).toBe(1)
    optimizer.dispose()
    tf.dispose([kernel, bias])
  })

  it('resumes from its saved state with the same next update', () => {
    const start = [1, 2, 3]
    const grads = [
      [0.1, -0.2, 0.3],
      [0.5, 0.1, -0.1],
      [-0.3, 0.2, 0.05],
    ]
    const a = tf.variable(tf.tensor1d(start))
    const optA = new AdamW([a], { weightDecay: 0.01, clipNorm: null }, ['kernel'])
    for (const g of grads) tf.tidy(() => optA.apply([tf.tensor1d(g)], 0.05))

    const b = tf.variable(tf.tensor1d(start))
    const optB = new AdamW([b], { weightDecay: 0.01, clipNorm: null }, ['kernel'])
    tf.tidy(() => optB.apply([tf.tensor1d(grads[0])], 0.05))
    const saved = optB.getState()
    const c = tf.variable(tf.tensor1d(b.dataSync()))
    const optC = new AdamW([c], { weightDecay: 0.01, clipNorm: null }, ['kernel'])
    optC.setState(saved)
    for (const g of grads.slice(1)) tf.tidy(() => optC.apply([tf.tensor1d(g)], 0.05))
    expect(Array.from(c.dataSync())).toEqual(Array.from(a.dataSync()))
    expect(() => optC.setState({ ...saved, shapes: [[4]] })).toThrow(/shape/)
    for (const o of [optA, optB, optC]) o.dispose()
    tf.dispose([a, b, c])
  })

  it('decays weight matrices only', () => {
    expect(shouldDecay('dense_Dense1/kernel')).toBe(true)
    expect(shouldDecay('attention_0/qkv_kernel')).toBe(true)
    expect(shouldDecay('conv1d_Conv1D1/kernel_1')).toBe(true)
    expect(shouldDecay('dense_Dense1/bias')).toBe(false)
    expect(shouldDecay('attention_norm_0/gamma')).toBe(false)
    expect(shouldDecay('token_embedding/embeddings')).toBe(false)
  })
})

describe('global-norm clipping', () => {
  it('scales gradients above the threshold down to it, keeping their direction', () => {
    tf.tidy(() => {
      const grads = [tf.tensor1d([3, 4]), tf.tensor2d([[0, 12]])] // global norm 13
      const { clipped, norm } = clipByGlobalNorm(grads, 1)
      expect(norm.dataSync()[0]).toBeCloseTo(13, 5)
      const after = Math.sqrt(clipped.reduce((sum, g) => sum + tf.sum(tf.square(g)).dataSync()[0], 0))
      expect(after).toBeCloseTo(1, 5)
      expect(Array.from(clipped[0].dataSync())).toEqual([expect.closeTo(3 / 13, 6), expect.closeTo(4 / 13, 6)])
    })
  })

  it('leaves gradients below the threshold untouched', () => {
    tf.tidy(() => {
      const { clipped } = clipByGlobalNorm([tf.tensor1d([0.3, 0.4])], 1)
      expect(Array.from(clipped[0].dataSync())).toEqual([expect.closeTo(0.3, 7), expect.closeTo(0.4, 7)])
    })
  })
})

// ---------------------------------------------------------------- training

describe('training loop', () => {
  it('trains an MLP to separate three classes (test accuracy above 0.9)', async () => {
    const data = separableClasses({ train: 300, validation: 60, test: 90 })
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 8, dropout: 0.1, weightDecay: 0.01, lrSchedule: 'cosine', warmupSteps: 5 },
    })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    const result = await trainLoop({
      model,
      data,
      task: 'tabular-classification',
      config,
      reporter,
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })

    expect(result.outcome).toBe('completed')
    expect(result.step).toBe(Math.ceil(300 / 32) * 8)
    const { steps, validations } = reporter.recording
    expect(steps).toHaveLength(result.step)
    expect(steps.reduce((sum, s) => sum + s.samples, 0)).toBe(300 * 8)
    expect(steps.at(-1)!.epoch).toBe(8)
    expect(steps[0].metrics.learningRate).toBeCloseTo(0.01 / 5, 9)
    expect(Object.keys(steps[0].metrics).sort()).toEqual(['learningRate', 'trainAccuracy', 'trainLoss'])
    expect(validations).toHaveLength(8)
    expect(validations.at(-1)!.metrics.valAccuracy).toBeGreaterThan(0.9)

    const evaluation = await evaluate(model, data.test, data, 'tabular-classification')
    expect(evaluation.sampleCount).toBe(90)
    expect(evaluation.metrics.accuracy).toBeGreaterThan(0.9)
    expect(evaluation.confusionMatrix!.flat().reduce((a, b) => a + b, 0)).toBe(90)
    expect(evaluation.labels).toEqual(['a', 'b', 'c'])
  })

  it('fits a regression better than predicting the mean, reporting errors in original units', async () => {
    const data = linearRegression({ train: 400, validation: 50, test: 100 })
    const config = jobConfig('tabular-regression', 'mlp', { hyperparameters: { epochs: 10, lrSchedule: 'linear' } })
    const model = modelFor('tabular-regression', 'mlp', data, config)
    const reporter = recordingReporter()
    await trainLoop({ model, data, task: 'tabular-regression', config, reporter, checkpointDir: freshDir(), resumeFrom: null, float16: false })

    const last = reporter.recording.steps.at(-1)!.metrics
    expect(Object.keys(last).sort()).toEqual(['learningRate', 'trainLoss', 'trainMae', 'trainRmse'])
    expect(last.trainRmse).toBeCloseTo(Math.sqrt(last.trainLoss) * 10, 4)
    const validation = reporter.recording.validations.at(-1)!.metrics
    expect(Object.keys(validation).sort()).toEqual(['valLoss', 'valMae', 'valRmse'])

    const evaluation = await evaluate(model, data.test, data, 'tabular-regression')
    const targets = Array.from(data.test.y, (v) => 50 + 10 * v)
    const mean = targets.reduce((a, b) => a + b, 0) / targets.length
    const baselineRmse = Math.sqrt(targets.reduce((sum, t) => sum + (t - mean) ** 2, 0) / targets.length)
    expect(evaluation.metrics.rmse).toBeLessThan(0.5 * baselineRmse)
    expect(evaluation.metrics.r2).toBeGreaterThan(0.75)
    expect(evaluation.confusionMatrix).toBeNull()
  })

  it('stops early when the monitored metric stops improving', async () => {
    const data = separableClasses({ train: 64, validation: 30, test: 0 })
    // No epoch can beat the first by 10 nats, so patience 2 ends training after epoch 3.
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 20, batchSize: 16 },
      options: { enableEarlyStopping: true, earlyStoppingPatience: 2, earlyStoppingMinDelta: 10 },
    })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    const result = await trainLoop({
      model,
      data,
      task: 'tabular-classification',
      config,
      reporter,
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })

    expect(result.outcome).toBe('early-stopped')
    expect(reporter.recording.validations).toHaveLength(3)
    expect(result.step).toBe(3 * 4)
    expect(reporter.recording.logs.some((l) => l.level === 'info' && /Early stopping after epoch 3: valLoss/.test(l.message))).toBe(true)
    expect(result.best!.id).toBe('ckpt-4')
    expect(result.last!.step).toBe(12)
  })

  it('stops on request with a complete checkpoint on disk', async () => {
    const data = separableClasses({ train: 64, validation: 16, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp', { hyperparameters: { epochs: 10, batchSize: 16 } })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter({ step: 6, reason: 'stop' })
    const dir = freshDir()
    const result = await trainLoop({ model, data, task: 'tabular-classification', config, reporter, checkpointDir: dir, resumeFrom: null, float16: false })

    expect(result.outcome).toBe('stopped')
    expect(result.step).toBe(6)
    expect(result.last!.id).toBe('ckpt-6')
    expect((await readdir(result.last!.dir)).sort()).toEqual(['model.json', 'optimizer.bin', 'state.json', 'weights.bin'])
    const state = await readCheckpointState(result.last!.dir)
    expect(state).toMatchObject({ step: 6, epoch: 1, batchInEpoch: 2, epochsCompleted: 1.5 })
    // No temporary folders are left behind.
    expect((await readdir(dir)).sort()).toEqual(['ckpt-4', 'ckpt-6'])

    const timeout = recordingReporter({ step: 1, reason: 'timeout' })
    const timedOut = await trainLoop({
      model,
      data,
      task: 'tabular-classification',
      config,
      reporter: timeout,
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })
    expect(timedOut.outcome).toBe('timeout')
    expect(timedOut.last!.step).toBe(1)
  })

  it('resumes after a stop to the same final weights as an uninterrupted run', async () => {
    const data = separableClasses({ train: 70, validation: 20, test: 0 })
    // Dropout 0: dropout masks come from Math.random, whose stream a resumed process does not replay.
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 3, batchSize: 16, weightDecay: 0.05, gradientClipping: 1, lrSchedule: 'cosine', warmupSteps: 3 },
    })
    const uninterrupted = modelFor('tabular-classification', 'mlp', data, config)
    const interrupted = modelFor('tabular-classification', 'mlp', data, config)
    interrupted.setWeights(uninterrupted.getWeights().map((w) => w.clone()))

    const full = await trainLoop({
      model: uninterrupted,
      data,
      task: 'tabular-classification',
      config,
      reporter: recordingReporter(),
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })
    const dir = freshDir()
    // perEpoch is 5: stopping before step 8 leaves epoch 2 (index 1) two batches in.
    const first = await trainLoop({
      model: interrupted,
      data,
      task: 'tabular-classification',
      config,
      reporter: recordingReporter({ step: 7, reason: 'stop' }),
      checkpointDir: dir,
      resumeFrom: null,
      float16: false,
    })
    expect(first.outcome).toBe('stopped')

    const resumed = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    const second = await trainLoop({
      model: resumed,
      data,
      task: 'tabular-classification',
      config,
      reporter,
      checkpointDir: dir,
      resumeFrom: first.last!.dir,
      float16: false,
    })

    expect(second.outcome).toBe('completed')
    expect(second.step).toBe(full.step)
    expect(reporter.recording.steps[0].step).toBe(8)
    expect(reporter.recording.logs.some((l) => /Resumed from ckpt-7/.test(l.message))).toBe(true)
    expect(await weightsOf(resumed)).toEqual(await weightsOf(uninterrupted))
  })

  it('keeps only the best checkpoint and the latest with saveBestOnly', async () => {
    // Overlapping classes: the validation loss wanders instead of falling to 0.
    const data = separableClasses({ train: 48, validation: 30, test: 0 }, 7, 2.5)
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 6, batchSize: 16, learningRate: 0.05 },
      output: { saveBestOnly: true },
    })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    const dir = freshDir()
    const result = await trainLoop({ model, data, task: 'tabular-classification', config, reporter, checkpointDir: dir, resumeFrom: null, float16: false })

    const losses = reporter.recording.validations.map((v) => v.metrics.valLoss)
    const bestEpoch = losses.indexOf(Math.min(...losses))
    expect(result.best!.id).toBe(`ckpt-${(bestEpoch + 1) * 3}`)
    expect(result.best!.isBest).toBe(true)
    const onDisk = (await listCheckpoints(dir)).map((c) => c.id)
    expect(onDisk.sort()).toEqual([...new Set([result.best!.id, result.last!.id])].sort())
    const saved = reporter.recording.checkpoints.map((c) => c.id)
    const removed = reporter.recording.checkpoints.flatMap((c) => c.removed)
    expect(removed.length).toBeGreaterThanOrEqual(saved.length - 2)
    expect([...removed, ...onDisk].sort()).toEqual([...new Set(saved)].sort())
    const bestState = await readCheckpointState(result.best!.dir)
    expect(bestState.metrics.valLoss).toBe(Math.min(...losses))
  })

  it('marks the latest checkpoint best when there is no validation data, and says so once', async () => {
    const data = separableClasses({ train: 32, validation: 0, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp', { hyperparameters: { epochs: 3, batchSize: 16 }, options: { enableEarlyStopping: true } })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    const result = await trainLoop({
      model,
      data,
      task: 'tabular-classification',
      config,
      reporter,
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })
    expect(result.outcome).toBe('completed')
    expect(reporter.recording.validations).toHaveLength(0)
    expect(reporter.recording.checkpoints.map((c) => c.isBest)).toEqual([true, true, true])
    expect(result.best!.id).toBe(result.last!.id)
    expect(reporter.recording.logs.filter((l) => /validation split is empty/.test(l.message))).toHaveLength(1)
  })

  it('checkpoints every checkpointInterval steps and logs that float16 is missing', async () => {
    const data = separableClasses({ train: 64, validation: 16, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 2, batchSize: 16 },
      output: { checkpointInterval: 3 },
      options: { enableMixedPrecision: true },
    })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const reporter = recordingReporter()
    await trainLoop({ model, data, task: 'tabular-classification', config, reporter, checkpointDir: freshDir(), resumeFrom: null, float16: false })
    const steps = reporter.recording.checkpoints.map((c) => c.step)
    // 3 and 6 by interval; 4 when epoch 1 validates best; 8 at the end (or as a new best).
    for (const expected of [3, 6, 8]) expect(steps).toContain(expected)
    expect(steps.every((s) => s % 3 === 0 || s % 4 === 0)).toBe(true)
    expect(reporter.recording.logs).toContainEqual({
      level: 'info',
      message: 'Mixed precision was requested but backend cpu has no float16 support; training in float32',
    })
  })

  it('leaks no tensors across epochs', async () => {
    const data = separableClasses({ train: 64, validation: 20, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp', {
      hyperparameters: { epochs: 4, batchSize: 16, dropout: 0.2, gradientClipping: 1, weightDecay: 0.01 },
    })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const before = tf.memory().numTensors
    const reporter = recordingReporter()
    await trainLoop({ model, data, task: 'tabular-classification', config, reporter, checkpointDir: freshDir(), resumeFrom: null, float16: false })
    const counts = reporter.recording.validations.map((v) => v.numTensors)
    expect(new Set(counts).size).toBe(1)
    expect(tf.memory().numTensors).toBe(before)
  })

  it('shuffles each epoch reproducibly from the seed and epoch alone', () => {
    const a = epochOrder(42, 3, 50)
    expect(Array.from(a)).toEqual(Array.from(epochOrder(42, 3, 50)))
    expect(Array.from(a)).not.toEqual(Array.from(epochOrder(42, 4, 50)))
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })
})

// ---------------------------------------------------------------- architectures and serialization

describe('architectures', () => {
  for (const architecture of ['bag-of-embeddings', 'cnn', 'transformer'] as const) {
    it(`builds a text ${architecture} model that takes a training step`, async () => {
      const data = tinyText(8)
      const config = jobConfig('text-classification', architecture, {
        hyperparameters: { epochs: 1, batchSize: 8, hiddenSize: 8, embeddingDim: 8, numHeads: 2, filters: 4, kernelSize: 3, numLayers: 1, dropout: 0.1 },
      })
      const model = modelFor('text-classification', architecture, data, config)
      const before = await weightsOf(model)
      const reporter = recordingReporter()
      const result = await trainLoop({
        model,
        data,
        task: 'text-classification',
        config,
        reporter,
        checkpointDir: freshDir(),
        resumeFrom: null,
        float16: false,
      })
      expect(result.step).toBe(1)
      expect(Number.isFinite(reporter.recording.steps[0].metrics.trainLoss)).toBe(true)
      expect(await weightsOf(model)).not.toEqual(before)
      const probabilities = await predictBatches(model, data.train.x, 8, data.inputShape, 3)
      for (let i = 0; i < 8; i++) expect(probabilities[2 * i] + probabilities[2 * i + 1]).toBeCloseTo(1, 5)
    })
  }

  it('builds the image cnn from flat pixel rows and trains a step', async () => {
    const count = 4
    const data: PreparedData = {
      preprocessing: { kind: 'image', labelColumn: 'label', pixelColumns: [], width: 6, height: 6, channels: 1, scale: 255, labels: ['0', '1'] },
      inputShape: [36],
      inputDtype: 'float32',
      numClasses: 2,
      train: split(
        Float32Array.from({ length: count * 36 }, (_, i) => (i % 7) / 7),
        Int32Array.from([0, 1, 0, 1]),
        count,
      ),
      validation: split(new Float32Array(0), new Int32Array(0), 0),
      test: split(new Float32Array(0), new Int32Array(0), 0),
      warnings: [],
    }
    const config = jobConfig('image-classification', 'cnn', { hyperparameters: { epochs: 1, batchSize: 4, filters: 4, hiddenSize: 8 } })
    const model = modelFor('image-classification', 'cnn', data, config)
    expect(model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters)).toEqual([4, 8])
    const result = await trainLoop({
      model,
      data,
      task: 'image-classification',
      config,
      reporter: recordingReporter(),
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })
    expect(result.step).toBe(1)
  })

  it('honours hiddenSize and numLayers for the MLP and rejects mismatched tasks', () => {
    const data = separableClasses({ train: 3, validation: 0, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp', { hyperparameters: { hiddenSize: 12, numLayers: 3 } })
    const model = modelFor('tabular-classification', 'mlp', data, config)
    const dense = model.layers.filter((l) => l.getClassName() === 'Dense').map((l) => l.getConfig().units)
    expect(dense).toEqual([12, 12, 12, 3])
    expect(() => modelFor('tabular-classification', 'transformer', data, config)).toThrow(/cannot train a tabular-classification/)
    const text = tinyText(2)
    expect(() =>
      buildModel({
        task: 'text-classification',
        architecture: 'transformer',
        data: text,
        hyperparameters: { ...config.hyperparameters, hiddenSize: 10, numHeads: 4 },
      }),
    ).toThrow(/numHeads \(4\) must divide hiddenSize \(10\)/)
  })

  it('initializes deterministically from Math.random', async () => {
    const data = tinyText(2)
    const config = jobConfig('text-classification', 'transformer', { hyperparameters: { hiddenSize: 8, numHeads: 2, numLayers: 1 } })
    const original = Math.random
    const build = (seed: number) => {
      Math.random = createRandom(seed)
      try {
        return modelFor('text-classification', 'transformer', data, config)
      } finally {
        Math.random = original
      }
    }
    const [a, b, c] = [build(9), build(9), build(10)]
    expect(await weightsOf(a)).toEqual(await weightsOf(b))
    expect(await weightsOf(a)).not.toEqual(await weightsOf(c))
  })

  it('refuses a model whose outputs do not fit the data, naming both', async () => {
    const data = separableClasses({ train: 8, validation: 0, test: 0 })
    const config = jobConfig('tabular-classification', 'mlp')
    const twoClasses = modelFor('tabular-classification', 'mlp', { ...data, numClasses: 2 }, config)
    await expect(
      trainLoop({
        model: twoClasses,
        data,
        task: 'tabular-classification',
        config,
        reporter: recordingReporter(),
        checkpointDir: freshDir(),
        resumeFrom: null,
        float16: false,
      }),
    ).rejects.toThrow('The model predicts 2 values per row, the data needs 3 (one per class)')
  })

  it('round-trips the transformer through toJSON and modelFromJSON with equal predictions', async () => {
    const data = tinyText(4)
    const config = jobConfig('text-classification', 'transformer', { hyperparameters: { hiddenSize: 8, embeddingDim: 6, numHeads: 2, numLayers: 2 } })
    const model = modelFor('text-classification', 'transformer', data, config)
    const json = JSON.parse(model.toJSON(null, true) as string)
    const names = JSON.stringify(json)
    for (const className of ['PaddingMask', 'PositionEmbedding', 'MultiHeadSelfAttention', 'LayerNorm', 'MaskedAveragePooling1D'])
      expect(names).toContain(className)
    const copy = await tfl.models.modelFromJSON(json)
    copy.setWeights(model.getWeights())
    const original = await predictBatches(model, data.train.x, 4, data.inputShape, 4)
    const restored = await predictBatches(copy, data.train.x, 4, data.inputShape, 4)
    expect(Array.from(restored)).toEqual(Array.from(original))
  })

  it('normalizes like tfjs-layers LayerNormalization', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 5], 1, 3)
      const ours = new LayerNorm({ epsilon: 1e-6 })
      const reference = tfl.layers.layerNormalization({ epsilon: 1e-6 })
      const expected = reference.apply(x) as tf.Tensor
      ours.apply(x)
      ours.setWeights([tf.tensor1d([1, 2, 3, 4, 5]), tf.tensor1d([0, 0.1, 0.2, 0.3, 0.4])])
      reference.setWeights([tf.tensor1d([1, 2, 3, 4, 5]), tf.tensor1d([0, 0.1, 0.2, 0.3, 0.4])])
      const a = (ours.apply(x) as tf.Tensor).dataSync()
      const b = (reference.apply(x) as tf.Tensor).dataSync()
      expect(expected.shape).toEqual([2, 3, 5])
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 4)
    })
  })

  it('ignores padding: a longer padded input gives the same transformer prediction', async () => {
    const config = jobConfig('text-classification', 'transformer', { hyperparameters: { hiddenSize: 8, numHeads: 2 } })
    const long = modelFor('text-classification', 'transformer', tinyText(1, 8), config)
    const short = modelFor('text-classification', 'transformer', tinyText(1, 4), config)
    // Same weights; the shorter model's position table is the first 4 rows of the longer one's.
    short.setWeights(long.weights.map((w) => (w.originalName.startsWith('position_embedding') ? tf.slice(w.read(), [0, 0], [4, -1]) : w.read())))
    const padded = await predictBatches(long, Int32Array.from([5, 6, 7, 0, 0, 0, 0, 0]), 1, [8], 1)
    const tight = await predictBatches(short, Int32Array.from([5, 6, 7, 0]), 1, [4], 1)
    expect(padded[0]).toBeCloseTo(tight[0], 6)
    expect(padded[1]).toBeCloseTo(tight[1], 6)
    // A fourth real token must move the prediction (the mask hides padding only).
    const moved = await predictBatches(long, Int32Array.from([5, 6, 7, 8, 0, 0, 0, 0]), 1, [8], 1)
    expect(Math.abs(moved[0] - padded[0])).toBeGreaterThan(1e-6)
  })

  it('saves and loads a transformer checkpoint with equal predictions', async () => {
    const data = tinyText(8)
    const config = jobConfig('text-classification', 'transformer', { hyperparameters: { epochs: 1, batchSize: 8, hiddenSize: 8, numHeads: 2, numLayers: 1 } })
    const model = modelFor('text-classification', 'transformer', data, config)
    const result = await trainLoop({
      model,
      data,
      task: 'text-classification',
      config,
      reporter: recordingReporter(),
      checkpointDir: freshDir(),
      resumeFrom: null,
      float16: false,
    })
    const loaded = await loadModelFromCheckpoint(result.last!.dir)
    const expected = await predictBatches(model, data.train.x, 8, data.inputShape, 8)
    expect(Array.from(await predictBatches(loaded, data.train.x, 8, data.inputShape, 8))).toEqual(Array.from(expected))
    const full = await loadCheckpoint(result.last!.dir)
    expect(full.state.step).toBe(1)
    expect(full.optimizerState!.shapes).toEqual(model.trainableWeights.map((w) => w.shape))
    expect(full.optimizerState!.buffer.length).toBe(2 * model.countParams())
  })
})

// ---------------------------------------------------------------- evaluation

describe('evaluation metrics', () => {
  it('computes a classification report from a hand-made confusion case', () => {
    // actual:    a a a a b b c c
    // predicted: a a a b b a b b   → c is never predicted, d never occurs
    const actual = [0, 0, 0, 0, 1, 1, 2, 2]
    const predicted = [0, 0, 0, 1, 1, 0, 1, 1]
    const report = classificationReport(actual, predicted, 4, ['a', 'b', 'c', 'd'])
    expect(report.confusionMatrix).toEqual([
      [3, 1, 0, 0],
      [1, 1, 0, 0],
      [0, 2, 0, 0],
      [0, 0, 0, 0],
    ])
    const [a, b, c, d] = report.perClass
    expect(a).toMatchObject({ label: 'a', precision: 3 / 4, recall: 3 / 4, support: 4 })
    expect(a.f1).toBeCloseTo(0.75, 12)
    expect(b).toMatchObject({ precision: 1 / 4, recall: 1 / 2, support: 2 })
    expect(b.f1).toBeCloseTo((2 * 0.25 * 0.5) / 0.75, 12)
    expect(c).toEqual({ label: 'c', precision: 0, recall: 0, f1: 0, support: 2 })
    expect(d).toEqual({ label: 'd', precision: 0, recall: 0, f1: 0, support: 0 })
    expect(report.metrics.accuracy).toBe(4 / 8)
    // Macro over a, b, c (d neither occurs nor is predicted).
    expect(report.metrics.precision).toBeCloseTo((0.75 + 0.25 + 0) / 3, 12)
    expect(report.metrics.recall).toBeCloseTo((0.75 + 0.5 + 0) / 3, 12)
    expect(report.metrics.f1).toBeCloseTo((0.75 + 1 / 3 + 0) / 3, 12)
  })

  it('computes regression metrics in original units', () => {
    const metrics = regressionMetrics([1, -1, 0, 2], [1.5, -1, -0.5, 2], { mean: 100, std: 4 })
    expect(metrics.loss).toBeCloseTo((0.25 + 0 + 0.25 + 0) / 4, 12)
    expect(metrics.mae).toBeCloseTo((1 / 4) * 4, 12)
    expect(metrics.rmse).toBeCloseTo(Math.sqrt(0.125) * 4, 12)
    // mean of actual = 0.5; SStot = 0.25 + 2.25 + 0.25 + 2.25 = 5
    expect(metrics.r2).toBeCloseTo(1 - 0.5 / 5, 12)
    expect(regressionMetrics([3, 3], [3, 3], null).r2).toBe(1)
  })
})
