// TensorFlow.js export of the built-in architectures: each model is trained
// briefly on generated rows, exported, unzipped and loaded with
// tf.loadLayersModel, then fed raw values built the way preprocessing.json
// describes them, against the service's model on encodeInputs of the same rows.
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { strFromU8, unzipSync } from 'fflate'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeInputs, prepareData, type Row } from '../../trainer/data/index.ts'
import { exportTfjs, TfjsExportError, tfjsUnsupported, type TfjsExport, type TfjsExportOptions } from '../../trainer/export/tfjs.ts'
import type { FeatureSlot, TfjsTensorSpec } from '../../trainer/export/tfjs-docs.ts'
import { quantizeUint8 } from '../../trainer/export/tfjs-weights.ts'
import { selectBackend } from '../../trainer/ml/backend.ts'
import { argMaxRows, predictBatches, toOriginalUnits } from '../../trainer/ml/evaluate.ts'
import '../../trainer/ml/layers/index.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import type { Architecture, JobConfig, PreparedData, Preprocessing, Task } from '../../trainer/ml/types.ts'

// ---------------------------------------------------------------- generated data

function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]

const syllables = ['ka', 'lo', 'mi', 'ren', 'ta', 'vu', 'shi', 'po', 'ne', 'da', 'ri', 'gu', 'sa', 'mo', 'ze', 'li']
const lexicon = syllables.flatMap((a) => syllables.flatMap((b) => syllables.map((c) => a + b + c)))
const topics = ['sports', 'science', 'music']

/** Texts whose topic shows in a few cue words among frequent and rare (out-of-vocabulary) filler words; long ones get cut. */
function topicTexts(count: number, seed: number): Row[] {
  const random = prng(seed)
  const cues = topics.map((_, t) => lexicon.slice(t * 15, (t + 1) * 15))
  const filler = lexicon.slice(45, 2800)
  return Array.from({ length: count }, (_, i) => {
    const topic = i % topics.length
    const words = Array.from({ length: 6 + Math.floor(random() * 24) }, () =>
      random() < 0.2 ? pick(cues[topic], random) : filler[Math.floor(filler.length * random() ** 2)],
    )
    return { text: `${words.join(' ')}${random() < 0.5 ? '.' : '!'}`, topic: topics[topic] }
  })
}

const unusualTexts: Row[] = [
  { text: '', topic: 'sports' },
  { text: null, topic: 'sports' },
  { text: 'Qwx zzyv, plorb!', topic: 'science' },
  { text: Array.from({ length: 80 }, (_, i) => lexicon[30 + (i % 15)]).join(' '), topic: 'music' },
]

const cities = ['Lyon', 'Oslo', 'Quito', 'Pune', 'Accra', 'Hanoi']
const cityEffect = [0.8, -0.6, 0.2, -0.3, 0.5, -0.9]
const plans = ['basic', 'pro', 'team']

/** Customers with large-valued, boolean and sometimes missing numeric columns and categorical ones; `score` drives both targets. */
function customers(count: number, seed: number, task: Task): Row[] {
  const random = prng(seed)
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

const unusualCustomers: Row[] = [
  { income: 61_000, age: 35, city: 'Atlantis', plan: 'pro', member: true },
  { income: null, age: null, city: null, plan: '', member: null },
  { income: '48000', age: '29', city: 'Pune', plan: 'basic', member: true },
]

const image = { width: 12, height: 10, channels: 3 }
const pixelColumns = Array.from({ length: image.width * image.height * image.channels }, (_, i) => `p${i}`)
const positions = ['left', 'center', 'right']

/** Noisy 0-255 RGB images with a faint square in the left, centre or right third, tinted per position. */
function pictures(count: number, seed: number): Row[] {
  const random = prng(seed)
  return Array.from({ length: count }, (_, n) => {
    const position = n % positions.length
    const x0 = Math.floor((position * image.width) / 3 + random() * 2)
    const y0 = Math.floor(random() * (image.height - 4))
    const row: Row = { label: positions[position] }
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const inside = x >= x0 && x < x0 + 3 && y >= y0 && y < y0 + 3
        for (let c = 0; c < image.channels; c++) {
          const base = inside ? (c === position ? 190 : 130) : 90
          row[pixelColumns[(y * image.width + x) * image.channels + c]] = Math.round(Math.min(255, Math.max(0, base + 40 * gaussian(random))))
        }
      }
    }
    return row
  })
}

const damagedPictures = (seed: number): Row[] => pictures(3, seed).map((row, i) => ({ ...row, [pixelColumns[5 * i]]: null, [pixelColumns[100 + i]]: '' }))

// ---------------------------------------------------------------- the client side: an unzipped archive in plain TF.js

interface PreprocessingDocument {
  task: Task
  inputs: TfjsTensorSpec[]
  outputs: TfjsTensorSpec[]
  labels: string[] | null
  featureLayout?: FeatureSlot[]
  foldedIntoWeights: string[]
  weights: { files: string[]; quantization: string | null; optimized: boolean }
  preprocessing: Preprocessing
  metadata: Record<string, unknown>
}

interface Archive {
  files: Record<string, Uint8Array>
  modelJson: tf.io.ModelJSON
  document: PreprocessingDocument
}

function unpack(exported: TfjsExport): Archive {
  const files = unzipSync(exported.archive)
  const json = (name: string) => JSON.parse(strFromU8(files[name])) as unknown
  return { files, modelJson: json('model.json') as tf.io.ModelJSON, document: json('preprocessing.json') as PreprocessingDocument }
}

function weightSpecs(archive: Archive): tf.io.WeightsManifestEntry[] {
  return archive.modelJson.weightsManifest.flatMap((group) => group.weights)
}

/** The shards in manifest order, as tf.io.http fetches and joins them. */
function weightData(archive: Archive): ArrayBuffer {
  const shards = archive.modelJson.weightsManifest.flatMap((group) => group.paths).map((path) => archive.files[path])
  return tf.io.CompositeArrayBuffer.join(shards.map((bytes) => bytes.slice().buffer))
}

function loadArchive(archive: Archive): Promise<tfl.LayersModel> {
  const { modelTopology, trainingConfig } = archive.modelJson
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: weightSpecs(archive), weightData: weightData(archive), trainingConfig }))
}

const isMissing = (value: unknown) => value == null || value === '' || (typeof value === 'number' && Number.isNaN(value))

/** The input a client builds from raw rows with preprocessing.json: raw numbers, one-hot categories, raw pixels, token ids. */
function rawInput(document: PreprocessingDocument, rows: Row[]): { values: Float32Array | Int32Array; shape: number[]; dtype: 'float32' | 'int32' } {
  const [spec] = document.inputs
  const shape = [rows.length, ...(spec.shape.slice(1) as number[])]
  const pre = document.preprocessing
  if (pre.kind === 'text') return { values: encodeInputs(pre, rows).x, shape, dtype: spec.dtype }
  const width = shape.slice(1).reduce((a, b) => a * b, 1)
  const values = new Float32Array(rows.length * width)
  rows.forEach((row, r) => {
    const x = values.subarray(r * width, (r + 1) * width)
    if (pre.kind === 'image') {
      pre.pixelColumns.forEach((column, i) => (x[i] = isMissing(row[column]) ? 0 : Number(row[column])))
      return
    }
    for (const slot of document.featureLayout!) {
      const value = row[slot.column]
      if (slot.type === 'numeric') {
        x[slot.index] = isMissing(value) ? slot.missing : Number(value)
      } else {
        const index = isMissing(value) ? -1 : slot.categories.indexOf(String(value))
        x[index < 0 ? slot.unseen : slot.offset + index] = 1
      }
    }
  })
  return { values, shape, dtype: spec.dtype }
}

async function predictArchive(archive: Archive, rows: Row[]): Promise<Float32Array> {
  const model = await loadArchive(archive)
  const { values, shape, dtype } = rawInput(archive.document, rows)
  const output = tf.tidy(() => model.predict(tf.tensor(values, shape, dtype)) as tf.Tensor)
  const result = (await output.data()) as Float32Array
  output.dispose()
  model.dispose()
  return result
}

/** The service's model on the encoded rows, regression values in original units. */
async function predictService(model: tfl.LayersModel, data: PreparedData, rows: Row[]): Promise<Float32Array> {
  const { x, count } = encodeInputs(data.preprocessing, rows)
  const outputs = await predictBatches(model, x, count, data.inputShape, 128)
  return data.preprocessing.kind === 'tabular' ? toOriginalUnits(outputs, data.preprocessing.target) : outputs
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}

function layerClasses(archive: Archive): string[] {
  const topology = archive.modelJson.modelTopology as { config: { layers: { class_name: string }[] } }
  return topology.config.layers.map((layer) => layer.class_name)
}

// ---------------------------------------------------------------- training

const baseHyperparameters: JobConfig['hyperparameters'] = {
  learningRate: 0.005,
  batchSize: 32,
  epochs: 1,
  warmupSteps: 0,
  weightDecay: 0,
  gradientClipping: null,
  lrSchedule: 'constant',
  dropout: 0.1,
}

function prepare(task: Task, rows: Row[], hyperparameters: JobConfig['hyperparameters'], metadata?: Record<string, unknown>): PreparedData {
  const dataset = { id: 'dataset-tfjs', validationSplit: 0.1, testSplit: 0.3 }
  return prepareData({ task, rows, columns: [], dataset, hyperparameters, seed: 7, metadata })
}

/** A few epochs of Adam: decisive outputs, far from a full training run. Compiling also gives the model a training config. */
async function train(model: tfl.LayersModel, data: PreparedData, epochs: number): Promise<void> {
  const regression = data.numClasses === null
  model.compile({ optimizer: tf.train.adam(0.005), loss: regression ? 'meanSquaredError' : 'sparseCategoricalCrossentropy' })
  const { train } = data
  const x = tf.tensor(train.x, [train.count, ...data.inputShape], data.inputDtype)
  const y = regression ? tf.tensor2d(train.y, [train.count, 1]) : tf.tensor1d(Float32Array.from(train.y))
  await model.fit(x, y, { epochs, batchSize: 32, verbose: 0 })
  tf.dispose([x, y])
}

interface Case {
  name: string
  task: Task
  architecture: Architecture
  rows: () => Row[]
  unusual: Row[]
  hyperparameters: Partial<JobConfig['hyperparameters']>
  metadata?: Record<string, unknown>
  epochs: number
  customLayers: boolean
}

const textSizes = { vocabSize: 2000, maxSequenceLength: 24 }
const cases: Case[] = [
  {
    name: 'text bag-of-embeddings',
    task: 'text-classification',
    architecture: 'bag-of-embeddings',
    rows: () => topicTexts(600, 11),
    unusual: unusualTexts,
    hyperparameters: { ...textSizes, embeddingDim: 64 },
    epochs: 4,
    customLayers: true,
  },
  {
    name: 'text cnn',
    task: 'text-classification',
    architecture: 'cnn',
    rows: () => topicTexts(600, 11),
    unusual: unusualTexts,
    hyperparameters: { ...textSizes, embeddingDim: 32, filters: 32, kernelSize: 3, numLayers: 1 },
    epochs: 2,
    customLayers: false,
  },
  {
    name: 'text transformer',
    task: 'text-classification',
    architecture: 'transformer',
    rows: () => topicTexts(600, 11),
    unusual: unusualTexts,
    hyperparameters: { ...textSizes, hiddenSize: 32, embeddingDim: 32, numHeads: 2, numLayers: 1 },
    epochs: 3,
    customLayers: true,
  },
  {
    name: 'tabular mlp classification',
    task: 'tabular-classification',
    architecture: 'mlp',
    rows: () => customers(800, 21, 'tabular-classification'),
    unusual: unusualCustomers,
    hyperparameters: { hiddenSize: 256, numLayers: 2 },
    epochs: 6,
    customLayers: false,
  },
  {
    name: 'tabular mlp regression',
    task: 'tabular-regression',
    architecture: 'mlp',
    rows: () => customers(800, 22, 'tabular-regression'),
    unusual: unusualCustomers,
    hyperparameters: { hiddenSize: 256, numLayers: 2 },
    epochs: 6,
    customLayers: false,
  },
  {
    name: 'image cnn',
    task: 'image-classification',
    architecture: 'cnn',
    rows: () => pictures(450, 31),
    unusual: damagedPictures(32),
    metadata: image,
    hyperparameters: { filters: 8, kernelSize: 3, numLayers: 2, hiddenSize: 64 },
    epochs: 3,
    customLayers: false,
  },
]

// ---------------------------------------------------------------- tests

const figures: string[] = []
const realRandom = Math.random

beforeAll(async () => {
  // Weight initialization and shuffling draw from Math.random: seeded, the thresholds below are reproducible.
  Math.random = prng(1234)
  expect((await selectBackend({ prefer: 'wasm' })).name).toBe('wasm')
})

afterAll(() => {
  Math.random = realRandom
  console.log(['TF.js export (weight bytes fp32/int8/float16, archive bytes fp32/int8; max |diff| vs the service model)', ...figures].join('\n'))
})

type Variant = Pick<TfjsExportOptions, 'optimize' | 'quantize'>
const variantKey = ({ optimize, quantize }: Variant) => `${optimize}/${quantize}`

for (const c of cases) {
  describe(c.name, () => {
    let data: PreparedData
    let model: tfl.LayersModel
    let rows: Row[]
    let heldOut: Row[]
    let expected: Float32Array
    const exports = new Map<string, TfjsExport>()
    const diffs = new Map<string, number>()
    let int8Accuracy = ''

    const exported = async (variant: Variant) => {
      const key = variantKey(variant)
      if (!exports.has(key)) exports.set(key, await exportTfjs(model, data.preprocessing, { ...variant, metadata: { jobId: 'job-tfjs-test' } }))
      return exports.get(key)!
    }
    const compare = async (variant: Variant) => {
      const output = await predictArchive(unpack(await exported(variant)), rows)
      diffs.set(variantKey(variant), maxAbsDiff(output, expected))
      return output
    }
    /** Regression values are in original units: compared in units of the target's spread, as float32 rounds 180 to 1.5e-5. */
    const unit = () => (data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1)

    beforeAll(async () => {
      const all = c.rows()
      const hyperparameters = { ...baseHyperparameters, ...c.hyperparameters }
      data = prepare(c.task, all, hyperparameters, c.metadata)
      model = buildModel({ task: c.task, architecture: c.architecture, data, hyperparameters })
      await train(model, data, c.epochs)
      heldOut = data.test.rows.map((i) => all[i])
      rows = [...heldOut, ...c.unusual]
      expected = await predictService(model, data, rows)
    }, 60_000)

    afterAll(() => {
      const of = (variant: Variant) => exports.get(variantKey(variant))
      const fp32 = of({ optimize: true, quantize: null })
      const int8 = of({ optimize: true, quantize: 'int8' })
      const half = of({ optimize: true, quantize: 'float16' })
      const diff = (variant: Variant) => diffs.get(variantKey(variant))?.toExponential(1) ?? '-'
      const percent = fp32 && int8 ? ` (${((100 * int8.weightBytes) / fp32.weightBytes).toFixed(1)}%)` : ''
      figures.push(
        `${c.name.padEnd(28)} ${fp32?.weightBytes}/${int8?.weightBytes}${percent}/${half?.weightBytes}, archive ${fp32?.archive.length}/${int8?.archive.length}; ` +
          `fp32 ${diff({ optimize: false, quantize: null })}/${diff({ optimize: true, quantize: null })}, ` +
          `int8 ${diff({ optimize: true, quantize: 'int8' })}, float16 ${diff({ optimize: true, quantize: 'float16' })}${int8Accuracy}`,
      )
    })

    it('matches the service model within 1e-4 (of the target std for regression) on raw values in float32, optimized or not', async () => {
      expect(tfjsUnsupported(model)).toBeNull()
      for (const optimize of [false, true]) {
        expect(maxAbsDiff(await compare({ optimize, quantize: null }), expected), `optimize ${optimize}`).toBeLessThanOrEqual(1e-4 * unit())
      }
      const plain = unpack(await exported({ optimize: false, quantize: null }))
      const optimized = unpack(await exported({ optimize: true, quantize: null }))
      expect(layerClasses(plain)).toContain('Dropout')
      expect(layerClasses(optimized)).not.toContain('Dropout')
      expect(plain.modelJson.trainingConfig).toBeDefined()
      expect(optimized.modelJson.trainingConfig).toBeUndefined()
    })

    it('holds model.json, its weights, preprocessing.json, the README and custom-layers.js when needed', async () => {
      const result = await exported({ optimize: true, quantize: null })
      const archive = unpack(result)
      expect(Object.keys(archive.files).sort()).toEqual([...result.files].sort())
      const shards = archive.modelJson.weightsManifest.flatMap((group) => group.paths)
      expect(shards).toEqual(['group1-shard1of1.bin'])
      expect(result.weightBytes).toBe(archive.files['group1-shard1of1.bin'].length)
      expect(archive.modelJson).toMatchObject({ format: 'layers-model', generatedBy: expect.stringContaining('tfjs-layers') })
      expect('custom-layers.js' in archive.files).toBe(c.customLayers)

      const document = archive.document
      expect(document).toMatchObject({ task: c.task, inputs: result.inputs, outputs: result.outputs, metadata: { jobId: 'job-tfjs-test' } })
      expect(document.preprocessing).toEqual(data.preprocessing)
      expect(document.labels).toEqual(data.preprocessing.labels)
      expect(result.outputs[0].name).toBe(c.task === 'tabular-regression' ? 'value' : 'probabilities')
      if (c.task === 'text-classification') expect(result.inputs[0]).toMatchObject({ dtype: 'int32', shape: ['batch', textSizes.maxSequenceLength] })
      for (const spec of [...result.inputs, ...result.outputs]) expect(spec.description.length).toBeGreaterThan(40)
      const readme = strFromU8(archive.files['README.md'])
      expect(readme).toContain('tf.loadLayersModel')
      expect(readme).toContain(result.inputs[0].name)
      expect(readme.includes("import './custom-layers.js'")).toBe(c.customLayers)
    })

    it('stays within 1e-2 with float16 weights (of the target std for regression)', async () => {
      expect(maxAbsDiff(await compare({ optimize: true, quantize: 'float16' }), expected)).toBeLessThanOrEqual(1e-2 * unit())
      const archive = unpack(await exported({ optimize: true, quantize: 'float16' }))
      expect(weightSpecs(archive).some((spec) => spec.quantization?.dtype === 'float16')).toBe(true)
    })

    it('shrinks the weights to at most 30% with int8 and keeps the predictions', async () => {
      const int8 = await exported({ optimize: true, quantize: 'int8' })
      expect(int8.weightBytes / (await exported({ optimize: true, quantize: null })).weightBytes).toBeLessThanOrEqual(0.3)
      const specs = weightSpecs(unpack(int8))
      expect(specs.some((spec) => spec.quantization?.dtype === 'uint8')).toBe(true)
      if (c.task.startsWith('tabular-')) {
        // Rows divided by stds from ~0.5 to ~15000 share one tensor: per-tensor levels would wipe out the small ones.
        const standardizing = model.layers[1].weights[0].originalName
        expect(specs.find((spec) => spec.name === standardizing)?.quantization).toBeUndefined()
      }
      const output = await compare({ optimize: true, quantize: 'int8' })
      if (c.task === 'tabular-regression') {
        // A quantization error well below the model's own error: within 2% of the target's spread.
        expect(maxAbsDiff(output, expected)).toBeLessThanOrEqual(0.02 * unit())
        return
      }
      const classes = data.numClasses!
      const before = argMaxRows(expected, classes)
      const after = argMaxRows(output, classes)
      const agreeing = before.filter((p, i) => p === after[i]).length
      const { labels, labelColumn } = data.preprocessing
      const accuracy = (predicted: Int32Array) => heldOut.filter((row, i) => labels![predicted[i]] === String(row[labelColumn])).length / heldOut.length
      int8Accuracy = `; accuracy fp32 ${accuracy(before).toFixed(3)}, int8 ${accuracy(after).toFixed(3)}, agreement ${agreeing}/${rows.length}`
      expect(agreeing / rows.length).toBeGreaterThanOrEqual(0.99)
      expect(accuracy(before)).toBeGreaterThan(0.8)
      expect(accuracy(before) - accuracy(after)).toBeLessThanOrEqual(0.01)
    })

    if (c.customLayers) {
      it('loads in a fresh Node process that imports only TF.js and custom-layers.js', async () => {
        const archive = unpack(await exported({ optimize: true, quantize: null }))
        expect(maxAbsDiff(await predictInPlainTfjs(archive, rows), expected)).toBeLessThanOrEqual(1e-4)
      })
    }
  })
}

// ---------------------------------------------------------------- a plain TF.js app

const execFileAsync = promisify(execFile)
/** Under the project, so that the app's bare '@tensorflow/…' imports resolve to the installed packages. */
const appRoot = join(import.meta.dirname, '../../node_modules/.cache/tfjs-export-test')

const plainApp = `
import { readFile, writeFile } from 'node:fs/promises'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import './custom-layers.js'

const json = JSON.parse(await readFile('model.json', 'utf8'))
const shards = await Promise.all(json.weightsManifest.flatMap((group) => group.paths).map((path) => readFile(path)))
const weightData = tf.io.CompositeArrayBuffer.join(shards.map((bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)))
const weightSpecs = json.weightsManifest.flatMap((group) => group.weights)
const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }))
const input = JSON.parse(await readFile('input.json', 'utf8'))
const output = model.predict(tf.tensor(input.values, input.shape, input.dtype))
await writeFile('output.json', JSON.stringify(Array.from(await output.data())))
`

/** Runs the unzipped archive in a child Node process that knows nothing of the service's code. */
async function predictInPlainTfjs(archive: Archive, rows: Row[]): Promise<Float32Array> {
  const dir = join(appRoot, `app-${process.pid}-${Date.now()}`)
  await mkdir(dir, { recursive: true })
  try {
    for (const [name, bytes] of Object.entries(archive.files)) await writeFile(join(dir, name), bytes)
    const { values, shape, dtype } = rawInput(archive.document, rows)
    await writeFile(join(dir, 'input.json'), JSON.stringify({ values: Array.from(values), shape, dtype }))
    await writeFile(join(dir, 'app.mjs'), plainApp)
    await execFileAsync(process.execPath, ['app.mjs'], { cwd: dir })
    return Float32Array.from(JSON.parse(await readFile(join(dir, 'output.json'), 'utf8')) as number[])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- beyond the built-in models

/** Numeric-only tabular preprocessing that leaves values as they are (mean 0, std 1). */
function identityTable(inputs: number, outputs: number): Preprocessing {
  const features = Array.from({ length: inputs }, (_, i) => ({ column: `f${i}`, type: 'numeric' as const, mean: 0, std: 1 }))
  const labels = Array.from({ length: outputs }, (_, i) => `class${i}`)
  return { kind: 'tabular', labelColumn: 'label', features, inputSize: inputs, labels, target: null }
}

function randomRows(count: number, inputs: number, seed: number): Row[] {
  const random = prng(seed)
  return Array.from({ length: count }, () => Object.fromEntries(Array.from({ length: inputs }, (_, i) => [`f${i}`, 2 * gaussian(random)])))
}

function randomizeWeights(model: tfl.LayersModel): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.mul(tf.randomNormal(w.shape), 0.5))))
}

const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor) => layer.apply(x) as tfl.SymbolicTensor

describe('model structure', () => {
  it('rewires a Sequential model whose first layer is a Dropout, keeping its input shape', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dropout({ rate: 0.3, inputShape: [5] }), tfl.layers.dense({ units: 3, activation: 'softmax' })] })
    randomizeWeights(model)
    const preprocessing = identityTable(5, 3)
    const rows = randomRows(8, 5, 3)
    const archive = unpack(await exportTfjs(model, preprocessing, { optimize: true, quantize: null }))
    expect(layerClasses(archive)).toEqual(['Dense'])
    const { x } = encodeInputs(preprocessing, rows)
    expect(maxAbsDiff(await predictArchive(archive, rows), await predictBatches(model, x, rows.length, [5], 8))).toBeLessThanOrEqual(1e-6)
  })

  it('leaves no tensors behind, with the training config or without', async () => {
    const input = tfl.input({ shape: [4] })
    const model = tfl.model({ inputs: input, outputs: apply(tfl.layers.dense({ units: 2, activation: 'softmax' }), input) })
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' })
    const before = tf.memory().numTensors
    for (const optimize of [false, true]) await exportTfjs(model, identityTable(4, 2), { optimize, quantize: 'int8' })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('folds the pixel scale through the Reshape of an image cnn built for flat pixel rows', async () => {
    const all = pictures(30, 41)
    const hyperparameters = { ...baseHyperparameters, filters: 4, hiddenSize: 8 }
    const data = prepare('image-classification', all, hyperparameters, image)
    const flat = { ...data, inputShape: [pixelColumns.length] }
    const model = buildModel({ task: 'image-classification', architecture: 'cnn', data: flat, hyperparameters })
    expect(model.layers.map((layer) => layer.getClassName())).toContain('Reshape')
    randomizeWeights(model)
    const rows = [...all, ...damagedPictures(42)]
    const archive = unpack(await exportTfjs(model, data.preprocessing, { optimize: true, quantize: null }))
    expect(archive.document.inputs[0].shape).toEqual(['batch', pixelColumns.length])
    expect(maxAbsDiff(await predictArchive(archive, rows), await predictService(model, flat, rows))).toBeLessThanOrEqual(1e-4)
  })

  it('splits weights over 4 MiB into shards that load back in manifest order', async () => {
    const tokens = tfl.input({ shape: [6], dtype: 'int32', name: 'tokens' })
    const embedded = apply(tfl.layers.embedding({ inputDim: 17_000, outputDim: 64 }), tokens)
    const output = apply(tfl.layers.dense({ units: 2, activation: 'softmax' }), apply(tfl.layers.flatten({}), embedded))
    const model = tfl.model({ inputs: tokens, outputs: output })
    randomizeWeights(model)
    const preprocessing: Preprocessing = {
      kind: 'text',
      textColumn: 'text',
      labelColumn: 'label',
      tokenizer: { lowercase: true, cjkCharacters: true },
      vocabulary: ['<pad>', '<oov>', ...lexicon.slice(0, 3000)],
      maxSequenceLength: 6,
      labels: ['a', 'b'],
    }
    const rows: Row[] = [{ text: lexicon.slice(0, 6).join(' ') }, { text: lexicon.slice(2990, 2997).join(' ') }, { text: 'zzz' }]
    const archive = unpack(await exportTfjs(model, preprocessing, { optimize: true, quantize: null }))
    expect(archive.modelJson.weightsManifest[0].paths).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin'])
    expect(archive.files['group1-shard1of2.bin'].length).toBe(4 * 1024 * 1024)
    const { x } = encodeInputs(preprocessing, rows)
    expect(maxAbsDiff(await predictArchive(archive, rows), await predictBatches(model, x, rows.length, [6], 8))).toBeLessThanOrEqual(1e-6)
  })
})

describe('unsupported models', () => {
  class Doubling extends tfl.layers.Layer {
    static readonly className = 'Doubling'
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 2)
    }
  }
  type Initializer = ReturnType<typeof tfl.initializers.zeros>
  // tfjs-layers does not export its Initializer base class: reach it through a built-in initializer.
  const InitializerBase = Object.getPrototypeOf(tfl.initializers.zeros().constructor) as (abstract new () => Initializer) &
    Pick<typeof tf.serialization.Serializable, 'fromConfig'>
  class HalfOnes extends InitializerBase {
    static readonly className = 'HalfOnes'
    apply(shape: number[]): tf.Tensor {
      return tf.fill(shape, 0.5)
    }
  }

  /** Registered after the export module loaded: this process can rebuild them, a plain TF.js app cannot. */
  beforeAll(() => {
    tf.serialization.registerClass(Doubling)
    tf.serialization.registerClass(HalfOnes)
  })

  const table = identityTable(4, 2)
  const head = (x: tfl.SymbolicTensor) => apply(tfl.layers.dense({ units: 2, activation: 'softmax' }), x)

  it('names a layer that is neither TF.js nor the service’s, and exports nothing', async () => {
    const input = tfl.input({ shape: [4] })
    const model = tfl.model({ inputs: input, outputs: head(apply(new Doubling({ name: 'doubling' }), input)) })
    const message = 'layer "doubling" (Doubling) is neither a TF.js layer nor one of the service\'s custom layers'
    expect(tfjsUnsupported(model)).toContain(message)
    await expect(exportTfjs(model, table, { optimize: true, quantize: null })).rejects.toThrow(TfjsExportError)
    await expect(exportTfjs(model, table, { optimize: true, quantize: null })).rejects.toThrow(message)
  })

  it('refuses a model with more than one input', () => {
    const [a, b] = [tfl.input({ shape: [2] }), tfl.input({ shape: [2] })]
    const joined = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor
    const model = tfl.model({ inputs: [a, b], outputs: head(joined) })
    expect(tfjsUnsupported(model)).toBe('the model has 2 inputs and 1 outputs; TF.js export takes models with one of each')
  })

  it('names a layer whose configuration holds an unknown class', () => {
    const input = tfl.input({ shape: [4] })
    const hidden = tfl.layers.dense({ units: 3, name: 'hidden', kernelInitializer: new HalfOnes() })
    const model = tfl.model({ inputs: input, outputs: head(apply(hidden, input)) })
    expect(tfjsUnsupported(model)).toBe('layer "hidden" (Dense) uses HalfOnes, which a TF.js app could not load')
  })

  it('refuses models whose layers cannot absorb the preprocessing', async () => {
    const features = Array.from({ length: 4 }, (_, i) => ({ column: `f${i}`, type: 'numeric' as const, mean: 3, std: 2 }))
    const standardized: Preprocessing = { kind: 'tabular', labelColumn: 'label', features, inputSize: 4, labels: ['a', 'b'], target: null }
    const noBias = tfl.input({ shape: [4] })
    const biasless = tfl.model({ inputs: noBias, outputs: head(apply(tfl.layers.dense({ units: 3, useBias: false, name: 'first' }), noBias)) })
    await expect(exportTfjs(biasless, standardized, { optimize: true, quantize: null })).rejects.toThrow('cannot fold the tabular standardization into layer "first": it has no bias')
    const normed = tfl.input({ shape: [4] })
    const normFirst = tfl.model({ inputs: normed, outputs: head(apply(tfl.layers.batchNormalization({ name: 'norm' }), normed)) })
    await expect(exportTfjs(normFirst, standardized, { optimize: true, quantize: null })).rejects.toThrow('layer "norm" (BatchNormalization) before any Dense')
    const regression: Preprocessing = { ...standardized, labels: null, target: { mean: 5, std: 2 } }
    const sigmoidInput = tfl.input({ shape: [4] })
    const squashed = tfl.model({ inputs: sigmoidInput, outputs: apply(tfl.layers.dense({ units: 1, activation: 'sigmoid', name: 'out' }), sigmoidInput) })
    await expect(exportTfjs(squashed, regression, { optimize: true, quantize: null })).rejects.toThrow('output layer "out" (Dense): it is not a linear Dense')
  })
})

describe('weight quantization', () => {
  it('stores 256 levels from min to max with zero exactly on a level, as tensorflowjs_converter does', () => {
    const values = Float32Array.of(-1, -0.5, 0, 0.3, 2)
    const { data, scale, min } = quantizeUint8(values)
    expect(scale).toBeCloseTo(3 / 255, 12)
    expect(min / scale).toBe(Math.round(min / scale))
    const restored = Array.from(data, (q) => q * scale + min)
    expect(restored[2]).toBe(0)
    for (let i = 0; i < values.length; i++) expect(Math.abs(restored[i] - values[i])).toBeLessThanOrEqual(scale / 2 + 1e-9)
    expect(quantizeUint8(Float32Array.of(0.7, 0.7))).toMatchObject({ scale: 1, min: Math.fround(0.7) })
  })
})
