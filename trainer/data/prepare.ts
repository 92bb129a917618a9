// From dataset rows to the three encoded splits a model trains on: resolve
// column roles, read the labels, split, fit the preprocessing on the training
// split (or reuse an earlier model's) and encode.
import type { ImagePreprocessing, JobConfig, PreparedData, Preprocessing, Split, Task, TabularPreprocessing, TextPreprocessing } from '../ml/types.ts'
import { BadInputError } from '../ml/types.ts'
import { columnsOf, resolveFeatureColumns, resolveImageShape, resolveLabelColumn, resolvePixelColumns, resolveTextColumn } from './columns.ts'
import { createPixelEncoder, encodePixels, pixelScale } from './image.ts'
import type { Row } from './load.ts'
import { classWarnings, readClasses, readTargets, type Targets } from './labels.ts'
import { encodeSplits, splitPositions } from './split.ts'
import { createFeatureEncoder, encodeFeatures, featureWidth, fitFeatures, Moments } from './tabular.ts'
import { createTokenEncoder, defaultTokenizer, encodeTokens, fitText, tokenizeRows } from './text.ts'

export interface PrepareInput {
  task: Task
  rows: Row[]
  /** Column names in file order; when empty, the keys of the rows. */
  columns: string[]
  dataset: JobConfig['dataset']
  hyperparameters: JobConfig['hyperparameters']
  seed: number
  metadata?: Record<string, unknown> | null
  /** An earlier model's preprocessing (fine-tuning, resuming): reused as is instead of fitted. */
  fitted?: Preprocessing
}

const kindOfTask: Record<Task, Preprocessing['kind']> = {
  'text-classification': 'text',
  'tabular-classification': 'tabular',
  'tabular-regression': 'tabular',
  'image-classification': 'image',
}

type Target = ReturnType<typeof readTargets> | ReturnType<typeof readClasses>
type Positions = ReturnType<typeof splitPositions>

/** The rows with a label, their split, and what the split leaves to say. */
interface Labelled {
  kept: Row[]
  target: Target
  positions: Positions
}

/** What one kind of preprocessing makes of the labelled rows. */
interface Encoded {
  preprocessing: Preprocessing
  xs: Float32Array[] | Int32Array[]
  inputShape: number[]
}

/** Encodes the rows into train, validation and test splits; throws BadInputError for data the task cannot use. */
export function prepareData(input: PrepareInput): PreparedData {
  const { task, rows, dataset, fitted } = input
  const columns = input.columns.length > 0 ? input.columns : columnsOf(rows)
  if (rows.length === 0) throw new BadInputError('the dataset has no rows')
  if (fitted !== undefined) checkFittedFits(task, fitted)
  const labelColumn = resolveLabelColumn(columns, dataset, fitted)
  const warnings: string[] = []
  // Column roles are resolved (and refused) before the labels are read, so the first problem named is the column's.
  const textColumn = task === 'text-classification' ? resolveTextColumn(columns, rows, labelColumn, dataset, fitted) : undefined
  const featureColumns = task.startsWith('tabular-')
    ? resolveFeatureColumns(columns, labelColumn, dataset, fitted?.kind === 'tabular' ? fitted.features.map((f) => f.column) : undefined)
    : undefined
  const pixelColumns = task === 'image-classification' ? resolvePixelColumns(columns, labelColumn, dataset, fitted) : undefined
  const labelled = labelAndSplit(input, labelColumn, warnings)
  let encoded: Encoded
  if (textColumn !== undefined) encoded = encodeText(input, labelled, textColumn, labelColumn, warnings)
  else if (featureColumns !== undefined) encoded = encodeTabular(input, labelled, featureColumns, labelColumn, warnings)
  else if (pixelColumns !== undefined) encoded = encodeImage(input, labelled, pixelColumns, labelColumn)
  else throw new Error(`unknown task ${JSON.stringify(task)}`)
  const { target, positions } = labelled
  const { preprocessing, xs, inputShape } = encoded
  const targetStats = preprocessing.kind === 'tabular' ? preprocessing.target : null
  const split = (part: number): Split => {
    const chosen = [positions.train, positions.validation, positions.test][part]
    let y: Float32Array | Int32Array
    if (target.kind === 'classes') {
      y = Int32Array.from(chosen, (p) => target.classes[p])
    } else {
      const { mean, std } = targetStats ?? { mean: 0, std: 1 }
      y = Float32Array.from(chosen, (p) => (target.values[p] - mean) / std)
    }
    return { x: xs[part], y, count: chosen.length, rows: chosen.map((p) => target.kept[p]) }
  }
  return {
    preprocessing,
    inputShape,
    inputDtype: preprocessing.kind === 'text' ? 'int32' : 'float32',
    numClasses: target.kind === 'classes' ? target.labels.length : null,
    train: split(0),
    validation: split(1),
    test: split(2),
    warnings,
  }
}

/** Reads the labels, leaves out rows without one, and splits the rest (stratified for classes). */
function labelAndSplit(input: PrepareInput, labelColumn: string, warnings: string[]): Labelled {
  const { task, rows, dataset, fitted } = input
  const target = task === 'tabular-regression' ? readTargets(rows, labelColumn) : readClasses(rows, labelColumn, fitted)
  if (target.kept.length < rows.length) {
    const dropped = rows.length - target.kept.length
    warnings.push(`${dropped} row${dropped === 1 ? '' : 's'} without a value in the label column "${labelColumn}" ${dropped === 1 ? 'was' : 'were'} left out`)
  }
  const kept = target.kept.map((i) => rows[i])
  const positions = splitPositions({
    count: kept.length,
    classes: target.kind === 'classes' ? target.classes : null,
    numClasses: target.kind === 'classes' ? target.labels.length : 0,
    validationSplit: dataset.validationSplit,
    testSplit: dataset.testSplit,
    seed: input.seed,
  })
  if (positions.validation.length === 0) warnings.push('the validation split is empty: there will be no validation metrics')
  if (target.kind === 'classes') warnings.push(...classWarnings(target.labels, target.classes, positions))
  return { kept, target, positions }
}

function encodeText(input: PrepareInput, labelled: Labelled, textColumn: string, labelColumn: string, warnings: string[]): Encoded {
  const { fitted } = input
  const { kept, target, positions } = labelled
  const tokenized = tokenizeRows(kept, textColumn, fitted?.kind === 'text' ? fitted.tokenizer : defaultTokenizer)
  if (positions.train.every((p) => tokenized.ids[p].length === 0)) {
    throw new BadInputError(`the text column "${textColumn}" has no text in the training rows`)
  }
  const text: TextPreprocessing =
    fitted?.kind === 'text'
      ? { ...fitted, textColumn, labelColumn }
      : fitText({
          textColumn,
          labelColumn,
          tokenized,
          train: positions.train,
          labels: target.kind === 'classes' ? target.labels : [],
          vocabSize: input.hyperparameters.vocabSize,
          maxSequenceLength: input.hyperparameters.maxSequenceLength,
        })
  const encodeRow = createTokenEncoder(text, tokenized)
  let cut = 0
  const xs = encodeSplits(positions, text.maxSequenceLength, Int32Array, (p, x, offset) => {
    if (encodeRow(p, x, offset)) cut++
  })
  if (cut > 0) warnings.push(`${cut} of ${kept.length} texts are longer than ${text.maxSequenceLength} tokens and were truncated`)
  return { preprocessing: text, xs, inputShape: [text.maxSequenceLength] }
}

function encodeTabular(input: PrepareInput, labelled: Labelled, featureColumns: string[], labelColumn: string, warnings: string[]): Encoded {
  const { fitted } = input
  const { kept, target, positions } = labelled
  const table: TabularPreprocessing =
    fitted?.kind === 'tabular' ? { ...fitted, labelColumn } : fitTabular(kept, featureColumns, labelColumn, target, positions.train, warnings)
  const encodeRow = createFeatureEncoder(table)
  const xs = encodeSplits(positions, table.inputSize, Float32Array, (p, x, offset) => encodeRow(kept[p], x, offset))
  return { preprocessing: table, xs, inputShape: [table.inputSize] }
}

function encodeImage(input: PrepareInput, labelled: Labelled, pixelColumns: string[], labelColumn: string): Encoded {
  const { fitted } = input
  const { kept, target, positions } = labelled
  const shape = fitted?.kind === 'image' ? fitted : resolveImageShape(pixelColumns.length, input.metadata)
  const image: ImagePreprocessing = {
    kind: 'image',
    labelColumn,
    pixelColumns,
    width: shape.width,
    height: shape.height,
    channels: shape.channels,
    scale: fitted?.kind === 'image' ? fitted.scale : 1,
    labels: target.kind === 'classes' ? target.labels : [],
  }
  const encodeRow = createPixelEncoder(image)
  const xs = encodeSplits(positions, pixelColumns.length, Float32Array, (p, x, offset) => encodeRow(kept[p], x, offset))
  if (fitted === undefined) {
    // the scale is decided from the data itself: 0-255 pixels or already 0-1
    image.scale = pixelScale(xs)
    if (image.scale !== 1) for (const x of xs) for (let i = 0; i < x.length; i++) x[i] /= image.scale
  }
  return { preprocessing: image, xs, inputShape: [image.height, image.width, image.channels] }
}

/** Encodes raw rows (e.g. prediction inputs) exactly as training rows were. */
export function encodeInputs(preprocessing: Preprocessing, rows: Row[]): { x: Float32Array | Int32Array; count: number } {
  switch (preprocessing.kind) {
    case 'text':
      return { x: encodeTokens(preprocessing, tokenizeRows(rows, preprocessing.textColumn, preprocessing.tokenizer)), count: rows.length }
    case 'tabular':
      return { x: encodeFeatures(preprocessing, rows), count: rows.length }
    case 'image':
      return { x: encodePixels(preprocessing, rows), count: rows.length }
  }
}

function checkFittedFits(task: Task, fitted: Preprocessing): void {
  const regression = task === 'tabular-regression'
  const fittedRegression = fitted.kind === 'tabular' && fitted.labels === null
  if (fitted.kind !== kindOfTask[task] || regression !== fittedRegression) {
    throw new BadInputError(`the earlier model was trained for ${fittedRegression ? 'regression' : `${fitted.kind} classification`}, not for ${task}`)
  }
}

function fitTabular(
  kept: Row[],
  featureColumns: string[],
  labelColumn: string,
  target: Targets,
  trainPositions: number[],
  warnings: string[],
): TabularPreprocessing {
  const train = new Uint8Array(kept.length)
  for (const p of trainPositions) train[p] = 1
  const features = fitFeatures(kept, train, featureColumns, warnings)
  let targetStats: TabularPreprocessing['target'] = null
  if (target.kind === 'values') {
    const moments = new Moments()
    for (const p of trainPositions) moments.add(target.values[p])
    targetStats = moments.meanAndStd()
  }
  return {
    kind: 'tabular',
    labelColumn,
    features,
    inputSize: features.reduce((sum, feature) => sum + featureWidth(feature), 0),
    labels: target.kind === 'classes' ? target.labels : null,
    target: targetStats,
  }
}
