// ONNX export of the built-in architectures: each model is trained briefly on
// generated rows, exported, and run in onnxruntime on the raw rows (as a
// client would send them) against TF.js on encodeInputs of the same rows.
import * as tfl from '@tensorflow/tfjs-layers'
import pkg from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeInputs, type Row } from '../../trainer/data/index.ts'
import { exportOnnx, onnxUnsupported, OnnxExportError, preprocessingFromOnnxMetadata, type OnnxExport } from '../../trainer/export/onnx.ts'
import { quantizeInt8, toFloat16 } from '../../trainer/export/onnx-graph.ts'
import { activationNames } from '../../trainer/export/onnx-layers.ts'
import { predictBatches } from '../../trainer/ml/evaluate.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import type { Preprocessing } from '../../trainer/ml/types.ts'
import {
  baseHyperparameters,
  cities,
  createPictures,
  customerCase,
  expectInt8KeepsPredictions,
  flatPixelCnn,
  identityTable,
  maxAbsDiff,
  pictureCase,
  prepareRows,
  randomizeWeights,
  randomRows,
  reportFigures,
  targetUnit,
  textCase,
  topicTexts,
  trainedBeforeAll,
  unusualTexts,
  useSeededWasm,
  type ModelCase,
} from '../helpers/models.ts'

const proto = pkg.onnx

useSeededWasm(1234)

const pictures = createPictures({ width: 16, height: 12, channels: 3 }, 4)

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
        feeds.categorical = new ort.Tensor(
          'string',
          rows.flatMap((row) => categorical.map((c) => (row[c] == null ? '' : String(row[c])))),
          [n, categorical.length],
        )
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

// ---------------------------------------------------------------- the built-in architectures

interface Case extends ModelCase {
  /** Ops the optimized float32 graph folds away. */
  folded: string[]
}

const textSizes = { vocabSize: 2000, maxSequenceLength: 32 }
/** 8-40 tokens: long texts get cut at 32. */
const texts = { count: 900, words: [8, 40] } as const
const mlp = { hyperparameters: { hiddenSize: 256, numLayers: 2 }, epochs: 8 }
const cases: Case[] = [
  { ...textCase('bag-of-embeddings', texts, { hyperparameters: { ...textSizes, embeddingDim: 64 }, epochs: 3 }), folded: [] },
  // An even kernel pads one more position after than before.
  { ...textCase('cnn', texts, { hyperparameters: { ...textSizes, embeddingDim: 64, filters: 64, kernelSize: 4, numLayers: 2 }, epochs: 2 }), folded: [] },
  // embeddingDim ≠ hiddenSize adds the projection: a Dense on [batch, length, dim].
  {
    ...textCase('transformer', texts, { hyperparameters: { ...textSizes, hiddenSize: 64, embeddingDim: 48, numHeads: 4, numLayers: 2 }, epochs: 3 }),
    folded: [],
  },
  { ...customerCase('tabular-classification', 1000, mlp), folded: ['OneHot', 'Concat', 'Sub', 'Div'] },
  { ...customerCase('tabular-regression', 1000, mlp), folded: ['OneHot', 'Concat', 'Sub', 'Div', 'Mul'] },
  { ...pictureCase(pictures, 600, { hyperparameters: { filters: 16, kernelSize: 3, numLayers: 2, hiddenSize: 128 }, epochs: 3 }), folded: ['Div'] },
]

const figures = reportFigures('ONNX export (bytes: fp32 plain/optimized, int8, float16; max |diff| vs TF.js)')

for (const c of cases) {
  describe(c.name, () => {
    const trained = trainedBeforeAll(c)
    const exports = new Map<string, OnnxExport>()
    const diffs = new Map<string, number>()
    let int8Accuracy = ''

    const exported = (optimize: boolean, quantize: 'int8' | 'float16' | null) => {
      const key = `${optimize}/${quantize}`
      if (!exports.has(key))
        exports.set(key, exportOnnx(trained.model, trained.data.preprocessing, { optimize, quantize, metadata: { jobId: 'job-onnx-test' } }))
      return exports.get(key)!
    }
    const compare = async (optimize: boolean, quantize: 'int8' | 'float16' | null) => {
      const output = await runOnnx(exported(optimize, quantize), feedsFor(trained.data.preprocessing, trained.rows))
      diffs.set(`${optimize}/${quantize}`, maxAbsDiff(output, trained.expected))
      return output
    }

    afterAll(() => {
      const size = (q: 'int8' | 'float16' | null, optimize = true) => exports.get(`${optimize}/${q}`)?.bytes.length ?? NaN
      const diff = (key: string) => diffs.get(key)?.toExponential(1) ?? '-'
      figures.push(
        `${c.name.padEnd(28)} ${size(null, false)}/${size(null)}, ${size('int8')} (${((100 * size('int8')) / size(null)).toFixed(1)}%), ` +
          `${size('float16')}; fp32 ${diff('false/null')}/${diff('true/null')}, int8 ${diff('true/int8')}, float16 ${diff('true/float16')}${int8Accuracy}`,
      )
    })

    it('matches TF.js within 1e-4 on raw rows in float32, optimized or not', async () => {
      expect(onnxUnsupported(trained.model)).toBeNull()
      for (const optimize of [false, true]) {
        expect(maxAbsDiff(await compare(optimize, null), trained.expected), `optimize ${optimize}`).toBeLessThanOrEqual(1e-4)
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
      expect(metadata).toMatchObject({
        task: c.task,
        jobId: 'job-onnx-test',
        inputs: JSON.stringify(exportedModel.inputs),
        outputs: JSON.stringify(exportedModel.outputs),
      })
      const pre = trained.data.preprocessing
      expect(preprocessingFromOnnxMetadata(metadata)).toEqual(pre)
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
      expect(maxAbsDiff(await compare(true, 'float16'), trained.expected)).toBeLessThanOrEqual(1e-2 * targetUnit(trained.data))
      expect(opTypes(exported(true, 'float16')).has('Cast')).toBe(true)
    })

    it('shrinks to at most 30% with int8 weights and keeps the predictions', async () => {
      const int8 = exported(true, 'int8')
      expect(int8.bytes.length / exported(true, null).bytes.length).toBeLessThanOrEqual(0.3)
      expect(opTypes(int8).has('DequantizeLinear')).toBe(true)
      int8Accuracy = expectInt8KeepsPredictions(trained, await compare(true, 'int8'))
    })
  })
}

// ---------------------------------------------------------------- layer configurations beyond the built-in models

/** Max |ONNX - TF.js| over `rows`, plain and optimized. */
async function differences(model: tfl.LayersModel, preprocessing: Preprocessing, rows: Row[]): Promise<number[]> {
  const { x, count } = encodeInputs(preprocessing, rows)
  const inputShape = model.inputs[0].shape.slice(1) as number[]
  const expected = await predictBatches(model, x, count, inputShape, 64)
  return Promise.all(
    [false, true].map(async (optimize) =>
      maxAbsDiff(await runOnnx(exportOnnx(model, preprocessing, { optimize, quantize: null }), feedsFor(preprocessing, rows)), expected),
    ),
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
    const all = pictures.rows(40, 41)
    const { data, model } = flatPixelCnn(pictures, all)
    expect(model.layers.map((l) => l.getClassName())).toContain('Reshape')
    const [plain, optimized] = await differences(model, data.preprocessing, [...all, ...pictures.damaged(42)])
    expect(Math.max(plain, optimized)).toBeLessThanOrEqual(1e-4)
    expect(opTypes(exportOnnx(model, data.preprocessing, { optimize: true, quantize: null })).has('Div')).toBe(false)
  })
})

describe('saved models', () => {
  it('exports a transformer rebuilt from its saved JSON, as checkpoints load it', async () => {
    const all = topicTexts(60, 51, [8, 40])
    const hyperparameters = { ...baseHyperparameters, vocabSize: 300, maxSequenceLength: 12, hiddenSize: 16, numHeads: 2, numLayers: 1 }
    const data = prepareRows('text-classification', all, hyperparameters)
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
    const output = tfl.layers
      .dense({ units: 2, activation: 'softmax' })
      .apply(tfl.layers.dense({ units: 8, activation: 'relu' }).apply(input)) as tfl.SymbolicTensor
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
    [
      'a layer type',
      () => modelWith(tfl.layers.batchNormalization({ name: 'batch_norm' }), [4]),
      'layer "batch_norm" (BatchNormalization) has no ONNX mapping',
    ],
    [
      'an activation',
      () => modelWith(tfl.layers.dense({ units: 3, activation: 'gelu_new', name: 'hidden' }), [4]),
      'layer "hidden" (Dense): activation "gelu_new"',
    ],
    [
      'causal padding',
      () => modelWith(tfl.layers.conv1d({ filters: 2, kernelSize: 2, padding: 'causal', name: 'causal' }), [4, 1]),
      'layer "causal" (Conv1D): padding "causal"',
    ],
    [
      'an implicit mask',
      () => modelWith(tfl.layers.embedding({ inputDim: 10, outputDim: 2, maskZero: true, name: 'masked' }), [4], 'int32'),
      'layer "masked" (Embedding): maskZero',
    ],
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
