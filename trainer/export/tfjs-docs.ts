// What a TF.js archive tells its user: the input and output specs,
// preprocessing.json (everything needed to turn raw values into the model's
// input) and a short README.
import { featureWidth } from '../data/tabular.ts'
import type { Preprocessing, TabularPreprocessing, Task } from '../ml/types.ts'
import type { TensorSpec } from './onnx.ts'

/** The name of every input's and output's first, dynamic dimension. */
export const BATCH = 'batch'

/** A TensorSpec with TF.js' element types: token ids are int32 in TF.js. */
export type TfjsTensorSpec = Omit<TensorSpec, 'dtype'> & { dtype: 'float32' | 'int32' }

/** Where each tabular column goes in the feature vector. */
export type FeatureSlot =
  | { column: string; type: 'numeric'; index: number; missing: number }
  | { column: string; type: 'categorical'; offset: number; categories: string[]; unseen: number }

export function taskOf(preprocessing: Preprocessing): Task {
  if (preprocessing.kind === 'tabular') return preprocessing.labels === null ? 'tabular-regression' : 'tabular-classification'
  return `${preprocessing.kind}-classification`
}

export function featureLayout(preprocessing: TabularPreprocessing): FeatureSlot[] {
  let offset = 0
  return preprocessing.features.map((feature): FeatureSlot => {
    const start = offset
    offset += featureWidth(feature)
    if (feature.type === 'numeric') return { column: feature.column, type: 'numeric', index: start, missing: feature.mean ?? 0 }
    const categories = feature.categories ?? []
    return { column: feature.column, type: 'categorical', offset: start, categories, unseen: start + categories.length }
  })
}

const quoted = (names: string[]) => names.map((name) => JSON.stringify(name)).join(', ')

/** The model input as a client feeds it: `name` and `shape` (batch first, as null) from the model. */
export function inputSpec(name: string, shape: (number | null)[], preprocessing: Preprocessing): TfjsTensorSpec {
  const dims = shape.map((d) => d ?? BATCH)
  switch (preprocessing.kind) {
    case 'text': {
      const { maxSequenceLength: length, tokenizer, textColumn } = preprocessing
      const description =
        `Token ids, ${length} per row: the text of "${textColumn}" NFKC-normalized, ${tokenizer.lowercase ? 'lower-cased, ' : ''}` +
        `split into ${tokenizer.cjkCharacters ? 'single CJK characters (Han and hiragana one each, a katakana run as one), ' : ''}` +
        'words (runs of letters and digits, inner apostrophes kept) and single punctuation marks, ' +
        'each token replaced by its index in preprocessing.json "preprocessing.vocabulary" (1 for tokens not in it), ' +
        `cut after ${length} tokens and padded with 0 at the end.`
      return { name, dtype: 'int32', shape: dims, description }
    }
    case 'tabular': {
      const numeric = preprocessing.features.filter((f) => f.type === 'numeric').map((f) => f.column)
      const categorical = preprocessing.features.filter((f) => f.type === 'categorical').map((f) => f.column)
      const parts = [`${preprocessing.inputSize} values per row laid out as preprocessing.json "featureLayout" says`]
      if (numeric.length > 0) {
        parts.push(`numeric columns ${quoted(numeric)} as raw values (booleans as 1 and 0; a missing value as the column's "missing" value, its training mean)`)
      }
      if (categorical.length > 0) {
        parts.push(`categorical columns ${quoted(categorical)} one-hot: 1 at offset + the category's index, or at "unseen" for missing and unseen values`)
      }
      return { name, dtype: 'float32', shape: dims, description: `${parts.join('; ')}.` }
    }
    case 'image': {
      const { height, width, channels, scale } = preprocessing
      const units = scale === 1 ? 'in 0-1, as trained' : `in the dataset's units (the model divides by ${scale} itself)`
      const description =
        `Raw pixel values ${units}: ${height} rows of ${width} pixels with ${channels} interleaved channel${channels === 1 ? '' : 's'} ` +
        '(the order of preprocessing.json "preprocessing.pixelColumns", NHWC); a missing pixel is 0.'
      return { name, dtype: 'float32', shape: dims, description }
    }
  }
}

export function outputSpec(preprocessing: Preprocessing, width: number): TfjsTensorSpec {
  if (preprocessing.labels == null) {
    return { name: 'value', dtype: 'float32', shape: [BATCH, 1], description: `The predicted "${preprocessing.labelColumn}" in its original units.` }
  }
  const shown = quoted(preprocessing.labels.slice(0, 20))
  const more = preprocessing.labels.length > 20 ? ', … (all in preprocessing.json "labels")' : ''
  return {
    name: 'probabilities',
    dtype: 'float32',
    shape: [BATCH, width],
    description: `Class probabilities (softmax) of "${preprocessing.labelColumn}", column i for preprocessing.json "labels"[i]: ${shown}${more}.`,
  }
}

/** What the exported weights absorbed, in words: the steps a client skips. */
export function foldedSteps(preprocessing: Preprocessing): string[] {
  const steps: string[] = []
  if (preprocessing.kind === 'tabular' && preprocessing.features.some((f) => f.type === 'numeric')) {
    steps.push('numeric standardization ((x - mean) / std): feed raw numeric values')
  }
  if (preprocessing.kind === 'image' && preprocessing.scale !== 1) steps.push(`pixel scaling (x / ${preprocessing.scale}): feed raw pixel values`)
  if (preprocessing.kind === 'tabular' && preprocessing.target !== null) {
    steps.push('regression target standardization (y · std + mean): outputs are in original units')
  }
  return steps
}

export interface ArchiveDescription {
  modelName: string
  preprocessing: Preprocessing
  inputs: TfjsTensorSpec[]
  outputs: TfjsTensorSpec[]
  quantize: 'int8' | 'float16' | null
  optimize: boolean
  weightFiles: string[]
  customLayers: boolean
  metadata: Record<string, unknown>
}

/** preprocessing.json: the whole Preprocessing plus what a client needs to build the input and read the output. */
export function preprocessingDocument(d: ArchiveDescription): Record<string, unknown> {
  const pre = d.preprocessing
  return {
    task: taskOf(pre),
    model: d.modelName,
    inputs: d.inputs,
    outputs: d.outputs,
    labels: pre.labels,
    ...(pre.kind === 'tabular' ? { featureLayout: featureLayout(pre) } : {}),
    foldedIntoWeights: foldedSteps(pre),
    weights: { files: d.weightFiles, quantization: d.quantize, optimized: d.optimize },
    preprocessing: pre,
    metadata: d.metadata,
  }
}

export function readme(d: ArchiveDescription): string {
  const [input] = d.inputs
  const [output] = d.outputs
  const folded = foldedSteps(d.preprocessing)
  const weights = d.quantize === null ? 'float32' : `${d.quantize === 'int8' ? 'uint8 (affine, per tensor)' : 'float16'}, dequantized by tf.loadLayersModel`
  return [
    `# ${d.modelName}: ${taskOf(d.preprocessing)} model for TensorFlow.js`,
    '',
    `\`model.json\` and ${d.weightFiles.map((f) => `\`${f}\``).join(', ') || 'no weight files'} are a TF.js layers model (weights ${weights}).`,
    '`preprocessing.json` holds the preprocessing it was trained with, the input and output specs and the export metadata.',
    '',
    '## Load',
    '',
    '```js',
    "import * as tf from '@tensorflow/tfjs'",
    ...(d.customLayers ? ["import './custom-layers.js' // registers the service's custom layers; import it before loading"] : []),
    "const model = await tf.loadLayersModel('https://example.com/path/to/model.json')",
    "// Node with @tensorflow/tfjs-node: tf.loadLayersModel('file:///path/to/model.json')",
    '```',
    ...(d.customLayers
      ? [
          '',
          '`custom-layers.js` is an ES module importing `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers`, the packages',
          '`@tensorflow/tfjs` is made of: bundlers and Node resolve them; a page without a bundler maps them with an import map.',
        ]
      : []),
    '',
    '## Input',
    '',
    `\`${input.name}\`: ${input.dtype} [${input.shape.join(', ')}]. ${input.description}`,
    ...(folded.length > 0 ? ['', 'Folded into the weights, so not to be done by the client:', ...folded.map((step) => `- ${step}`)] : []),
    '',
    '## Output',
    '',
    `\`model.predict(tf.tensor(values, [rows, ${input.shape.slice(1).join(', ')}], '${input.dtype}'))\` gives ${output.name}: ${output.dtype} [${output.shape.join(', ')}]. ${output.description}`,
    '',
  ].join('\n')
}
