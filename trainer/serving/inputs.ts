// Raw prediction inputs, as an API client sends them, checked against what a
// model was trained on and encoded by the dataset encoders (trainer/data)
// exactly as the training rows were. Every problem is collected, so that one
// E1108 names them all. What the model can take but did not learn from (a
// missing feature, an unseen category, a text of unknown tokens) is no error:
// each input's prediction carries warnings saying so.
import { InvalidInputError, type FieldProblem } from '../../src/errors/index.ts'
import type { Row } from '../data/load.ts'
import { encodeInputs } from '../data/prepare.ts'
import { maxCategories } from '../data/tabular.ts'
import { tokenize } from '../data/text.ts'
import { isMissing, numberOf, quoteList, valueText } from '../data/values.ts'
import type { ImagePreprocessing, Preprocessing, TabularFeature, TabularPreprocessing, TextPreprocessing } from '../ml/types.ts'

/** What a model takes, for docs and error messages. */
export type ModelInputs =
  | { kind: 'text'; column: string; maxTokens: number }
  | { kind: 'tabular'; features: { name: string; type: 'numeric' | 'categorical'; categories?: string[] }[] }
  | { kind: 'image'; pixels: number; width: number; height: number; channels: number; pixelRange: [number, number] }

/** A wrong 784-pixel array should not list 784 fields: past this many, one line counts the rest of an input's problems. */
const problemsPerInput = 5

export function describeInputs(preprocessing: Preprocessing): ModelInputs {
  switch (preprocessing.kind) {
    case 'text':
      return { kind: 'text', column: preprocessing.textColumn, maxTokens: preprocessing.maxSequenceLength }
    case 'tabular':
      return {
        kind: 'tabular',
        features: preprocessing.features.map((f) => ({
          name: f.column,
          type: f.type,
          ...(f.type === 'categorical' ? { categories: f.categories ?? [] } : {}),
        })),
      }
    case 'image': {
      const { width, height, channels, scale } = preprocessing
      return { kind: 'image', pixels: preprocessing.pixelColumns.length, width, height, channels, pixelRange: [0, scale] }
    }
  }
}

/** One line on what a model takes, e.g. `28×28×1 images: 784 pixel values in 0-255`. */
export function summarizeInputs(inputs: ModelInputs): string {
  switch (inputs.kind) {
    case 'text':
      return `text in "${inputs.column}" (up to ${inputs.maxTokens} tokens)`
    case 'tabular':
      return `${inputs.features.length} features: ${listed(inputs.features.map((f) => `"${f.name}" (${f.type})`))}`
    case 'image':
      return `${inputs.width}×${inputs.height}×${inputs.channels} images: ${inputs.pixels} pixel values in ${inputs.pixelRange[0]}-${inputs.pixelRange[1]}`
  }
}

/** The items of `inputs`: throws E1108 unless it is an array of 1 to `maxBatch` items. */
export function checkBatch(inputs: unknown, maxBatch: number): unknown[] {
  const expected = `an array of 1 to ${maxBatch} inputs`
  if (!Array.isArray(inputs)) throw InvalidInputError.fromProblems([{ field: 'inputs', message: `must be ${expected}, got ${shown(inputs)}` }])
  if (inputs.length === 0) throw InvalidInputError.fromProblems([{ field: 'inputs', message: `is empty: send ${expected}` }])
  if (inputs.length > maxBatch) {
    throw InvalidInputError.fromProblems([{ field: 'inputs', message: `has ${inputs.length} items, more than the ${maxBatch} one call takes: split them` }])
  }
  return inputs
}

/**
 * An encoder of a model's raw inputs: the model input rows, encoded by the
 * trainer's own encoders, or E1108 listing every problem of every item.
 */
export function createInputEncoder(preprocessing: Preprocessing): (items: unknown[]) => EncodedInputs {
  const columns = modelColumns(preprocessing)
  const readValues = valuesReader(preprocessing, columns)
  const warningsOf = warner(preprocessing)
  // Each row is the item's values in column order, and the encoders read it by
  // position ('0', '1', …): a row object with hundreds of named pixel keys
  // costs milliseconds per input to build (V8 makes it a dictionary).
  const byPosition = keyedByPosition(preprocessing)
  return (items) => {
    const problems: FieldProblem[] = []
    const rows = items.map((item, i) => {
      const at = `inputs[${i}]`
      const found: FieldProblem[] = []
      const values = readValues(item, at, found)
      problems.push(...capped(found, at))
      // an array is an object keyed by position: what the encoders read
      return values as unknown as Row
    })
    if (problems.length > 0) throw InvalidInputError.fromProblems(problems)
    return { ...encodeInputs(byPosition, rows), warnings: rows.map((row) => warningsOf(row as unknown as unknown[])) }
  }
}

export interface EncodedInputs {
  x: Float32Array | Int32Array
  count: number
  /** Per input: what of it the model did not learn from. */
  warnings: string[][]
}

/** Warnings about one checked input's values (in column order). */
type Warner = (values: unknown[]) => string[]

function warner(preprocessing: Preprocessing): Warner {
  switch (preprocessing.kind) {
    case 'text':
      return textWarnings(preprocessing)
    case 'tabular':
      return tabularWarnings(preprocessing)
    case 'image':
      return () => []
  }
}

function textWarnings({ tokenizer, vocabulary, maxSequenceLength, textColumn }: TextPreprocessing): Warner {
  // 0 and 1 are padding and out-of-vocabulary: no text token is either
  const known = new Set(vocabulary.slice(2))
  return ([text]) => {
    const tokens = tokenize(typeof text === 'string' ? text : '', tokenizer)
    if (tokens.length === 0) return [`the text of "${textColumn}" has no tokens: the model sees only padding`]
    const warnings: string[] = []
    const unknown = tokens.filter((token) => !known.has(token)).length
    if (unknown === tokens.length) {
      warnings.push(
        `all ${tokens.length} token${tokens.length === 1 ? '' : 's'} of the text are unknown (not seen in training): the model sees only unknown tokens`,
      )
    }
    if (tokens.length > maxSequenceLength) warnings.push(`the text has ${tokens.length} tokens; the model reads only the first ${maxSequenceLength}`)
    return warnings
  }
}

function tabularWarnings({ features }: TabularPreprocessing): Warner {
  const known = features.map((feature) => new Set(feature.categories ?? []))
  return (values) =>
    features.flatMap((feature, j) => {
      const value = values[j]
      if (isMissing(value)) {
        const filled = feature.type === 'numeric' ? 'its training mean is used' : 'it counts as an unseen category'
        return [`feature "${feature.column}" is missing: ${filled}`]
      }
      if (feature.type !== 'categorical' || known[j].has(valueText(value))) return []
      const rare = known[j].size >= maxCategories ? ' (or was too rare to get its own feature)' : ''
      return [`category ${JSON.stringify(valueText(value))} of "${feature.column}" was not seen in training${rare}: it counts as unseen`]
    })
}

/** The columns a model reads, in the order its encoder reads them. */
function modelColumns(preprocessing: Preprocessing): string[] {
  switch (preprocessing.kind) {
    case 'text':
      return [preprocessing.textColumn]
    case 'tabular':
      return preprocessing.features.map((f) => f.column)
    case 'image':
      return preprocessing.pixelColumns
  }
}

/** The same preprocessing, its columns renamed to their positions. */
function keyedByPosition(preprocessing: Preprocessing): Preprocessing {
  switch (preprocessing.kind) {
    case 'text':
      return { ...preprocessing, textColumn: '0' }
    case 'tabular':
      return { ...preprocessing, features: preprocessing.features.map((feature, j) => ({ ...feature, column: String(j) })) }
    case 'image':
      return { ...preprocessing, pixelColumns: preprocessing.pixelColumns.map((_, j) => String(j)) }
  }
}

/** Reads one item's values in column order, adding what is wrong with it to `problems`. */
type ValuesReader = (item: unknown, at: string, problems: FieldProblem[]) => unknown[]

function valuesReader(preprocessing: Preprocessing, columns: string[]): ValuesReader {
  switch (preprocessing.kind) {
    case 'text':
      return textValues(preprocessing)
    case 'tabular':
      return tabularValues(preprocessing, columns)
    case 'image':
      return imageValues(preprocessing)
  }
}

function textValues({ textColumn }: TextPreprocessing): ValuesReader {
  return (item, at, problems) => {
    if (typeof item === 'string') return [item]
    if (!isPlainObject(item)) {
      problems.push({ field: at, message: `must be a string or an object with a "${textColumn}" string, got ${shown(item)}` })
      return []
    }
    problems.push(...unknownKeys(item, new Set([textColumn]), [textColumn], at))
    const text = Object.hasOwn(item, textColumn) ? item[textColumn] : undefined
    if (text === undefined) problems.push({ field: at, message: `has no "${textColumn}": the model reads its text from "${textColumn}"` })
    else if (typeof text !== 'string') problems.push({ field: fieldPath(at, textColumn), message: `must be a string, got ${shown(text)}` })
    return [text]
  }
}

function tabularValues({ features }: TabularPreprocessing, columns: string[]): ValuesReader {
  const known = new Set(columns)
  const expected = `an object keyed by feature column (${quoteList(columns)}) or an array of ${columns.length} values in that order`
  return (item, at, problems) => {
    let values: unknown[]
    let fieldOf: (j: number) => string
    if (Array.isArray(item)) {
      if (item.length !== columns.length) {
        problems.push({ field: at, message: `has ${item.length} values; the model takes ${columns.length}, in this order: ${quoteList(columns)}` })
        return []
      }
      values = item
      fieldOf = (j) => `${at}[${j}]`
    } else if (isPlainObject(item)) {
      problems.push(...unknownKeys(item, known, columns, at))
      values = columns.map((column) => (Object.hasOwn(item, column) ? item[column] : undefined))
      fieldOf = (j) => fieldPath(at, columns[j])
    } else {
      problems.push({ field: at, message: `must be ${expected}, got ${shown(item)}` })
      return []
    }
    // An input with problems already says what is wrong with it; an empty one ({}, or only nulls) says nothing
    if (problems.length === 0 && values.every(isMissing)) {
      problems.push({ field: at, message: `is empty: it gives none of the model's features (${quoteList(columns)}); send at least one` })
      return values
    }
    features.forEach((feature, j) => {
      const problem = featureProblem(feature, values[j])
      if (problem !== null) problems.push({ field: fieldOf(j), message: problem })
    })
    return values
  }
}

/** What is wrong with a feature value, or null; a missing value is fine (the encoder fills it in, as in training). */
function featureProblem(feature: TabularFeature, value: unknown): string | null {
  if (isMissing(value)) return null
  if (feature.type === 'numeric') {
    if (typeof value === 'boolean' || numberOf(value) !== undefined) return null
    return `feature "${feature.column}" is numeric: expected a number, got ${shown(value)}`
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return null
  return `feature "${feature.column}" is categorical: expected a category (text, number or boolean), got ${shown(value)}`
}

function imageValues({ pixelColumns, width, height, channels }: ImagePreprocessing): ValuesReader {
  const known = new Set(pixelColumns)
  const size = `${width}×${height}×${channels}`
  return (item, at, problems) => {
    let values: unknown[]
    let fieldOf: (j: number) => string
    if (Array.isArray(item)) {
      if (item.length !== pixelColumns.length) {
        problems.push({
          field: at,
          message: `has ${item.length} pixel values; the model takes ${pixelColumns.length} (${size}, rows of pixels with channels interleaved)`,
        })
        return []
      }
      values = item
      fieldOf = (j) => `${at}[${j}]`
    } else if (isPlainObject(item)) {
      problems.push(...unknownKeys(item, known, pixelColumns, at))
      const missing = pixelColumns.filter((column) => !Object.hasOwn(item, column))
      if (missing.length > 0)
        problems.push({ field: at, message: `lacks ${missing.length} of the ${pixelColumns.length} pixel columns: ${quoteList(missing)}` })
      values = pixelColumns.map((column) => (Object.hasOwn(item, column) ? item[column] : undefined))
      fieldOf = (j) => fieldPath(at, pixelColumns[j])
    } else {
      problems.push({
        field: at,
        message: `must be an array of ${pixelColumns.length} pixel values (${size}) or an object with the pixel columns, got ${shown(item)}`,
      })
      return []
    }
    for (let j = 0; j < values.length; j++) {
      const value = values[j]
      // a missing pixel column is reported once, above
      if (value === undefined && !Array.isArray(item)) continue
      if (numberOf(value) === undefined) problems.push({ field: fieldOf(j), message: `must be a pixel value (a number), got ${shown(value)}` })
    }
    return values
  }
}

function unknownKeys(item: Record<string, unknown>, known: Set<string>, columns: string[], at: string): FieldProblem[] {
  return Object.keys(item)
    .filter((key) => !known.has(key))
    .map((key) => ({ field: fieldPath(at, key), message: `is not a column of the model; its columns are ${quoteList(columns)}` }))
}

function capped(problems: FieldProblem[], at: string): FieldProblem[] {
  if (problems.length <= problemsPerInput) return problems
  const more = problems.length - problemsPerInput
  return [...problems.slice(0, problemsPerInput), { field: at, message: `has ${more} more problem${more === 1 ? '' : 's'} like those above` }]
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The first `limit` items joined, and how many more. */
function listed(items: string[], limit = 20): string {
  const head = items.slice(0, limit).join(', ')
  return items.length > limit ? `${head} and ${items.length - limit} more` : head
}

/** `inputs[2].x1` for a plain name, `inputs[2]["unit price"]` otherwise. */
function fieldPath(at: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`
}

/** A value as an error message shows it: short, and saying what kind of thing it is. */
function shown(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return String(value)
}
