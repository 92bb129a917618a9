// How much memory a training job needs, estimated before it is accepted, so
// that a model that cannot fit its instance type is refused at create (400
// E1108) instead of being killed by the trainer's RSS watchdog hours later.
// The parameter count is exact for the models trainer/ml/models.ts builds
// (test/unit/job-size.test.ts compares it with tfjs' countParams()); the
// rest is an estimate, in float32 (4 bytes a value):
//
//   need = 4 B × parameters × 4        weights, gradients, and AdamW's two moments
//        + 4 B × activations × 2       values one step keeps for its backward pass, and their gradients
//        + 4 B × encoded rows          the training data as the model reads it (rows × input width)
//        + runtime                     the tfjs child process itself (runtimeOverheadBytes)
//
// activations = batchSize × per-sample values, per architecture (L: sequence
// length, E: embedding width, W: hidden width, F: filters, n: layers, h: heads):
//   bag-of-embeddings  L·E + E
//   text cnn           L·E + n·2·L·F + F
//   transformer        L·E (+ L·W with a projection) + L·W + n·(16·L·W + 3·h·L²)
//   mlp                inputs + n·3·W
//   image cnn          pixels + Σ blocks (2·height·width·Fᵢ + pooled) + flattened + 2·W
// What the service cannot know before the trainer reads the data is taken at
// its largest: the vocabulary is vocabSize (the trainer keeps at most that
// many tokens), the sequence length maxSequenceLength or 256 (the most the
// trainer picks by itself), a categorical column 101 one-hot slots; the
// classes are the distinct labels of the stored preview rows (at least 2).
// A job whose need exceeds its instance type's memory is refused
// (src/services/job-requests.ts), except on a type with less memory than the
// runtime alone: that is the catalog's matter, the job is accepted with a
// warning, and the trainer's RSS watchdog ends it.
import type { Architecture, Task } from './catalog.ts'

/** The size hyperparameters a model reads (each unset: the architecture's default). */
export interface SizeKnobs {
  hiddenSize?: number
  numLayers?: number
  numHeads?: number
  embeddingDim?: number
  filters?: number
  kernelSize?: number
}

/** The data as the model sees it: what the trainer's preprocessing makes of the dataset. */
export type DataShape =
  | { kind: 'text'; vocabulary: number; sequenceLength: number }
  | { kind: 'tabular'; inputWidth: number }
  | { kind: 'image'; height: number; width: number; channels: number }

export interface ModelShape {
  task: Task
  architecture: Architecture
  knobs: SizeKnobs
  data: DataShape
  /** Output width: the number of classes, 1 for regression. */
  outputs: number
}

/**
 * The tfjs child process itself: Node.js, TensorFlow.js and the wasm heap. Measured: a small text-cnn job and a small
 * mlp job (wasm backend, 2026-12) peaked at 217-221 MiB resident; rounded up for the native backends' larger library.
 */
export const runtimeOverheadBytes = 256 * 1024 ** 2
/** The sequence length the trainer picks at most when maxSequenceLength is unset (trainer/data). */
export const defaultMaxSequenceLength = 256
/** The vocabulary the trainer keeps at most when vocabSize is unset (trainer/data). */
export const defaultVocabSize = 20_000
/** One-hot slots of a categorical column at most: 100 categories and the unseen slot (trainer/data). */
export const maxCategorySlots = 101

const dense = (inputs: number, units: number) => inputs * units + units

/** Trainable and non-trainable parameters of the model trainer/ml/models.ts builds for `shape`. */
export function parameterCount(shape: ModelShape): number {
  const head = (width: number) => dense(width, shape.outputs)
  const k = shape.knobs
  const { data } = shape
  switch (shape.architecture) {
    case 'bag-of-embeddings': {
      const e = k.embeddingDim ?? k.hiddenSize ?? 64
      return textOf(data).vocabulary * e + head(e)
    }
    case 'transformer':
      return transformerParameters(shape) + head(k.hiddenSize ?? k.embeddingDim ?? 64)
    case 'mlp': {
      const width = k.hiddenSize ?? 64
      const layers = k.numLayers ?? 2
      return dense(tabularOf(data).inputWidth, width) + (layers - 1) * dense(width, width) + head(width)
    }
    case 'cnn':
      return shape.task === 'image-classification' ? imageCnn(shape).parameters : textCnnParameters(shape) + head(k.filters ?? 128)
  }
}

function textOf(data: DataShape): Extract<DataShape, { kind: 'text' }> {
  if (data.kind !== 'text') throw new Error(`a text model needs text data, not ${data.kind}`)
  return data
}

function tabularOf(data: DataShape): Extract<DataShape, { kind: 'tabular' }> {
  if (data.kind !== 'tabular') throw new Error(`a tabular model needs tabular data, not ${data.kind}`)
  return data
}

function imageOf(data: DataShape): Extract<DataShape, { kind: 'image' }> {
  if (data.kind !== 'image') throw new Error(`an image model needs image data, not ${data.kind}`)
  return data
}

function textCnnParameters({ knobs: k, data }: ModelShape): number {
  const e = k.embeddingDim ?? 64
  const filters = k.filters ?? 128
  const kernel = k.kernelSize ?? 3
  let total = textOf(data).vocabulary * e
  for (let i = 0, channels = e; i < (k.numLayers ?? 1); i++, channels = filters) total += kernel * channels * filters + filters
  return total
}

/** Everything but the head: embeddings, the projection, positions and the encoder blocks. */
function transformerParameters({ knobs: k, data }: ModelShape): number {
  const { vocabulary, sequenceLength } = textOf(data)
  const width = k.hiddenSize ?? k.embeddingDim ?? 64
  const e = k.embeddingDim ?? width
  const projection = e === width ? 0 : dense(e, width)
  // attention 4W² + 4W, two norms 4W, feed-forward W→2W→W 4W² + 3W
  const block = 8 * width * width + 11 * width
  return vocabulary * e + projection + sequenceLength * width + (k.numLayers ?? 2) * block
}

/** The image cnn's parameters and per-sample activations, block by block as trainer/ml/models.ts builds it. */
function imageCnn({ knobs: k, data, outputs }: ModelShape): { parameters: number; activations: number } {
  const image = imageOf(data)
  const kernel = k.kernelSize ?? 3
  const hidden = k.hiddenSize ?? 64
  let [height, width, channels] = [image.height, image.width, image.channels]
  let parameters = 0
  let activations = height * width * channels
  for (let i = 0; i < (k.numLayers ?? 2); i++) {
    const filters = (k.filters ?? 16) * 2 ** i
    parameters += kernel * kernel * channels * filters + filters
    activations += 2 * height * width * filters
    if (height >= 2 && width >= 2) {
      height = Math.floor(height / 2)
      width = Math.floor(width / 2)
      activations += height * width * filters
    }
    channels = filters
  }
  const flat = height * width * channels
  parameters += dense(flat, hidden) + dense(hidden, outputs)
  activations += flat + 2 * hidden + outputs
  return { parameters, activations }
}

/** Values one sample keeps alive through a training step's forward pass (see the header). */
export function activationsPerSample(shape: ModelShape): number {
  const k = shape.knobs
  const { data } = shape
  switch (shape.architecture) {
    case 'bag-of-embeddings': {
      const e = k.embeddingDim ?? k.hiddenSize ?? 64
      return textOf(data).sequenceLength * e + e + shape.outputs
    }
    case 'transformer': {
      const length = textOf(data).sequenceLength
      const width = k.hiddenSize ?? k.embeddingDim ?? 64
      const e = k.embeddingDim ?? width
      const heads = k.numHeads ?? 4
      const embedding = length * e + (e === width ? 0 : length * width) + length * width
      return embedding + (k.numLayers ?? 2) * (16 * length * width + 3 * heads * length * length) + width + shape.outputs
    }
    case 'mlp':
      return tabularOf(data).inputWidth + (k.numLayers ?? 2) * 3 * (k.hiddenSize ?? 64) + shape.outputs
    case 'cnn': {
      if (shape.task === 'image-classification') return imageCnn(shape).activations
      const length = textOf(data).sequenceLength
      const filters = k.filters ?? 128
      return length * (k.embeddingDim ?? 64) + (k.numLayers ?? 1) * 2 * length * filters + filters + shape.outputs
    }
  }
}

/** Values per encoded training row. */
function rowWidth(data: DataShape): number {
  if (data.kind === 'text') return data.sequenceLength
  if (data.kind === 'tabular') return data.inputWidth
  return data.height * data.width * data.channels
}

export interface MemoryEstimate {
  parameters: number
  /** Weights, gradients and the optimizer's two moments. */
  stateBytes: number
  activationBytes: number
  dataBytes: number
  runtimeBytes: number
  totalBytes: number
}

/** The memory a job needs to train `shape` at `batchSize` on `rows` rows (formula in the header). */
export function estimateJobMemory(shape: ModelShape, batchSize: number, rows: number): MemoryEstimate {
  const parameters = parameterCount(shape)
  const stateBytes = 4 * parameters * 4
  const activationBytes = 4 * 2 * batchSize * activationsPerSample(shape)
  const dataBytes = 4 * rows * rowWidth(shape.data)
  const totalBytes = stateBytes + activationBytes + dataBytes + runtimeOverheadBytes
  return { parameters, stateBytes, activationBytes, dataBytes, runtimeBytes: runtimeOverheadBytes, totalBytes }
}

/** Bytes for a person: `812 MiB`, `65.3 GiB`. */
export function formatBytes(bytes: number): string {
  const mib = bytes / 1024 ** 2
  if (mib < 1024) return `${Math.ceil(mib)} MiB`
  const gib = mib / 1024
  return `${gib < 100 ? gib.toFixed(1) : Math.round(gib).toLocaleString('en-US')} GiB`
}

/** A parameter count for a person: `1.4 million`, `4.10 billion`. */
export function formatCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(2)} billion`
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)} million`
  return count.toLocaleString('en-US')
}

/** What the service knows of a dataset at create. */
export interface DatasetFacts {
  rowCount: number
  columns: { name: string; type: string }[]
  metadata: Record<string, unknown> | null
  /** The first rows, as stored at upload. */
  preview: Record<string, unknown>[]
}

/** The job settings that size a model. */
export interface SizeSettings {
  task: Task
  architecture: Architecture
  dataset: { labelColumn?: string; textColumn?: string; featureColumns?: string[] }
  hyperparameters: SizeKnobs & { vocabSize?: number; maxSequenceLength?: number }
}

const numericTypes = new Set(['integer', 'float', 'boolean'])

/** The model a job will train, as far as the dataset's stored facts tell (the largest it can be where they do not). */
export function modelShapeOf(settings: SizeSettings, dataset: DatasetFacts): ModelShape {
  const names = dataset.columns.map((c) => c.name)
  const label = settings.dataset.labelColumn ?? (names.includes('label') ? 'label' : (names.at(-1) ?? 'label'))
  const { task, architecture, hyperparameters: hp } = settings
  const base = { task, architecture, knobs: hp, outputs: task === 'tabular-regression' ? 1 : classesOf(dataset, label) }
  if (task === 'text-classification') {
    return { ...base, data: { kind: 'text', vocabulary: hp.vocabSize ?? defaultVocabSize, sequenceLength: hp.maxSequenceLength ?? defaultMaxSequenceLength } }
  }
  const features = settings.dataset.featureColumns ?? names.filter((name) => name !== label)
  if (task === 'image-classification') return { ...base, data: { kind: 'image', ...imageSizeOf(features.length, dataset.metadata) } }
  const types = new Map(dataset.columns.map((c) => [c.name, c.type]))
  const slots = Math.min(maxCategorySlots, dataset.rowCount + 1)
  const inputWidth = features.reduce((sum, name) => sum + (numericTypes.has(types.get(name) ?? '') ? 1 : slots), 0)
  return { ...base, data: { kind: 'tabular', inputWidth } }
}

/** Distinct labels among the preview rows, at least 2 (the head is a small part of any model). */
function classesOf(dataset: DatasetFacts, label: string): number {
  return Math.max(2, new Set(dataset.preview.map((row) => JSON.stringify(row[label] ?? null))).size)
}

/** The metadata's { width, height, channels }, else square grayscale, else one row of pixels. */
function imageSizeOf(pixels: number, metadata: Record<string, unknown> | null): { height: number; width: number; channels: number } {
  const whole = (value: unknown) => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined)
  const width = whole(metadata?.width)
  const height = whole(metadata?.height)
  if (width !== undefined && height !== undefined) return { height, width, channels: whole(metadata?.channels) ?? 1 }
  const side = Math.round(Math.sqrt(pixels))
  return side * side === pixels ? { height: side, width: side, channels: 1 } : { height: 1, width: Math.max(1, pixels), channels: 1 }
}

/** Hyperparameters whose larger values need more memory. */
export const sizeParameters = [
  'batchSize',
  'hiddenSize',
  'numLayers',
  'numHeads',
  'embeddingDim',
  'maxSequenceLength',
  'vocabSize',
  'filters',
  'kernelSize',
] as const

type SpaceEntry = { type: 'float' | 'int'; max: number } | { type: 'categorical'; values: readonly unknown[] }

/** The largest value a search space can give each size hyperparameter it searches: the corner that needs the most memory. */
export function largestCorner(space: Record<string, SpaceEntry>): Partial<Record<(typeof sizeParameters)[number], number>> {
  const corner: Partial<Record<(typeof sizeParameters)[number], number>> = {}
  for (const name of sizeParameters) {
    const spec = space[name]
    if (!spec) continue
    const values = spec.type === 'categorical' ? spec.values.filter((v): v is number => typeof v === 'number') : [spec.max]
    if (values.length > 0) corner[name] = Math.max(...values)
  }
  return corner
}
