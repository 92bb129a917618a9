// Trained models for the export and serving tests: generated rows (topic
// texts, customers, pictures, random feature rows); a recipe per built-in
// architecture that prepares them, builds the model and trains it briefly;
// job configs as the trainer reads them; the seeded wasm setup and figures
// report of a test file; and the comparisons of a model's outputs with what an
// exported or served copy answers.
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, expect } from 'vitest'
import { createRandom, encodeInputs, prepareData, type Row } from '../../trainer/data/index.ts'
import { selectBackend } from '../../trainer/ml/backend.ts'
import { argMaxRows, predictBatches, toOriginalUnits } from '../../trainer/ml/evaluate.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import type { Architecture, JobConfig, PreparedData, Preprocessing, Task } from '../../trainer/ml/types.ts'

// ---------------------------------------------------------------- generated rows

/** A standard normal draw (Box-Muller). */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]

const syllables = ['ka', 'lo', 'mi', 'ren', 'ta', 'vu', 'shi', 'po', 'ne', 'da', 'ri', 'gu', 'sa', 'mo', 'ze', 'li']
/** 4096 made-up three-syllable words. */
export const lexicon = syllables.flatMap((a) => syllables.flatMap((b) => syllables.map((c) => a + b + c)))
const topics = ['sports', 'science', 'music']

/**
 * Texts whose topic shows in a few cue words among common filler words, with
 * `words[0]` up to (not including) `words[1]` words and the first capitalized.
 * The filler draws favour the first words, so a 2000-word vocabulary leaves
 * the rare ones out-of-vocabulary; the longest texts get cut.
 */
export function topicTexts(count: number, seed: number, words: readonly [number, number]): Row[] {
  const random = createRandom(seed)
  const cues = topics.map((_, t) => lexicon.slice(t * 15, (t + 1) * 15))
  const filler = lexicon.slice(45, 2800)
  return Array.from({ length: count }, (_, i) => {
    const topic = i % topics.length
    const text = Array.from({ length: words[0] + Math.floor(random() * (words[1] - words[0])) }, () =>
      random() < 0.2 ? pick(cues[topic], random) : filler[Math.floor(filler.length * random() ** 2)],
    )
    text[0] = text[0][0].toUpperCase() + text[0].slice(1)
    return { text: `${text.join(' ')}${random() < 0.5 ? '.' : '!'}`, topic: topics[topic] }
  })
}

/** Texts no training row looks like: empty, missing, all out-of-vocabulary, upper-case cues, CJK characters, far too long. */
export const unusualTexts: Row[] = [
  { text: '', topic: 'sports' },
  { text: null, topic: 'sports' },
  { text: 'Qwx zzyv, plorb!', topic: 'science' },
  { text: `${lexicon[16].toUpperCase()} ${lexicon[17].toUpperCase()} 音乐`, topic: 'science' },
  { text: Array.from({ length: 80 }, (_, i) => lexicon[30 + (i % 15)]).join(' '), topic: 'music' },
]

export const cities = ['Lyon', 'Oslo', 'Quito', 'Pune', 'Accra', 'Hanoi']
const cityEffect = [0.8, -0.6, 0.2, -0.3, 0.5, -0.9]
const plans = ['basic', 'pro', 'team']

/** Customers with numeric (large-valued, boolean, sometimes missing) and categorical columns; `score` drives both targets. */
function customers(count: number, seed: number, task: Task): Row[] {
  const random = createRandom(seed)
  return Array.from({ length: count }, () => {
    const income = 52_000 + 15_000 * gaussian(random)
    const age = 40 + 12 * gaussian(random)
    const city = Math.floor(random() * cities.length)
    const plan = Math.floor(random() * plans.length)
    const member = random() < 0.4
    const score = (income - 52_000) / 15_000 + (0.6 * (age - 40)) / 12 + cityEffect[city] + (plan - 1) * 0.4 + (member ? 0.5 : 0) + 0.2 * gaussian(random)
    const label = task === 'tabular-regression' ? 180 + 40 * score : score < -0.5 ? 'low' : score < 0.6 ? 'mid' : 'high'
    return {
      income: random() < 0.05 ? null : Math.round(income),
      age: random() < 0.05 ? (random() < 0.5 ? '' : Number.NaN) : Math.round(age),
      city: random() < 0.05 ? null : cities[city],
      plan: plans[plan],
      member,
      label,
    }
  })
}

/** A city training never saw, every value missing, NaN, numbers as text. */
const unusualCustomers: Row[] = [
  { income: 61_000, age: 35, city: 'Atlantis', plan: 'pro', member: true },
  { income: null, age: null, city: null, plan: '', member: null },
  { income: Number.NaN, age: 51, city: 'Oslo', plan: 'team', member: false },
  { income: '48000', age: '29', city: 'Pune', plan: 'basic', member: true },
]

/** The dataset metadata that declares an image size. */
export type ImageSize = { width: number; height: number; channels: number }

export interface Pictures {
  size: ImageSize
  /** `p0`, `p1`, …: one column per pixel channel, row by row. */
  pixelColumns: string[]
  rows(count: number, seed: number): Row[]
  /** Three pictures with missing pixels (null, empty text). */
  damaged(seed: number): Row[]
}

const positions = ['left', 'center', 'right']

/**
 * Noisy 0-255 RGB images of `size` with a faint square, `squareSide` pixels
 * wide, in the left, centre or right third, tinted per position (hard enough
 * that outputs do not saturate).
 */
export function createPictures(size: ImageSize, squareSide: number): Pictures {
  const pixelColumns = Array.from({ length: size.width * size.height * size.channels }, (_, i) => `p${i}`)
  const rows = (count: number, seed: number): Row[] => {
    const random = createRandom(seed)
    return Array.from({ length: count }, (_, n) => {
      const position = n % positions.length
      const x0 = Math.floor((position * size.width) / 3 + random() * 2)
      const y0 = Math.floor(random() * (size.height - 4))
      const row: Row = { label: positions[position] }
      for (let y = 0; y < size.height; y++) {
        for (let x = 0; x < size.width; x++) {
          const inside = x >= x0 && x < x0 + squareSide && y >= y0 && y < y0 + squareSide
          for (let c = 0; c < size.channels; c++) {
            const base = inside ? (c === position ? 190 : 130) : 90
            row[pixelColumns[(y * size.width + x) * size.channels + c]] = Math.round(Math.min(255, Math.max(0, base + 40 * gaussian(random))))
          }
        }
      }
      return row
    })
  }
  const damaged = (seed: number) => rows(3, seed).map((row, i) => ({ ...row, [pixelColumns[5 * i]]: null, [pixelColumns[100 + i]]: '' }))
  return { size, pixelColumns, rows, damaged }
}

/** Rows of `inputs` numeric columns f0, f1, … drawn from N(0, 2²). */
export function randomRows(count: number, inputs: number, seed: number): Row[] {
  const random = createRandom(seed)
  return Array.from({ length: count }, () => Object.fromEntries(Array.from({ length: inputs }, (_, i) => [`f${i}`, 2 * gaussian(random)])))
}

// ---------------------------------------------------------------- models

export const baseHyperparameters: JobConfig['hyperparameters'] = {
  learningRate: 0.005,
  batchSize: 32,
  epochs: 1,
  warmupSteps: 0,
  weightDecay: 0,
  gradientClipping: null,
  lrSchedule: 'constant',
  dropout: 0.1,
}

/** The rows encoded and split as the trainer does it: 30% held out for testing, seed 7. */
export function prepareRows(task: Task, rows: Row[], hyperparameters: JobConfig['hyperparameters'], metadata?: Record<string, unknown>): PreparedData {
  const dataset = { id: 'dataset-models', validationSplit: 0.1, testSplit: 0.3 }
  return prepareData({ task, rows, columns: [], dataset, hyperparameters, seed: 7, metadata })
}

/** A few epochs of Adam: decisive outputs, far from the training loop's full run. Compiling also gives the model a training config. */
async function trainBriefly(model: tfl.LayersModel, data: PreparedData, epochs: number): Promise<void> {
  const regression = data.numClasses === null
  model.compile({ optimizer: tf.train.adam(0.005), loss: regression ? 'meanSquaredError' : 'sparseCategoricalCrossentropy' })
  const { train } = data
  const x = tf.tensor(train.x, [train.count, ...data.inputShape], data.inputDtype)
  const y = regression ? tf.tensor2d(train.y, [train.count, 1]) : tf.tensor1d(Float32Array.from(train.y))
  await model.fit(x, y, { epochs, batchSize: 32, verbose: 0 })
  tf.dispose([x, y])
}

/** A built-in architecture on generated rows; the `unusual` rows are only predicted, never trained on. */
export interface ModelCase {
  name: string
  task: Task
  architecture: Architecture
  rows: () => Row[]
  unusual: Row[]
  metadata?: Record<string, unknown>
  /** Over baseHyperparameters. */
  hyperparameters: Partial<JobConfig['hyperparameters']>
  epochs: number
}

/** How long and with what a case trains. */
export type Training = Pick<ModelCase, 'hyperparameters' | 'epochs'>

/** A text classifier on topic texts (seed 11), the unusual texts predicted besides. */
export function textCase(architecture: Architecture, texts: { count: number; words: readonly [number, number] }, training: Training): ModelCase {
  const rows = () => topicTexts(texts.count, 11, texts.words)
  return { name: `text ${architecture}`, task: 'text-classification', architecture, rows, unusual: unusualTexts, ...training }
}

/** An mlp on customers (seed 21 for classes, 22 for regression), the unusual customers predicted besides. */
export function customerCase(task: 'tabular-classification' | 'tabular-regression', count: number, training: Training): ModelCase {
  const regression = task === 'tabular-regression'
  const rows = () => customers(count, regression ? 22 : 21, task)
  return { name: `tabular mlp ${regression ? 'regression' : 'classification'}`, task, architecture: 'mlp', rows, unusual: unusualCustomers, ...training }
}

/** An image cnn on pictures (seed 31), three damaged ones predicted besides. */
export function pictureCase(pictures: Pictures, count: number, training: Training): ModelCase {
  const rows = () => pictures.rows(count, 31)
  return { name: 'image cnn', task: 'image-classification', architecture: 'cnn', rows, unusual: pictures.damaged(32), metadata: pictures.size, ...training }
}

export interface TrainedCase {
  data: PreparedData
  model: tfl.LayersModel
  /** The test split's raw rows. */
  heldOut: Row[]
  /** The held-out rows, then the unusual ones: what every copy of the model is run on. */
  rows: Row[]
  /** The model's own outputs for `rows`. */
  expected: Float32Array
}

async function trainCase(c: ModelCase): Promise<TrainedCase> {
  const all = c.rows()
  const hyperparameters = { ...baseHyperparameters, ...c.hyperparameters }
  const data = prepareRows(c.task, all, hyperparameters, c.metadata)
  const model = buildModel({ task: c.task, architecture: c.architecture, data, hyperparameters })
  await trainBriefly(model, data, c.epochs)
  const heldOut = data.test.rows.map((i) => all[i])
  const rows = [...heldOut, ...c.unusual]
  return { data, model, heldOut, rows, expected: await predictEncoded(model, data, rows) }
}

/** The case trained before the enclosing describe block's tests: the returned object is filled in then. */
export function trainedBeforeAll(c: ModelCase): TrainedCase {
  const trained = {} as TrainedCase
  beforeAll(async () => {
    Object.assign(trained, await trainCase(c))
  }, 60_000)
  return trained
}

/** Numeric-only tabular preprocessing that leaves values as they are (mean 0, std 1). */
export function identityTable(inputs: number, outputs: number): Preprocessing {
  const features = Array.from({ length: inputs }, (_, i) => ({ column: `f${i}`, type: 'numeric' as const, mean: 0, std: 1 }))
  const labels = Array.from({ length: outputs }, (_, i) => `class${i}`)
  return { kind: 'tabular', labelColumn: 'label', features, inputSize: inputs, labels, target: null }
}

/** Every weight redrawn from N(0, 0.5²): biases too, so none of them is trivially 0. */
export function randomizeWeights(model: tfl.LayersModel): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.mul(tf.randomNormal(w.shape), 0.5))))
}

/** An image cnn built for flat pixel rows (a Reshape first), with random weights; its data takes flat rows too. */
export function flatPixelCnn(pictures: Pictures, rows: Row[]): { data: PreparedData; model: tfl.LayersModel } {
  const hyperparameters = { ...baseHyperparameters, filters: 4, hiddenSize: 8 }
  const data = { ...prepareRows('image-classification', rows, hyperparameters, pictures.size), inputShape: [pictures.pixelColumns.length] }
  const model = buildModel({ task: 'image-classification', architecture: 'cnn', data, hyperparameters })
  randomizeWeights(model)
  return { data, model }
}

export interface JobOverrides {
  dataset?: Partial<JobConfig['dataset']>
  hyperparameters?: Partial<JobConfig['hyperparameters']>
  output?: Partial<JobConfig['output']>
  options?: Partial<JobConfig['options']>
}

/** A job config as the trainer reads it: 5 epochs of constant-rate training, no dropout, seed 42, unless overridden. */
export function jobConfig(task: Task, architecture: Architecture, overrides: JobOverrides = {}): JobConfig {
  return {
    name: 'test',
    description: null,
    priority: 0,
    model: { baseModel: 'test', task, architecture },
    dataset: { id: 'dataset-test', validationSplit: 0.1, testSplit: 0.1, ...overrides.dataset },
    hyperparameters: {
      learningRate: 0.01,
      batchSize: 32,
      epochs: 5,
      warmupSteps: 0,
      weightDecay: 0,
      gradientClipping: null,
      lrSchedule: 'constant',
      dropout: 0,
      ...overrides.hyperparameters,
    },
    resources: { instanceType: 'cpu.small', instanceCount: 1, distributed: false },
    output: { checkpointInterval: null, saveBestOnly: false, exportFormat: null, ...overrides.output },
    options: {
      enableEarlyStopping: false,
      earlyStoppingPatience: 3,
      earlyStoppingMetric: 'valLoss',
      earlyStoppingMinDelta: 0,
      enableMixedPrecision: false,
      enableLogging: true,
      seed: 42,
      maxRetries: 0,
      maxRuntimeSeconds: null,
      ...overrides.options,
    },
  }
}

// ---------------------------------------------------------------- file setup

/**
 * Makes the file's training reproducible and runs it on wasm: weight
 * initialization and shuffling draw from Math.random, seeded here until the
 * file ends.
 */
export function useSeededWasm(seed: number): void {
  const realRandom = Math.random
  beforeAll(async () => {
    Math.random = createRandom(seed)
    expect((await selectBackend({ prefer: 'wasm' })).name).toBe('wasm')
  })
  afterAll(() => {
    Math.random = realRandom
  })
}

/** Collects a line of figures per case and prints them under `title` when the file ends. */
export function reportFigures(title: string): string[] {
  const figures: string[] = []
  afterAll(() => console.log([title, ...figures].join('\n')))
  return figures
}

// ---------------------------------------------------------------- comparisons

/** The model on encodeInputs of the rows, regression values in original units: what the service answers. */
export async function predictEncoded(model: tfl.LayersModel, data: PreparedData, rows: Row[]): Promise<Float32Array> {
  const { x, count } = encodeInputs(data.preprocessing, rows)
  const outputs = await predictBatches(model, x, count, data.inputShape, 128)
  return data.preprocessing.kind === 'tabular' ? toOriginalUnits(outputs, data.preprocessing.target) : outputs
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}

/** The target's std for regression (outputs are in original units), else 1: the scale tolerances are given in. */
export function targetUnit(data: PreparedData): number {
  return data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1
}

/**
 * int8 weights keep the model's predictions: regression values within 2% of
 * the target's spread (far below the model's own error); classes the same on
 * 99% of the rows, held-out accuracy above 0.8 and down by at most 0.01.
 * Returns a classifier's accuracy figures, to append to its line of figures.
 */
export function expectInt8KeepsPredictions(trained: TrainedCase, int8: Float32Array): string {
  const { data, heldOut, rows, expected } = trained
  if (data.numClasses === null) {
    expect(maxAbsDiff(int8, expected)).toBeLessThanOrEqual(0.02 * targetUnit(data))
    return ''
  }
  const before = argMaxRows(expected, data.numClasses)
  const after = argMaxRows(int8, data.numClasses)
  const agreeing = before.filter((p, i) => p === after[i]).length
  const { labels, labelColumn } = data.preprocessing
  const accuracy = (predicted: Int32Array) => heldOut.filter((row, i) => labels![predicted[i]] === String(row[labelColumn])).length / heldOut.length
  const figures = `accuracy fp32 ${accuracy(before).toFixed(3)}, int8 ${accuracy(after).toFixed(3)}, agreement ${agreeing}/${rows.length}`
  expect(agreeing / rows.length, figures).toBeGreaterThanOrEqual(0.99)
  expect(accuracy(before), figures).toBeGreaterThan(0.8)
  expect(accuracy(before) - accuracy(after), figures).toBeLessThanOrEqual(0.01)
  return `; ${figures}`
}

/**
 * A tfjs export's input from raw rows (objects by column), as its
 * preprocessing.json describes it: token ids, raw numeric values with one-hot
 * categories (the last slot for unseen values), raw pixels in `shape`.
 */
export function tfjsRawInput(preprocessing: Preprocessing, rows: Row[], shape: number[]): tf.Tensor {
  if (preprocessing.kind === 'text') {
    const { x } = encodeInputs(preprocessing, rows)
    return tf.tensor2d(x as Int32Array, [rows.length, preprocessing.maxSequenceLength], 'int32')
  }
  if (preprocessing.kind === 'image') {
    const pixels = new Float32Array(rows.length * preprocessing.pixelColumns.length)
    const width = preprocessing.pixelColumns.length
    for (const [r, row] of rows.entries()) {
      for (const [c, column] of preprocessing.pixelColumns.entries()) pixels[r * width + c] = Number(row[column])
    }
    return tf.tensor(pixels, [rows.length, ...shape])
  }
  const values: number[] = []
  for (const row of rows) {
    for (const feature of preprocessing.features) {
      if (feature.type === 'numeric') values.push(Number(row[feature.column]))
      else {
        const categories = feature.categories ?? []
        const at = categories.indexOf(String(row[feature.column]))
        for (let i = 0; i <= categories.length; i++) values.push(i === (at < 0 ? categories.length : at) ? 1 : 0)
      }
    }
  }
  return tf.tensor2d(values, [rows.length, preprocessing.inputSize])
}
