// Raw inputs to model inputs inside the graph, as encodeInputs
// (trainer/data/prepare.ts) encodes rows for TF.js: tabular standardization,
// missing values and one-hot categories with the unseen slot; image scaling.
// Text keeps token ids as input: tokenization has no standard ONNX form.
import { featureWidth } from '../data/tabular.ts'
import type { ImagePreprocessing, Preprocessing, TabularFeature, TabularPreprocessing, TextPreprocessing } from '../ml/types.ts'
import { attr, ML_DOMAIN, type TensorSpec } from './onnx-graph.ts'
import { reshape, type CategoricalFeature, type ConversionContext, type NumericFeatures, type Value } from './onnx-values.ts'

/** The name of every input's and output's first, dynamic dimension. */
export const BATCH = 'batch'

export interface RawInputs {
  specs: TensorSpec[]
  /** What the TF.js model's input layer receives. */
  value: Value
}

/** Graph inputs for `preprocessing`'s raw values, encoded to the model input of shape `modelShape`. */
export function rawInputs(ctx: ConversionContext, preprocessing: Preprocessing, modelShape: number[]): RawInputs {
  switch (preprocessing.kind) {
    case 'tabular':
      return tabularInputs(ctx, preprocessing)
    case 'text':
      return textInputs(ctx, preprocessing)
    case 'image':
      return imageInputs(ctx, preprocessing, modelShape)
  }
}

function listed(columns: string[]): string {
  return columns.map((c) => JSON.stringify(c)).join(', ')
}

// ---------------------------------------------------------------- tabular

interface Block {
  feature: TabularFeature
  /** Index of the feature's first slot in the encoded vector. */
  offset: number
}

function tabularInputs(ctx: ConversionContext, pre: TabularPreprocessing): RawInputs {
  let offset = 0
  const blocks: Block[] = pre.features.map((feature) => {
    const block = { feature, offset }
    offset += featureWidth(feature)
    return block
  })
  const numeric = blocks.filter((b) => b.feature.type === 'numeric')
  const categorical = blocks.filter((b) => b.feature.type === 'categorical')
  const numericPart = numeric.length > 0 ? numericInput(ctx, numeric) : null
  const categoricalPart = categorical.length > 0 ? categoricalInput(ctx, categorical) : null
  const oneHot = categoricalPart?.oneHot ?? new Map<Block, string>()
  const value: Value = { name: encodedFeatures(ctx, blocks, numericPart?.standardized, oneHot), shape: [pre.inputSize], channelsFirst: false }
  if (ctx.optimize) value.fold = { kind: 'tabular', numeric: numericPart?.fold ?? null, categorical: categoricalPart?.slots ?? [] }
  return { specs: [numericPart?.spec, categoricalPart?.spec].filter((spec) => spec != null), value }
}

/** The encoded vector in feature order: runs of numeric columns are slices of the standardized block. */
function encodedFeatures(ctx: ConversionContext, blocks: Block[], standardized: string | undefined, oneHot: Map<Block, string>): string {
  const g = ctx.graph
  const numericCount = blocks.filter((b) => b.feature.type === 'numeric').length
  const parts: string[] = []
  let run = { start: 0, end: 0 }
  const closeRun = () => {
    if (run.end === run.start || standardized === undefined) return
    const whole = run.start === 0 && run.end === numericCount
    parts.push(whole ? standardized : g.op('Slice', [standardized, g.int64s([run.start]), g.int64s([run.end]), g.int64s([1])]))
    run = { start: run.end, end: run.end }
  }
  for (const block of blocks) {
    if (block.feature.type === 'numeric') {
      run.end++
    } else {
      closeRun()
      const encoded = oneHot.get(block)
      if (encoded === undefined) throw new Error(`ONNX export: categorical column "${block.feature.column}" has no one-hot encoding`)
      parts.push(encoded)
    }
  }
  closeRun()
  return parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: attr.int(1) }, 'features')
}

/** The `numeric` input: standardized with missing values as 0, and (optimizing) the raw values with missing ones as the mean. */
function numericInput(ctx: ConversionContext, numeric: Block[]): { spec: TensorSpec; standardized: string; fold: NumericFeatures | null } {
  const g = ctx.graph
  const x = g.reserve('numeric')
  const spec: TensorSpec = {
    name: x,
    dtype: 'float32',
    shape: [BATCH, numeric.length],
    description:
      `Raw values of the numeric columns ${listed(numeric.map((b) => b.feature.column))}, in this order (booleans as 1 and 0, ` +
      'numbers written as text parsed). NaN marks a missing value, which counts as the column mean of the training data.',
  }
  const mean = numeric.map((b) => b.feature.mean ?? 0)
  const std = numeric.map((b) => b.feature.std || 1)
  const missing = g.op('IsNaN', [x], {}, 'missing')
  const scaled = g.op('Div', [g.op('Sub', [x, g.floats('mean', mean)]), g.floats('std', std)], {}, 'standardized')
  const standardized = g.op('Where', [missing, g.scalar(0), scaled], {}, 'standardized')
  const positions = numeric.map((b) => b.offset)
  if (!ctx.optimize) return { spec, standardized, fold: null }
  if (!ctx.folds.standardization) return { spec, standardized, fold: { input: standardized, positions, mean: mean.map(() => 0), std: std.map(() => 1) } }
  const filled = g.op('Where', [missing, g.floats('mean', mean), x], {}, 'numeric_filled')
  return { spec, standardized, fold: { input: filled, positions, mean, std } }
}

/** The `categorical` input: each column's category slot, and its one-hot block. */
function categoricalInput(ctx: ConversionContext, categorical: Block[]): { spec: TensorSpec; oneHot: Map<Block, string>; slots: CategoricalFeature[] } {
  const g = ctx.graph
  const input = g.reserve('categorical')
  const spec: TensorSpec = {
    name: input,
    dtype: 'string',
    shape: [BATCH, categorical.length],
    description:
      `Values of the categorical columns ${listed(categorical.map((b) => b.feature.column))}, in this order, as text ` +
      "(numbers as JavaScript's String() writes them). An empty string marks a missing value; missing values and values " +
      'not seen in training share the "unseen" slot.',
  }
  const oneHot = new Map<Block, string>()
  const slots = categorical.map((block, j): CategoricalFeature => {
    const { column, categories = [] } = block.feature
    const indices = categorySlot(ctx, input, j, column, categories)
    const width = categories.length + 1
    oneHot.set(block, g.op('OneHot', [indices, g.int64s([width]), g.floats('one_hot_values', [0, 1])], { axis: attr.int(-1) }, column))
    return { column, indices, offset: block.offset, width }
  })
  return { spec, oneHot, slots }
}

/** int64 [N]: each row's category index in column `j` of the string input, or the unseen slot. */
function categorySlot(ctx: ConversionContext, input: string, j: number, column: string, categories: string[]): string {
  const g = ctx.graph
  const values = g.op('Gather', [input, g.int64s([j], [])], { axis: attr.int(1) }, column)
  // LabelEncoder needs a key; with no categories every value, missing ('') or not, is unseen: slot 0.
  const keys = categories.length > 0 ? categories : ['']
  const attributes = {
    keys_strings: attr.strings(keys),
    values_int64s: attr.ints(keys.map((_, i) => i)),
    default_int64: attr.int(categories.length),
  }
  return g.node('LabelEncoder', [values], attributes, { hint: `${column}_slot`, domain: ML_DOMAIN })[0]
}

// ---------------------------------------------------------------- text

function textInputs(ctx: ConversionContext, pre: TextPreprocessing): RawInputs {
  const name = ctx.graph.reserve('tokens')
  const length = pre.maxSequenceLength
  const description =
    `Token ids, ${length} per row: the text tokenized as metadata "tokenizer" says (NFKC-normalized, ` +
    `${pre.tokenizer.lowercase ? 'lower-cased, ' : ''}${pre.tokenizer.cjkCharacters ? 'one token per Han or hiragana character and per katakana run, ' : ''}` +
    'words as runs of letters and digits with inner apostrophes kept, each punctuation mark alone), ' +
    'each token replaced by its index in metadata "vocabulary" (1 for tokens not in it), ' +
    `cut after ${length} tokens and padded with 0.`
  return {
    specs: [{ name, dtype: 'int64', shape: [BATCH, length], description }],
    value: { name, shape: [length], channelsFirst: false },
  }
}

// ---------------------------------------------------------------- image

function imageInputs(ctx: ConversionContext, pre: ImagePreprocessing, modelShape: number[]): RawInputs {
  const g = ctx.graph
  const size = pre.height * pre.width * pre.channels
  const name = g.reserve('pixels')
  const description =
    `Raw pixel values of the ${size} pixel columns in order (${pre.height} rows of ${pre.width} pixels, ` +
    `${pre.channels} interleaved channel${pre.channels === 1 ? '' : 's'} each), in the dataset's units; the graph divides by ${pre.scale}. ` +
    'NaN marks a missing pixel, which counts as 0.'
  const filled = g.op('Where', [g.op('IsNaN', [name]), g.scalar(0), name], {}, 'pixels_filled')
  let value: Value = { name: filled, shape: [size], channelsFirst: false }
  if (pre.scale !== 1) {
    value.name = g.op('Div', [filled, g.scalar(pre.scale)], {}, 'pixels_scaled')
    if (ctx.folds.scales) value.fold = { kind: 'scale', input: filled, factor: 1 / pre.scale }
  }
  if (modelShape.length > 1) value = reshape(ctx, value, modelShape)
  return { specs: [{ name, dtype: 'float32', shape: [BATCH, size], description }], value }
}
