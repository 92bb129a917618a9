// The baselines of the training-overhead benchmark, each run in its own
// process like a job's, on the same data, model and backend as the service
// (the service's data preparation, model builder and backend selection):
//   fit:  a plain TensorFlow.js script: model.compile + model.fit (the baseline).
//   loop: the service's own training loop (trainer/ml/train-loop.ts) with a
//         reporter that records nothing: the job process without the service
//         around it, to split the service's overhead into loop and plumbing.
//   loop-ipc: the same, reporting every step, validation and log line to the
//         parent as the job process does (trainer/worker/child.ts: process.send,
//         advanced serialization); the parent only receives them.
//   node --import tsx bench/bare-train.ts '<BareTrainSpec as JSON>'
// Prints one line: a BareTrainResult as JSON.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { selectBackend } from '../trainer/ml/backend.ts'
import { buildModel } from '../trainer/ml/models.ts'
import { trainLoop } from '../trainer/ml/train-loop.ts'
import { createRandom, loadTable, prepareData } from '../trainer/data/index.ts'
import type { JobConfig, Split, TrainingReporter } from '../trainer/ml/types.ts'

export interface BareTrainSpec {
  mode: 'fit' | 'loop' | 'loop-ipc'
  /** The dataset file the service was given. */
  file: string
  /** The job's effective configuration (withJobDefaults of the same request). */
  config: JobConfig
}

export interface BareTrainResult {
  backend: string
  trainRows: number
  validationRows: number
  /** Training samples: trainRows × epochs. */
  samples: number
  /** From the first step's start to the end of the last validation pass (fit: its call to its return). */
  trainSeconds: number
  /** loop only: time spent saving checkpoints inside that span. */
  checkpointSeconds: number
  /** Load the file, prepare the splits, build (and for fit compile) the model. */
  setupSeconds: number
  validation: Record<string, number>
}

const spec = JSON.parse(process.argv[2]) as BareTrainSpec
const { config } = spec
const hp = config.hyperparameters
const task = config.model.task
const regression = task === 'tabular-regression'
// As the job process does: unseeded tfjs draws (initializers, dropout) come from Math.random.
Math.random = createRandom(config.options.seed ^ 0x5bd1e995)

const backend = await selectBackend()
const setupStart = performance.now()
const table = await loadTable(spec.file, 'csv')
const data = prepareData({ task, rows: table.rows, columns: table.columns, dataset: config.dataset, hyperparameters: hp, seed: config.options.seed })
const model = buildModel({ task, architecture: config.model.architecture, data, hyperparameters: hp })
const targetStd = data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1
const result = spec.mode === 'fit' ? await fitBaseline() : await loop()
console.log(JSON.stringify(result))

/** The 'fit' mode: model.compile + model.fit. */
async function fitBaseline(): Promise<BareTrainResult> {
  model.compile({
    optimizer: tf.train.adam(hp.learningRate),
    loss: regression ? 'meanSquaredError' : 'sparseCategoricalCrossentropy',
    metrics: regression ? ['mae'] : ['accuracy'],
  })
  const tensors = (split: Split) => ({
    x: tf.tensor(split.x, [split.count, ...data.inputShape], data.inputDtype),
    // Class indices as floats in a column: what fit's sparse cross-entropy expects.
    y: tf.tensor2d(Float32Array.from(split.y), [split.count, 1]),
  })
  const train = tensors(data.train)
  const validation = tensors(data.validation)
  const setupSeconds = (performance.now() - setupStart) / 1000

  const fitStart = performance.now()
  const history = await model.fit(train.x, train.y, {
    batchSize: hp.batchSize,
    epochs: hp.epochs,
    validationData: [validation.x, validation.y],
    shuffle: true,
    verbose: 0,
  })
  const trainSeconds = (performance.now() - fitStart) / 1000
  // Like the job, finish with the test split (outside the measured span; it counts in end-to-end times).
  if (data.test.count > 0) {
    const test = tensors(data.test)
    const scores = model.evaluate(test.x, test.y, { batchSize: hp.batchSize }) as tf.Scalar[]
    await Promise.all(scores.map((score) => score.data()))
  }
  const last = (name: string) => Number((history.history[name] as number[] | undefined)?.at(-1))
  return {
    ...sizes(),
    trainSeconds,
    checkpointSeconds: 0,
    setupSeconds,
    // valMae in target units, as the service reports it.
    validation: regression ? { valLoss: last('val_loss'), valMae: last('val_mae') * targetStd } : { valLoss: last('val_loss'), valAccuracy: last('val_acc') },
  }
}

async function loop(): Promise<BareTrainResult> {
  const setupSeconds = (performance.now() - setupStart) / 1000
  const checkpointDir = mkdtempSync(path.join(os.tmpdir(), 'bench-loop-'))
  const validatedAt: number[] = []
  const savedAt: number[] = []
  let validation: Record<string, number> = {}
  // The same messages as trainer/worker/child.ts sends, or none.
  const send = spec.mode === 'loop-ipc' ? (message: object) => process.send!(message) : () => undefined
  const reporter: TrainingReporter = {
    log: (level, message, extra) => send({ type: 'log', level, message, ...extra, at: Date.now() }),
    step: (point) => send({ type: 'step', ...point, at: Date.now() }),
    validation: (point) => {
      send({ type: 'validation', ...point, at: Date.now() })
      validatedAt.push(performance.now())
      validation = point.metrics
    },
    // Called when a save has finished; the epoch-end save starts right after validation.
    checkpoint: () => savedAt.push(performance.now()),
    stopRequested: () => null,
  }
  const start = performance.now()
  try {
    await trainLoop({ model, data, task, config, reporter, checkpointDir, resumeFrom: null, float16: false })
  } finally {
    rmSync(checkpointDir, { recursive: true, force: true })
  }
  const end = validatedAt.at(-1)!
  // Epoch-end saves inside the span: each one from its epoch's validation to its checkpoint call.
  let checkpointMs = 0
  for (let i = 0; i < validatedAt.length - 1; i++) checkpointMs += (savedAt[i] ?? validatedAt[i]) - validatedAt[i]
  process.disconnect?.()
  return { ...sizes(), trainSeconds: (end - start) / 1000, checkpointSeconds: checkpointMs / 1000, setupSeconds, validation }
}

function sizes() {
  return { backend: backend.name, trainRows: data.train.count, validationRows: data.validation.count, samples: data.train.count * hp.epochs }
}
