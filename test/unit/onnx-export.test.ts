// ONNX export of the built-in architectures: each model is trained briefly on
// generated rows, exported, and run in onnxruntime on the raw rows (as a
// client would send them) against TF.js on encodeInputs of the same rows.
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import pkg from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRandom, encodeInputs, prepareData, type Row } from '../../trainer/data/index.ts'
import { exportOnnx, onnxUnsupported, OnnxExportError, preprocessingFromOnnxMetadata, type OnnxExport } from '../../trainer/export/onnx.ts'
import { quantizeInt8, toFloat16 } from '../../trainer/export/onnx-graph.ts'
import { activationNames } from '../../trainer/export/onnx-layers.ts'
import { selectBackend } from '../../trainer/ml/backend.ts'
import { argMaxRows, predictBatches, toOriginalUnits } from '../../trainer/ml/evaluate.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import type { Architecture, JobConfig, PreparedData, Preprocessing, Task } from '../../trainer/ml/types.ts'

const proto = pkg.onnx

// ---------------------------------------------------------------- generated data


function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]

const syllables = ['ka', 'lo', 'mi', 'ren', 'ta', 'vu', 'shi', 'po', 'ne', 'da', 'ri', 'gu', 'sa', 'mo', 'ze', 'li']
/** 4096 made-up three-syllable words. */
const lexicon = syllables.flatMap((a) => syllables.flatMap((b) => syllables.map((c) => a + b + c)))
const topics = ['sports', 'science', 'music']

/**
 * Texts whose topic shows in a few cue words among common filler words. The
 * filler draws favour the first words, so a 2000-word vocabulary leaves the
 * rare ones out-of-vocabulary; 8-40 tokens, so long texts get cut at 32.
 */
function topicTexts(count: number, seed: number): Row[] {
  const random = createRandom(seed)
  const cues = topics.map((_, t) => lexicon.slice(t * 15, (t + 1) * 15))
  const filler = lexicon.slice(45, 2800)
  return Array.from({ length: count }, (_, i) => {
    const topic = i % topics.length
    const words = Array.from({ length: 8 + Math.floor(random() * 32) }, () =>
      random() < 0.2 ? pick(cues[topic], random) : filler[Math.floor(filler.length * random() ** 2)],
    )
    words[0] = words[0][0].toUpperCase() + words[0].slice(1)
    return { text: `${words.join(' ')}${random() < 0.5 ? '.' : '!'}`, topic: topics[topic] }
  })
}

/** Texts no training row looks like: empty, missing, all out-of-vocabulary, upper-case cues, CJK characters, far too long. */
const unusualTexts: Row[] = [
  { text: '', topic: 'sports' },
  { text: null, topic: 'sports' },
  { text: 'Qwx zzyv, plorb!', topic: 'science' },
  { text: `${lexicon[16].toUpperCase()} ${lexicon[17].toUpperCase()} 音乐`, topic: 'science' },
  { text: Array.from({ length: 80 }, (_, i) => lexicon[30 + (i % 15)]).join(' '), topic: 'music' },
]

const cities = ['Lyon', 'Oslo', 'Quito', 'Pune', 'Accra', 'Hanoi']
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

const image = { width: 16, height: 12, channels: 3 }
const pixelColumns = Array.from({ length: image.width * image.height * image.channels }, (_, i) => `p${i}`)
const positions = ['left', 'center', 'right']

/** Noisy 0-255 RGB images with a faint square in the left, centre or right third, tinted per position (hard enough that outputs do not saturate). */
function pictures(count: number, seed: number): Row[] {
  const random = createRandom(seed)
  return Array.from({ length: count }, (_, n) => {
    const position = n % positions.length
    const x0 = Math.floor((position * image.width) / 3 + random() * 2)
    const y0 = Math.floor(random() * (image.height - 4))
    const row: Row = { label: positions[position] }
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const inside = x >= x0 && x < x0 + 4 && y >= y0 && y < y0 + 4
        for (let c = 0; c < image.channels; c++) {
          const base = inside ? (c === position ? 190 : 130) : 90
          row[pixelColumns[(y * image.width + x) * image.channels + c]] = Math.round(Math.min(255, Math.max(0, base + 40 * gaussian(random))))
        }
      }
    }
    return row
  })
}

/** Pictures with missing pixels (null, empty text). */
function damagedPictures(seed: number): Row[] {
  return pictures(3, seed).map((row, i) => ({ ...row, [pixelColumns[5 * i]]: null, [pixelColumns[100 + i]]: '' }))
}

// ---------------------------------------------------------------- the client side: raw rows as ONNX inputs

const asNumber = (value: unknown) => (typeof value === 'boolean' ? Number(value) : value == null || value === '' ? Number.NaN : Number(value))

/** The feeds a client builds from raw rows, as the exported TensorSpecs describe them. */
function feedsFor(preprocessing: Preprocessing, rows: Row[]): Record<string, ort.Tensor> {
  const n = rows.length
  switch (preprocessing.kind) {
    case 'text': {
      const { x } = encodeInputs(preprocessing, rows)
      return { tokens: new ort.Tensor('int64', BigInt64Array.from(x, BigInt), [n, preprocessing.maxSequenceLength]) }
    }
    case 'image': {
      const pixels = Float32Array.from(rows.flatMap((row) => preprocessing.pixelColumns.map((c) => asNumber(row[c]))))
      return { pixels: new ort.Tensor('float32', pixels, [n, preprocessing.pixelColumns.length]) }
    }
    case 'tabular': {
      const numeric = preprocessing.features.filter((f) => f.type === 'numeric').map((f) => f.column)
      const categorical = preprocessing.features.filter((f) => f.type === 'categorical').map((f) => f.column)
      const feeds: Record<string, ort.Tensor> = {}
      if (numeric.length > 0) {
        feeds.numeric = new ort.Tensor('float32', Float32Array.from(rows.flatMap((row) => numeric.map((c) => asNumber(row[c])))), [n, numeric.length])
      }
      if (categorical.length > 0) {
        feeds.categorical = new ort.Tensor('string', rows.flatMap((row) => categorical.map((c) => (row[c] == null ? '' : String(row[c])))), [n, categorical.length])
      }
      return feeds
    }
  }
}

async function runOnnx(exported: OnnxExport, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(exported.bytes)
  try {
    const outputs = await session.run(feeds)
    return outputs[exported.outputs[0].name].data as Float32Array
  } finally {
    await session.release()
  }
}

/** TF.js on the encoded rows, regression values in original units. */
async function predictTf(model: tfl.LayersModel, data: PreparedData, rows: Row[]): Promise<Float32Array> {
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

function decode(exported: OnnxExport) {
  return proto.ModelProto.decode(exported.bytes)
}

type DeclaredValues = NonNullable<ReturnType<typeof decode>['graph']>['input']

/** Name and shape of each declared graph input or output (dynamic dimensions by name). */
function declared(values: DeclaredValues): { name: string; shape: (number | string)[] }[] {
  return values!.map((v) => ({ name: v.name!, shape: v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))) }))
}

function opTypes(exported: OnnxExport): Set<string> {
  return new Set(decode(exported).graph!.node!.map((node) => node.opType!))
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
  const dataset = { id: 'dataset-onnx', validationSplit: 0.1, testSplit: 0.3 }
  return prepareData({ task, rows, columns: [], dataset, hyperparameters, seed: 7, metadata })
}

/** A few epochs of Adam: enough for decisive outputs, far from the training loop's full run. */
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
  /** Ops the optimized float32 graph folds away. */
  folded: string[]
}

const textSizes = { vocabSize: 2000, maxSequenceLength: 32 }
const cases: Case[] = [
  {
    name: 'text bag-of-embeddings',
    task: 'text-classification',
    architecture: 'bag-of-embeddings',
    rows: () => topicTexts(900, 11),
    unusual: unusualTexts,
    hyperparameters: { ...textSizes, embeddingDim: 64 },
    epochs: 3,
    folded: [],
  },
  {
    name: 'text cnn',
    task: 'text-classification',
    architecture: 'cnn',
    rows: () => topicTexts(900, 11),
    unusual: unusualTexts,
    // An even kernel pads one more position after than before.
    hyperparameters: { ...textSizes, embeddingDim: 64, filters: 64, kernelSize: 4, numLayers: 2 },
    epochs: 2,
    folded: [],
  },
  {
    name: 'text transformer',
    task: 'text-classification',
    architecture: 'transformer',
    rows: () => topicTexts(900, 11),
    unusual: unusualTexts,
    // embeddingDim ≠ hiddenSize adds the projection: a Dense on [batch, length, dim].
    hyperparameters: { ...textSizes, hiddenSize: 64, embeddingDim: 48, numHeads: 4, numLayers: 2 },
    epochs: 3,
    folded: [],
  },
  {
    name: 'tabular mlp classification',
    task: 'tabular-classification',
    architecture: 'mlp',
    rows: () => customers(1000, 21, 'tabular-classification'),
    unusual: unusualCustomers,
    hyperparameters: { hiddenSize: 256, numLayers: 2 },
    epochs: 8,
    folded: ['OneHot', 'Concat', 'Sub', 'Div'],
  },
  {
    name: 'tabular mlp regression',
    task: 'tabular-regression',
    architecture: 'mlp',
    rows: () => customers(1000, 22, 'tabular-regression'),
    unusual: unusualCustomers,
    hyperparameters: { hiddenSize: 256, numLayers: 2 },
    epochs: 8,
    folded: ['OneHot', 'Concat', 'Sub', 'Div', 'Mul'],
  },
  {
    name: 'image cnn',
    task: 'image-classification',
    architecture: 'cnn',
    rows: () => pictures(600, 31),
    unusual: damagedPictures(32),
    metadata: image,
    hyperparameters: { filters: 16, kernelSize: 3, numLayers: 2, hiddenSize: 128 },
    epochs: 3,
    folded: ['Div'],
  },
]

// ---------------------------------------------------------------- tests

const figures: string[] = []
const realRandom = Math.random

beforeAll(async () => {
  // Weight initialization and shuffling draw from Math.random: seeded, the thresholds below are reproducible.
  Math.random = createRandom(1234)
  expect((await selectBackend({ prefer: 'wasm' })).name).toBe('wasm')
})

afterAll(() => {
  Math.random = realRandom
  console.log(['ONNX export (bytes: fp32 plain/optimized, int8, float16; max |diff| vs TF.js)', ...figures].join('\n'))
})

for (const c of cases) {
  describe(c.name, () => {
    let data: PreparedData
    let model: tfl.LayersModel
    let rows: Row[]
    let heldOut: Row[]
    let expected: Float32Array
    const exports = new Map<string, OnnxExport>()
    const diffs = new Map<string, number>()
    let int8Accuracy = ''

    const exported = (optimize: boolean, quantize: 'int8' | 'float16' | null) => {
      const key = `${optimize}/${quantize}`
      if (!exports.has(key)) exports.set(key, exportOnnx(model, data.preprocessing, { optimize, quantize, metadata: { jobId: 'job-onnx-test' } }))
      return exports.get(key)!
    }
    const compare = async (optimize: boolean, quantize: 'int8' | 'float16' | null) => {
      const output = await runOnnx(exported(optimize, quantize), feedsFor(data.preprocessing, rows))
      diffs.set(`${optimize}/${quantize}`, maxAbsDiff(output, expected))
      return output
    }

    beforeAll(async () => {
      const all = c.rows()
      const hyperparameters = { ...baseHyperparameters, ...c.hyperparameters }
      data = prepare(c.task, all, hyperparameters, c.metadata)
      model = buildModel({ task: c.task, architecture: c.architecture, data, hyperparameters })
      await train(model, data, c.epochs)
      heldOut = data.test.rows.map((i) => all[i])
      rows = [...heldOut, ...c.unusual]
      expected = await predictTf(model, data, rows)
    }, 60_000)

    afterAll(() => {
      const size = (q: 'int8' | 'float16' | null, optimize = true) => exports.get(`${optimize}/${q}`)?.bytes.length ?? NaN
      const diff = (key: string) => diffs.get(key)?.toExponential(1) ?? '-'
      figures.push(
        `${c.name.padEnd(28)} ${size(null, false)}/${size(null)}, ${size('int8')} (${((100 * size('int8')) / size(null)).toFixed(1)}%), ` +
          `${size('float16')}; fp32 ${diff('false/null')}/${diff('true/null')}, int8 ${diff('true/int8')}, float16 ${diff('true/float16')}${int8Accuracy}`,
      )
    })

    it('matches TF.js within 1e-4 on raw rows in float32, optimized or not', async () => {
      expect(onnxUnsupported(model)).toBeNull()
      for (const optimize of [false, true]) {
        expect(maxAbsDiff(await compare(optimize, null), expected), `optimize ${optimize}`).toBeLessThanOrEqual(1e-4)
      }
      const plain = opTypes(exported(false, null))
      const optimized = opTypes(exported(true, null))
      expect(plain.has('Dropout') || optimized.has('Dropout')).toBe(false)
      expect(optimized.has('Gemm')).toBe(true)
      for (const op of c.folded) {
        expect(plain.has(op), `${op} in the plain graph`).toBe(true)
        expect(optimized.has(op), `${op} folded away`).toBe(false)
      }
    })

    it('declares its inputs, output and metadata', () => {
      const exportedModel = exported(false, null)
      const model = decode(exportedModel)
      expect(Number(model.opsetImport.find((o) => o.domain === '')?.version)).toBe(exportedModel.opset)
      const graph = model.graph!
      expect(declared(graph.input)).toEqual(exportedModel.inputs.map(({ name, shape }) => ({ name, shape })))
      expect(declared(graph.output)).toEqual(exportedModel.outputs.map(({ name, shape }) => ({ name, shape })))
      const metadata = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]))
      expect(metadata).toMatchObject({ task: c.task, jobId: 'job-onnx-test', inputs: JSON.stringify(exportedModel.inputs), outputs: JSON.stringify(exportedModel.outputs) })
      expect(preprocessingFromOnnxMetadata(metadata)).toEqual(data.preprocessing)
      const pre = data.preprocessing
      if (pre.labels) expect(JSON.parse(metadata.labels)).toEqual(pre.labels)
      expect(exportedModel.outputs[0].name).toBe(c.task === 'tabular-regression' ? 'value' : 'probabilities')
      if (pre.kind === 'text') {
        expect(JSON.parse(metadata.vocabulary)).toEqual(pre.vocabulary)
        expect(JSON.parse(metadata.tokenizer)).toEqual(pre.tokenizer)
        expect(metadata.maxSequenceLength).toBe(String(pre.maxSequenceLength))
        expect(exportedModel.inputs).toMatchObject([{ name: 'tokens', dtype: 'int64', shape: ['batch', pre.maxSequenceLength] }])
      }
      for (const spec of [...exportedModel.inputs, ...exportedModel.outputs]) expect(spec.description.length).toBeGreaterThan(20)
    })

    it('stays within 1e-2 with float16 weights (of the target std for regression)', async () => {
      const unit = data.preprocessing.kind === 'tabular' ? (data.preprocessing.target?.std ?? 1) : 1
      expect(maxAbsDiff(await compare(true, 'float16'), expected)).toBeLessThanOrEqual(1e-2 * unit)
      expect(opTypes(exported(true, 'float16')).has('Cast')).toBe(true)
    })

    it('shrinks to at most 30% with int8 weights and keeps the predictions', async () => {
      const int8 = exported(true, 'int8')
      expect(int8.bytes.length / exported(true, null).bytes.length).toBeLessThanOrEqual(0.3)
      expect(opTypes(int8).has('DequantizeLinear')).toBe(true)
      const output = await compare(true, 'int8')
      if (c.task === 'tabular-regression') {
        // A quantization error far below the model's own error: within 2% of the target's spread.
        const target = data.preprocessing.kind === 'tabular' ? data.preprocessing.target! : { std: 1 }
        expect(maxAbsDiff(output, expected)).toBeLessThanOrEqual(0.02 * target.std)
        return
      }
      const classes = data.numClasses!
      const before = argMaxRows(expected, classes)
      const after = argMaxRows(output, classes)
      const agreeing = before.filter((p, i) => p === after[i]).length
      expect(agreeing / rows.length).toBeGreaterThanOrEqual(0.99)
      const { labels, labelColumn } = data.preprocessing
      const accuracy = (predicted: Int32Array) => heldOut.filter((row, i) => labels![predicted[i]] === String(row[labelColumn])).length / heldOut.length
      int8Accuracy = `; accuracy fp32 ${accuracy(before).toFixed(3)}, int8 ${accuracy(after).toFixed(3)}, agreement ${agreeing}/${rows.length}`
      expect(accuracy(before)).toBeGreaterThan(0.8)
      expect(accuracy(before) - accuracy(after)).toBeLessThanOrEqual(0.01)
    })
  })
}

// ---------------------------------------------------------------- layer configurations beyond the built-in models

/** Numeric-only tabular preprocessing that leaves values as they are (mean 0, std 1). */
function identityTable(inputs: number, outputs: number): Preprocessing {
  const features = Array.from({ length: inputs }, (_, i) => ({ column: `f${i}`, type: 'numeric' as const, mean: 0, std: 1 }))
  const labels = Array.from({ length: outputs }, (_, i) => `class${i}`)
  return { kind: 'tabular', labelColumn: 'label', features, inputSize: inputs, labels, target: null }
}

function randomRows(count: number, inputs: number, seed: number): Row[] {
  const random = createRandom(seed)
  return Array.from({ length: count }, () => Object.fromEntries(Array.from({ length: inputs }, (_, i) => [`f${i}`, 2 * gaussian(random)])))
}

/** Every weight redrawn from N(0, 0.5²): biases too, so none of them is trivially 0. */
function randomizeWeights(model: tfl.LayersModel): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.mul(tf.randomNormal(w.shape), 0.5))))
}

/** Max |ONNX - TF.js| over `rows`, plain and optimized. */
async function differences(model: tfl.LayersModel, preprocessing: Preprocessing, rows: Row[]): Promise<number[]> {
  const { x, count } = encodeInputs(preprocessing, rows)
  const inputShape = model.inputs[0].shape.slice(1) as number[]
  const expected = await predictBatches(model, x, count, inputShape, 64)
  return Promise.all(
    [false, true].map(async (optimize) => maxAbsDiff(await runOnnx(exportOnnx(model, preprocessing, { optimize, quantize: null }), feedsFor(preprocessing, rows)), expected)),
  )
}

describe('layer mappings', () => {
  it('maps every supported Dense activation', async () => {
    for (const activation of activationNames) {
      const input = tfl.input({ shape: [6] })
      const output = tfl.layers.dense({ units: 4, activation: activation as 'linear', name: 'probe' }).apply(input) as tfl.SymbolicTensor
      const model = tfl.model({ inputs: input, outputs: output })
      randomizeWeights(model)
      const [plain, optimized] = await differences(model, identityTable(6, 4), randomRows(32, 6, 5))
      expect(Math.max(plain, optimized), activation).toBeLessThanOrEqual(1e-5)
    }
  })

  it('keeps channels-first convolutions right: softmax over channels, strided same padding, same pooling, Flatten as the output', async () => {
    const input = tfl.input({ shape: [48] })
    let x = tfl.layers.reshape({ targetShape: [4, 4, 3] }).apply(input) as tfl.SymbolicTensor
    x = tfl.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'softmax' }).apply(x) as tfl.SymbolicTensor
    x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(x) as tfl.SymbolicTensor
    x = tfl.layers.conv2d({ filters: 2, kernelSize: 2, padding: 'valid', dilationRate: 1 }).apply(x) as tfl.SymbolicTensor
    const output = tfl.layers.flatten({}).apply(x) as tfl.SymbolicTensor
    const model = tfl.model({ inputs: input, outputs: output })
    randomizeWeights(model)
    const [plain, optimized] = await differences(model, identityTable(48, 2), randomRows(16, 48, 6))
    expect(Math.max(plain, optimized)).toBeLessThanOrEqual(1e-5)
  })

  it('exports the image cnn built for flat pixel rows (a Reshape first), folding the scale through it', async () => {
    const all = pictures(40, 41)
    const hyperparameters = { ...baseHyperparameters, filters: 4, hiddenSize: 8 }
    const data = prepare('image-classification', all, hyperparameters, image)
    const model = buildModel({ task: 'image-classification', architecture: 'cnn', data: { ...data, inputShape: [pixelColumns.length] }, hyperparameters })
    expect(model.layers.map((l) => l.getClassName())).toContain('Reshape')
    randomizeWeights(model)
    const [plain, optimized] = await differences(model, data.preprocessing, [...all, ...damagedPictures(42)])
    expect(Math.max(plain, optimized)).toBeLessThanOrEqual(1e-4)
    expect(opTypes(exportOnnx(model, data.preprocessing, { optimize: true, quantize: null })).has('Div')).toBe(false)
  })
})

describe('saved models', () => {
  it('exports a transformer rebuilt from its saved JSON, as checkpoints load it', async () => {
    const all = topicTexts(60, 51)
    const hyperparameters = { ...baseHyperparameters, vocabSize: 300, maxSequenceLength: 12, hiddenSize: 16, numHeads: 2, numLayers: 1 }
    const data = prepare('text-classification', all, hyperparameters)
    const original = buildModel({ task: 'text-classification', architecture: 'transformer', data, hyperparameters })
    randomizeWeights(original)
    const restored = await tfl.models.modelFromJSON(JSON.parse(original.toJSON(null, true) as string))
    restored.setWeights(original.getWeights())
    const [plain, optimized] = await differences(restored, data.preprocessing, [...all, ...unusualTexts])
    expect(Math.max(plain, optimized)).toBeLessThanOrEqual(1e-4)
  })
})

describe('tabular inputs', () => {
  it('exports categorical-only features, including a column with no category seen in training', async () => {
    const preprocessing: Preprocessing = {
      kind: 'tabular',
      labelColumn: 'label',
      features: [
        { column: 'city', type: 'categorical', categories: cities },
        { column: 'note', type: 'categorical', categories: [] },
      ],
      inputSize: cities.length + 2,
      labels: ['no', 'yes'],
      target: null,
    }
    const input = tfl.input({ shape: [preprocessing.inputSize] })
    const output = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(tfl.layers.dense({ units: 8, activation: 'relu' }).apply(input)) as tfl.SymbolicTensor
    const model = tfl.model({ inputs: input, outputs: output })
    randomizeWeights(model)
    const rows: Row[] = [...cities, 'Atlantis', '', null].map((city, i) => ({ city, note: i % 2 === 0 ? 'odd' : '' }))
    const [plain, optimized] = await differences(model, preprocessing, rows)
    expect(Math.max(plain, optimized)).toBeLessThanOrEqual(1e-5)
  })
})

describe('weight storage', () => {
  it('rounds float32 to float16 bits to nearest even, through subnormals, infinity and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00],
      [1e6, 0x7c00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [1.5 * 2 ** -24, 0x0002],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [Number.POSITIVE_INFINITY, 0x7c00],
    ]
    const bits = toFloat16(Float32Array.from(cases, ([value]) => value))
    expect(Array.from(bits)).toEqual(cases.map(([, half]) => half))
    expect(toFloat16(Float32Array.of(Number.NaN))[0] & 0x7c00).toBe(0x7c00)
    expect(toFloat16(Float32Array.of(Number.NaN))[0] & 0x3ff).not.toBe(0)
  })

  it('quantizes to int8 with one scale per channel, the largest weight exact', () => {
    // [2, 3] with channels on axis 1: columns (0.5, -1), (2, 0.25), (0, 0)
    const { q, scales } = quantizeInt8(Float32Array.of(0.5, 2, 0, -1, 0.25, 0), [2, 3], 1)
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), Math.fround(2 / 127), 1])
    expect(Array.from(q)).toEqual([64, 127, 0, -127, 16, 0])
  })
})

describe('unsupported models', () => {
  const table = identityTable(4, 2)

  /** A Dense head after `layer`, on inputs of `shape`. */
  function modelWith(layer: tfl.layers.Layer, shape: number[], dtype: 'float32' | 'int32' = 'float32'): tfl.LayersModel {
    const input = tfl.input({ shape, dtype })
    let x = layer.apply(input) as tfl.SymbolicTensor
    if (x.shape.length > 2) x = tfl.layers.flatten({}).apply(x) as tfl.SymbolicTensor
    return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor })
  }

  const refused: [string, () => tfl.LayersModel, string][] = [
    ['a layer type', () => modelWith(tfl.layers.batchNormalization({ name: 'batch_norm' }), [4]), 'layer "batch_norm" (BatchNormalization) has no ONNX mapping'],
    ['an activation', () => modelWith(tfl.layers.dense({ units: 3, activation: 'gelu_new', name: 'hidden' }), [4]), 'layer "hidden" (Dense): activation "gelu_new"'],
    ['causal padding', () => modelWith(tfl.layers.conv1d({ filters: 2, kernelSize: 2, padding: 'causal', name: 'causal' }), [4, 1]), 'layer "causal" (Conv1D): padding "causal"'],
    ['an implicit mask', () => modelWith(tfl.layers.embedding({ inputDim: 10, outputDim: 2, maskZero: true, name: 'masked' }), [4], 'int32'), 'layer "masked" (Embedding): maskZero'],
  ]

  for (const [what, build, message] of refused) {
    it(`names the layer with ${what} it cannot map, and exports nothing`, () => {
      const model = build()
      expect(onnxUnsupported(model)).toContain(message)
      expect(() => exportOnnx(model, table, { optimize: true, quantize: null })).toThrow(OnnxExportError)
      expect(() => exportOnnx(model, table, { optimize: true, quantize: null })).toThrow(message)
    })
  }

  it('refuses models with several outputs, and a model that does not fit its preprocessing', () => {
    const input = tfl.input({ shape: [4] })
    const a = tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor
    const b = tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor
    expect(onnxUnsupported(tfl.model({ inputs: input, outputs: [a, b] }))).toMatch(/2 outputs/)
    const single = tfl.model({ inputs: input, outputs: a })
    expect(onnxUnsupported(single)).toBeNull()
    expect(() => exportOnnx(single, identityTable(5, 2), { optimize: false, quantize: null })).toThrow('takes inputs of shape [4]')
  })
})
