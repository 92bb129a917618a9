// Which column plays which role: the label, the text, the features or the
// pixels, from the job's dataset settings, an earlier model's preprocessing,
// or defaults that fit the usual layouts (a `label` column, a `text` column,
// MNIST-style pixel columns).
import type { JobConfig, Preprocessing } from '../ml/types.ts'
import { BadInputError } from '../ml/types.ts'
import { isMissing, quoteList } from './values.ts'
import type { Row } from './load.ts'

type DatasetSettings = JobConfig['dataset']

/** Rows looked at to decide whether a column holds text. */
const sniffRows = 1000

/** Throws when `name` is not one of `columns`, naming the setting and listing what is there. */
export function requireColumn(name: string, columns: string[], setting: string): string {
  if (columns.includes(name)) return name
  const nearMiss = columns.find((column) => column.toLowerCase() === name.toLowerCase())
  const hint = nearMiss !== undefined ? ` (did you mean "${nearMiss}"?)` : ''
  throw new BadInputError(`${setting} "${name}" is not a column of the dataset${hint}; its columns are ${quoteList(columns)}`)
}

/** The columns of `rows` in order of first appearance, for callers that have no column list. */
export function columnsOf(rows: Row[]): string[] {
  const seen = new Set<string>()
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key)
  return [...seen]
}

/** Configured name, else the earlier model's when the data has it, else `label`, else the last column. */
export function resolveLabelColumn(columns: string[], dataset: DatasetSettings, fitted?: Preprocessing): string {
  if (dataset.labelColumn !== undefined) return requireColumn(dataset.labelColumn, columns, 'dataset.labelColumn')
  if (fitted !== undefined && columns.includes(fitted.labelColumn)) return fitted.labelColumn
  if (columns.includes('label')) return 'label'
  const last = columns.at(-1)
  if (last === undefined) throw new BadInputError('the dataset has no columns')
  return last
}

/** Configured name, else the earlier model's, else `text`, else the first column other than the label that holds strings. */
export function resolveTextColumn(columns: string[], rows: Row[], labelColumn: string, dataset: DatasetSettings, fitted?: Preprocessing): string {
  let column: string | undefined
  if (dataset.textColumn !== undefined) column = requireColumn(dataset.textColumn, columns, 'dataset.textColumn')
  else if (fitted?.kind === 'text' && columns.includes(fitted.textColumn)) column = fitted.textColumn
  else if (columns.includes('text') && labelColumn !== 'text') column = 'text'
  else column = columns.find((name) => name !== labelColumn && holdsStrings(rows, name))
  if (column === undefined) {
    throw new BadInputError(`no column holds text (the label column is "${labelColumn}"); set dataset.textColumn to one of ${quoteList(columns)}`)
  }
  if (column === labelColumn) throw new BadInputError(`the text column and the label column are both "${column}"; they must differ`)
  return column
}

function holdsStrings(rows: Row[], column: string): boolean {
  let seen = 0
  for (let i = 0; i < rows.length && seen < sniffRows; i++) {
    const value = rows[i][column]
    if (isMissing(value)) continue
    if (typeof value !== 'string') return false
    seen++
  }
  return seen > 0
}

/** Configured feature columns, else the earlier model's, else every column except the label. */
export function resolveFeatureColumns(columns: string[], labelColumn: string, dataset: DatasetSettings, fittedColumns?: string[]): string[] {
  if (fittedColumns !== undefined) {
    if (dataset.featureColumns !== undefined && !sameSet(dataset.featureColumns, fittedColumns)) {
      throw new BadInputError(
        `dataset.featureColumns (${quoteList(dataset.featureColumns)}) differ from the features of the model being continued (${quoteList(fittedColumns)})`,
      )
    }
    for (const column of fittedColumns) requireColumn(column, columns, "the earlier model's feature column")
    return fittedColumns
  }
  if (dataset.featureColumns !== undefined) {
    for (const column of dataset.featureColumns) requireColumn(column, columns, 'dataset.featureColumns entry')
    if (dataset.featureColumns.includes(labelColumn)) {
      throw new BadInputError(`dataset.featureColumns includes the label column "${labelColumn}"; a model must not see its own answer`)
    }
    return dataset.featureColumns
  }
  const features = columns.filter((column) => column !== labelColumn)
  if (features.length === 0) throw new BadInputError(`the dataset has no columns besides the label column "${labelColumn}"`)
  return features
}

function sameSet(a: string[], b: string[]): boolean {
  const set = new Set(a)
  return set.size === new Set(b).size && b.every((item) => set.has(item))
}

/** Configured feature columns, else the earlier model's (by name, or by position when the count matches), else all but the label. */
export function resolvePixelColumns(columns: string[], labelColumn: string, dataset: DatasetSettings, fitted?: Preprocessing): string[] {
  if (fitted?.kind === 'image' && dataset.featureColumns === undefined) {
    if (fitted.pixelColumns.every((column) => columns.includes(column))) return fitted.pixelColumns
    const others = columns.filter((column) => column !== labelColumn)
    if (others.length === fitted.pixelColumns.length) return others
    throw new BadInputError(
      `the earlier model reads ${fitted.pixelColumns.length} pixel columns (${fitted.width}×${fitted.height}×${fitted.channels}), but the dataset has ${others.length} columns besides the label`,
    )
  }
  const pixels = resolveFeatureColumns(columns, labelColumn, dataset)
  if (fitted?.kind === 'image' && pixels.length !== fitted.pixelColumns.length) {
    throw new BadInputError(`dataset.featureColumns lists ${pixels.length} pixel columns, but the earlier model reads ${fitted.pixelColumns.length}`)
  }
  return pixels
}

export interface ImageShape {
  width: number
  height: number
  channels: number
}

/**
 * The image size: from the dataset metadata ({ width, height, channels }),
 * else square grayscale when the pixel count is a perfect square (784 → 28×28×1).
 * Pixel columns are read in order as rows of pixels, channels interleaved (HWC).
 */
export function resolveImageShape(pixelCount: number, metadata: Record<string, unknown> | null | undefined): ImageShape {
  const declared = metadata ? { width: metadata.width, height: metadata.height, channels: metadata.channels } : {}
  if (declared.width !== undefined || declared.height !== undefined) {
    const width = positiveInteger(declared.width, 'width')
    const height = positiveInteger(declared.height, 'height')
    const channels = declared.channels === undefined ? 1 : positiveInteger(declared.channels, 'channels')
    if (width * height * channels !== pixelCount) {
      throw new BadInputError(
        `the dataset metadata says ${width}×${height}×${channels} images (${width * height * channels} values each), but there are ${pixelCount} pixel columns`,
      )
    }
    return { width, height, channels }
  }
  const side = Math.round(Math.sqrt(pixelCount))
  if (pixelCount > 0 && side * side === pixelCount) return { width: side, height: side, channels: 1 }
  throw new BadInputError(
    `cannot tell the image size from ${pixelCount} pixel columns (not a square number); ` +
      'set the dataset metadata to { "width": W, "height": H, "channels": C } or list the pixel columns in dataset.featureColumns',
  )
}

function positiveInteger(value: unknown, name: string): number {
  const number = typeof value === 'string' ? Number(value) : value
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1) {
    throw new BadInputError(`the dataset metadata's ${name} must be a positive integer (got ${JSON.stringify(value) ?? 'nothing'})`)
  }
  return number
}
