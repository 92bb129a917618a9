// The job-size estimate (src/domain/job-size.ts): its parameter count is the
// count of the model the trainer really builds (tfjs' countParams() on
// trainer/ml/models.ts, every architecture, small configurations), and the
// memory estimate refuses the models reported as accepted though they
// cannot fit (issue 11) while ordinary ones fit the smallest instance type.
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Architecture, Task } from '../../src/domain/catalog.ts'
import {
  estimateJobMemory,
  formatBytes,
  largestCorner,
  modelShapeOf,
  parameterCount,
  runtimeOverheadBytes,
  type DataShape,
  type ModelShape,
  type SizeKnobs,
} from '../../src/domain/job-size.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import type { Preprocessing } from '../../trainer/ml/types.ts'
import { jobConfig } from '../helpers/models.ts'

const GiB = 1024 ** 3

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true)
})

/** The trainer's preprocessing and input shape for a data shape (only what buildModel reads). */
function preparedFor(data: DataShape, outputs: number, regression: boolean): { inputShape: number[]; numClasses: number | null; preprocessing: Preprocessing } {
  const labels = regression ? null : Array.from({ length: outputs }, (_, i) => `class-${i}`)
  switch (data.kind) {
    case 'text':
      return {
        inputShape: [data.sequenceLength],
        numClasses: outputs,
        preprocessing: {
          kind: 'text',
          textColumn: 'text',
          labelColumn: 'label',
          tokenizer: { lowercase: true, cjkCharacters: true },
          vocabulary: Array.from({ length: data.vocabulary }, (_, i) => `t${i}`),
          maxSequenceLength: data.sequenceLength,
          labels: labels ?? [],
        },
      }
    case 'tabular':
      return {
        inputShape: [data.inputWidth],
        numClasses: regression ? null : outputs,
        preprocessing: { kind: 'tabular', labelColumn: 'y', features: [], inputSize: data.inputWidth, labels, target: regression ? { mean: 0, std: 1 } : null },
      }
    case 'image': {
      const pixels = data.height * data.width * data.channels
      return {
        inputShape: [pixels],
        numClasses: outputs,
        preprocessing: {
          kind: 'image',
          labelColumn: 'label',
          pixelColumns: Array.from({ length: pixels }, (_, i) => `p${i}`),
          height: data.height,
          width: data.width,
          channels: data.channels,
          scale: 255,
          labels: labels ?? [],
        },
      }
    }
  }
}

/** countParams() of the model trainer/ml/models.ts builds for `shape`. */
function builtParameters(shape: ModelShape): number {
  const regression = shape.task === 'tabular-regression'
  const config = jobConfig(shape.task, shape.architecture, { hyperparameters: shape.knobs })
  const model = buildModel({
    task: shape.task,
    architecture: shape.architecture,
    data: preparedFor(shape.data, shape.outputs, regression),
    hyperparameters: config.hyperparameters,
  })
  try {
    return model.countParams()
  } finally {
    model.dispose()
  }
}

const text = (vocabulary: number, sequenceLength: number): DataShape => ({ kind: 'text', vocabulary, sequenceLength })
const cases: { name: string; task: Task; architecture: Architecture; knobs: SizeKnobs; data: DataShape; outputs: number }[] = [
  { name: 'bag-of-embeddings, defaults', task: 'text-classification', architecture: 'bag-of-embeddings', knobs: {}, data: text(50, 8), outputs: 3 },
  {
    name: 'bag-of-embeddings, hiddenSize only',
    task: 'text-classification',
    architecture: 'bag-of-embeddings',
    knobs: { hiddenSize: 12 },
    data: text(40, 6),
    outputs: 2,
  },
  { name: 'text cnn, defaults', task: 'text-classification', architecture: 'cnn', knobs: {}, data: text(60, 10), outputs: 4 },
  {
    name: 'text cnn, 3 layers',
    task: 'text-classification',
    architecture: 'cnn',
    knobs: { embeddingDim: 8, filters: 6, kernelSize: 5, numLayers: 3 },
    data: text(30, 7),
    outputs: 2,
  },
  { name: 'transformer, defaults', task: 'text-classification', architecture: 'transformer', knobs: {}, data: text(50, 12), outputs: 3 },
  {
    name: 'transformer with an embedding projection',
    task: 'text-classification',
    architecture: 'transformer',
    knobs: { hiddenSize: 16, embeddingDim: 8, numHeads: 2, numLayers: 3 },
    data: text(40, 9),
    outputs: 2,
  },
  {
    name: 'transformer, embeddingDim only',
    task: 'text-classification',
    architecture: 'transformer',
    knobs: { embeddingDim: 12, numHeads: 3 },
    data: text(20, 5),
    outputs: 5,
  },
  {
    name: 'mlp classification, defaults',
    task: 'tabular-classification',
    architecture: 'mlp',
    knobs: {},
    data: { kind: 'tabular', inputWidth: 7 },
    outputs: 3,
  },
  {
    name: 'mlp regression, 1 layer',
    task: 'tabular-regression',
    architecture: 'mlp',
    knobs: { hiddenSize: 9, numLayers: 1 },
    data: { kind: 'tabular', inputWidth: 4 },
    outputs: 1,
  },
  {
    name: 'mlp regression, 4 layers',
    task: 'tabular-regression',
    architecture: 'mlp',
    knobs: { hiddenSize: 5, numLayers: 4 },
    data: { kind: 'tabular', inputWidth: 11 },
    outputs: 1,
  },
  {
    name: 'image cnn, defaults',
    task: 'image-classification',
    architecture: 'cnn',
    knobs: {},
    data: { kind: 'image', height: 8, width: 8, channels: 1 },
    outputs: 10,
  },
  {
    name: 'image cnn, colour, more blocks than halvings',
    task: 'image-classification',
    architecture: 'cnn',
    knobs: { filters: 4, kernelSize: 3, numLayers: 4, hiddenSize: 7 },
    data: { kind: 'image', height: 6, width: 4, channels: 3 },
    outputs: 3,
  },
]

describe('parameterCount', () => {
  it.each(cases)('equals countParams() of the model the trainer builds: $name', (shape) => {
    expect(parameterCount(shape)).toBe(builtParameters(shape))
  })
})

/** A text dataset as the service stores it: columns, row count, preview. */
const textDataset = {
  rowCount: 1000,
  columns: [
    { name: 'text', type: 'string' },
    { name: 'label', type: 'string' },
  ],
  metadata: null,
  preview: [{ label: 'a' }, { label: 'b' }],
}
const textShape = (architecture: Architecture, hyperparameters: SizeKnobs & { vocabSize?: number; maxSequenceLength?: number }) =>
  modelShapeOf({ task: 'text-classification', architecture, dataset: {}, hyperparameters }, textDataset)

describe('estimateJobMemory', () => {
  it('puts embeddingDim 4096 over a vocabulary of 1,000,000 far beyond 2 GiB (over 4 billion parameters)', () => {
    const estimate = estimateJobMemory(textShape('cnn', { embeddingDim: 4096, vocabSize: 1_000_000 }), 32, 800)
    expect(estimate.parameters).toBeGreaterThan(4e9)
    expect(estimate.totalBytes).toBeGreaterThan(60 * GiB)
  })

  it('puts a transformer of hiddenSize 4096, 48 layers and 64 heads beyond 2 GiB', () => {
    const estimate = estimateJobMemory(textShape('transformer', { hiddenSize: 4096, numLayers: 48, numHeads: 64 }), 32, 800)
    expect(estimate.parameters).toBeGreaterThan(6e9)
    expect(estimate.totalBytes).toBeGreaterThan(2 * GiB)
  })

  it('fits the default models of every architecture in 2 GiB', () => {
    for (const architecture of ['cnn', 'transformer', 'bag-of-embeddings'] as const) {
      expect(estimateJobMemory(textShape(architecture, {}), 32, 800).totalBytes, architecture).toBeLessThan(2 * GiB)
    }
    const table = {
      rowCount: 500,
      columns: ['a', 'b', 'c', 'label'].map((name) => ({ name, type: name === 'c' ? 'string' : 'float' })),
      metadata: null,
      preview: [],
    }
    const mlp = modelShapeOf({ task: 'tabular-regression', architecture: 'mlp', dataset: {}, hyperparameters: {} }, table)
    expect(mlp.data).toEqual({ kind: 'tabular', inputWidth: 2 + 101 })
    expect(estimateJobMemory(mlp, 32, 400).totalBytes).toBeLessThan(runtimeOverheadBytes + 10 * 1024 ** 2)
  })

  it('sums weights, gradients and two AdamW moments, activations twice, the encoded data and the runtime', () => {
    const shape: ModelShape = {
      task: 'tabular-regression',
      architecture: 'mlp',
      knobs: { hiddenSize: 10, numLayers: 1 },
      data: { kind: 'tabular', inputWidth: 3 },
      outputs: 1,
    }
    const estimate = estimateJobMemory(shape, 4, 100)
    // 3·10+10 + 10·1+1 = 51 parameters; per sample 3 + 1·3·10 + 1 = 34 values
    expect(estimate.parameters).toBe(51)
    expect(estimate.stateBytes).toBe(51 * 4 * 4)
    expect(estimate.activationBytes).toBe(4 * 2 * 4 * 34)
    expect(estimate.dataBytes).toBe(4 * 100 * 3)
    expect(estimate.totalBytes).toBe(51 * 16 + 4 * 2 * 4 * 34 + 1200 + runtimeOverheadBytes)
  })
})

describe('modelShapeOf', () => {
  it('reads image sizes from the dataset metadata, else square grayscale', () => {
    const columns = [...Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, type: 'integer' })), { name: 'label', type: 'string' }]
    const settings = { task: 'image-classification' as const, architecture: 'cnn' as const, dataset: {}, hyperparameters: {} }
    expect(modelShapeOf(settings, { rowCount: 10, columns, metadata: { width: 2, height: 2, channels: 3 }, preview: [] }).data).toEqual({
      kind: 'image',
      height: 2,
      width: 2,
      channels: 3,
    })
    const square = columns.slice(0, 9).concat(columns.slice(-1))
    expect(modelShapeOf(settings, { rowCount: 10, columns: square, metadata: null, preview: [] }).data).toEqual({
      kind: 'image',
      height: 3,
      width: 3,
      channels: 1,
    })
  })

  it('takes vocabSize and maxSequenceLength at their largest when unset', () => {
    expect(textShape('cnn', {}).data).toEqual({ kind: 'text', vocabulary: 20_000, sequenceLength: 256 })
    expect(textShape('cnn', { vocabSize: 500, maxSequenceLength: 16 }).data).toEqual({ kind: 'text', vocabulary: 500, sequenceLength: 16 })
  })
})

describe('largestCorner', () => {
  it('takes the largest value of each size hyperparameter a search space gives, and ignores the others', () => {
    const corner = largestCorner({
      learningRate: { type: 'float', max: 0.1 },
      hiddenSize: { type: 'int', max: 512 },
      batchSize: { type: 'categorical', values: [16, 64, 32] },
      lrSchedule: { type: 'categorical', values: ['linear', 'cosine'] },
    })
    expect(corner).toEqual({ hiddenSize: 512, batchSize: 64 })
  })
})

describe('formatBytes', () => {
  it('answers MiB under a GiB and GiB with one decimal above', () => {
    expect(formatBytes(300 * 1024 ** 2)).toBe('300 MiB')
    expect(formatBytes(65.34 * GiB)).toBe('65.3 GiB')
  })
})
