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
import { encodeInputs, type Row } from '../../trainer/data/index.ts'
import { exportTfjs, TfjsExportError, tfjsUnsupported, type TfjsExport, type TfjsExportOptions } from '../../trainer/export/tfjs.ts'
import type { FeatureSlot, TfjsTensorSpec } from '../../trainer/export/tfjs-docs.ts'
import { quantizeUint8 } from '../../trainer/export/tfjs-weights.ts'
import { predictBatches } from '../../trainer/ml/evaluate.ts'
import '../../trainer/ml/layers/index.ts'
import type { Preprocessing, Task } from '../../trainer/ml/types.ts'
import {
  createPictures,
  customerCase,
  expectInt8KeepsPredictions,
  flatPixelCnn,
  identityTable,
  lexicon,
  maxAbsDiff,
  pictureCase,
  predictEncoded,
  randomizeWeights,
  randomRows,
  reportFigures,
  targetUnit,
  textCase,
  trainedBeforeAll,
  useSeededWasm,
  type ModelCase,
} from '../helpers/models.ts'

useSeededWasm(1234)

const pictures = createPictures({ width: 12, height: 10, channels: 3 }, 3)

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
      for (const [i, column] of pre.pixelColumns.entries()) x[i] = isMissing(row[column]) ? 0 : Number(row[column])
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

function layerClasses(archive: Archive): string[] {
  const topology = archive.modelJson.modelTopology as { config: { layers: { class_name: string }[] } }
  return topology.config.layers.map((layer) => layer.class_name)
}

// ---------------------------------------------------------------- the built-in architectures

interface Case extends ModelCase {
  customLayers: boolean
}

const textSizes = { vocabSize: 2000, maxSequenceLength: 24 }
/** 6-30 tokens: long texts get cut at 24. */
const texts = { count: 600, words: [6, 30] } as const
const mlp = { hyperparameters: { hiddenSize: 256, numLayers: 2 }, epochs: 6 }
const cases: Case[] = [
  { ...textCase('bag-of-embeddings', texts, { hyperparameters: { ...textSizes, embeddingDim: 64 }, epochs: 4 }), customLayers: true },
  {
    ...textCase('cnn', texts, { hyperparameters: { ...textSizes, embeddingDim: 32, filters: 32, kernelSize: 3, numLayers: 1 }, epochs: 2 }),
    customLayers: false,
  },
  {
    ...textCase('transformer', texts, { hyperparameters: { ...textSizes, hiddenSize: 32, embeddingDim: 32, numHeads: 2, numLayers: 1 }, epochs: 3 }),
    customLayers: true,
  },
  { ...customerCase('tabular-classification', 800, mlp), customLayers: false },
  { ...customerCase('tabular-regression', 800, mlp), customLayers: false },
  { ...pictureCase(pictures, 450, { hyperparameters: { filters: 8, kernelSize: 3, numLayers: 2, hiddenSize: 64 }, epochs: 3 }), customLayers: false },
]

const figures = reportFigures('TF.js export (weight bytes fp32/int8/float16, archive bytes fp32/int8; max |diff| vs the service model)')

type Variant = Pick<TfjsExportOptions, 'optimize' | 'quantize'>
const variantKey = ({ optimize, quantize }: Variant) => `${optimize}/${quantize}`

for (const c of cases) {
  describe(c.name, () => {
    const trained = trainedBeforeAll(c)
    const exports = new Map<string, TfjsExport>()
    const diffs = new Map<string, number>()
    let int8Accuracy = ''

    const exported = async (variant: Variant) => {
      const key = variantKey(variant)
      if (!exports.has(key)) exports.set(key, await exportTfjs(trained.model, trained.data.preprocessing, { ...variant, metadata: { jobId: 'job-tfjs-test' } }))
      return exports.get(key)!
    }
    const compare = async (variant: Variant) => {
      const output = await predictArchive(unpack(await exported(variant)), trained.rows)
      diffs.set(variantKey(variant), maxAbsDiff(output, trained.expected))
      return output
    }
    /** Regression values are in original units: compared in units of the target's spread, as float32 rounds 180 to 1.5e-5. */
    const unit = () => targetUnit(trained.data)

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
      expect(tfjsUnsupported(trained.model)).toBeNull()
      for (const optimize of [false, true]) {
        expect(maxAbsDiff(await compare({ optimize, quantize: null }), trained.expected), `optimize ${optimize}`).toBeLessThanOrEqual(1e-4 * unit())
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
      expect(document.preprocessing).toEqual(trained.data.preprocessing)
      expect(document.labels).toEqual(trained.data.preprocessing.labels)
      expect(result.outputs[0].name).toBe(c.task === 'tabular-regression' ? 'value' : 'probabilities')
      if (c.task === 'text-classification') expect(result.inputs[0]).toMatchObject({ dtype: 'int32', shape: ['batch', textSizes.maxSequenceLength] })
      for (const spec of [...result.inputs, ...result.outputs]) expect(spec.description.length).toBeGreaterThan(40)
      const readme = strFromU8(archive.files['README.md'])
      expect(readme).toContain('tf.loadLayersModel')
      expect(readme).toContain(result.inputs[0].name)
      expect(readme.includes("import './custom-layers.js'")).toBe(c.customLayers)
    })

    it('stays within 1e-2 with float16 weights (of the target std for regression)', async () => {
      expect(maxAbsDiff(await compare({ optimize: true, quantize: 'float16' }), trained.expected)).toBeLessThanOrEqual(1e-2 * unit())
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
        const standardizing = trained.model.layers[1].weights[0].originalName
        expect(specs.find((spec) => spec.name === standardizing)?.quantization).toBeUndefined()
      }
      int8Accuracy = expectInt8KeepsPredictions(trained, await compare({ optimize: true, quantize: 'int8' }))
    })

    if (c.customLayers) {
      it('loads in a fresh Node process that imports only TF.js and custom-layers.js', async () => {
        const archive = unpack(await exported({ optimize: true, quantize: null }))
        expect(maxAbsDiff(await predictInPlainTfjs(archive, trained.rows), trained.expected)).toBeLessThanOrEqual(1e-4)
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
    const all = pictures.rows(30, 41)
    const { data, model } = flatPixelCnn(pictures, all)
    expect(model.layers.map((layer) => layer.getClassName())).toContain('Reshape')
    const rows = [...all, ...pictures.damaged(42)]
    const archive = unpack(await exportTfjs(model, data.preprocessing, { optimize: true, quantize: null }))
    expect(archive.document.inputs[0].shape).toEqual(['batch', pictures.pixelColumns.length])
    expect(maxAbsDiff(await predictArchive(archive, rows), await predictEncoded(model, data, rows))).toBeLessThanOrEqual(1e-4)
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
    await expect(exportTfjs(biasless, standardized, { optimize: true, quantize: null })).rejects.toThrow(
      'cannot fold the tabular standardization into layer "first": it has no bias',
    )
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
