// Table rows to feature vectors: numeric columns standardized, categorical
// ones one-hot with a slot for values training never saw. Every statistic
// comes from the training split, so validation and test stay unseen.
import type { TabularFeature, TabularPreprocessing } from '../ml/types.ts'
import { BadInputError } from '../ml/types.ts'
import { isMissing, numberOf, valueText } from './values.ts'
import type { Row } from './load.ts'

/** Categories kept per column (the most frequent); rarer ones share the unseen slot, so an id-like column cannot blow up the input. */
export const maxCategories = 100

/** Columns in which every value is a number or a boolean (numeric); the others are categorical. */
export function numericColumns(rows: Row[], columns: string[]): boolean[] {
  const numeric = columns.map(() => true)
  // row by row rather than column by column: large tables are read in memory order
  for (const row of rows) {
    for (let c = 0; c < columns.length; c++) {
      if (!numeric[c]) continue
      const value = row[columns[c]]
      if (!isMissing(value) && typeof value !== 'number' && typeof value !== 'boolean') numeric[c] = false
    }
  }
  return numeric
}

/** Fits each feature on the rows where `train` is 1; all rows decide numeric vs categorical. */
export function fitFeatures(rows: Row[], train: Uint8Array, columns: string[], warnings: string[]): TabularFeature[] {
  const numeric = numericColumns(rows, columns)
  const moments = columns.map(() => new Moments())
  const counts = columns.map(() => new Map<string, number>())
  for (let r = 0; r < rows.length; r++) {
    if (train[r] === 0) continue
    const row = rows[r]
    for (let c = 0; c < columns.length; c++) {
      const value = row[columns[c]]
      if (numeric[c]) {
        const number = numericValue(value, columns[c])
        if (number !== undefined) moments[c].add(number)
      } else if (!isMissing(value)) {
        const text = valueText(value)
        counts[c].set(text, (counts[c].get(text) ?? 0) + 1)
      }
    }
  }
  return columns.map((column, c): TabularFeature => {
    if (numeric[c]) return { column, type: 'numeric', ...moments[c].meanAndStd() }
    const ranked = [...counts[c]].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    if (ranked.length > maxCategories) {
      warnings.push(
        `column "${column}" has ${ranked.length} distinct values in training; only the ${maxCategories} most frequent get their own feature, the rest count as unseen`,
      )
    }
    return { column, type: 'categorical', categories: ranked.slice(0, maxCategories).map(([text]) => text) }
  })
}

/** Running mean and population standard deviation; sums are taken around the first value so large offsets lose no precision. */
export class Moments {
  private count = 0
  private sum = 0
  private shift = 0
  private shiftedSum = 0
  private shiftedSquares = 0

  add(value: number): void {
    if (this.count === 0) this.shift = value
    this.count++
    this.sum += value
    const shifted = value - this.shift
    this.shiftedSum += shifted
    this.shiftedSquares += shifted * shifted
  }

  /** A constant (or empty) column gets std 1, so it encodes as 0. */
  meanAndStd(): { mean: number; std: number } {
    if (this.count === 0) return { mean: 0, std: 1 }
    const variance = (this.shiftedSquares - (this.shiftedSum * this.shiftedSum) / this.count) / this.count
    const std = Math.sqrt(Math.max(0, variance))
    return { mean: this.sum / this.count, std: std > 0 && Number.isFinite(std) ? std : 1 }
  }
}

export function featureWidth(feature: TabularFeature): number {
  return feature.type === 'numeric' ? 1 : (feature.categories?.length ?? 0) + 1
}

/** count × inputSize floats in feature order. */
export function encodeFeatures(preprocessing: TabularPreprocessing, rows: Row[]): Float32Array {
  const encodeRow = createFeatureEncoder(preprocessing)
  const x = new Float32Array(rows.length * preprocessing.inputSize)
  for (let r = 0; r < rows.length; r++) encodeRow(rows[r], x, r * preprocessing.inputSize)
  return x
}

/** Writes one row's inputSize features into `x` from `offset` (which must hold zeros). */
export function createFeatureEncoder(preprocessing: TabularPreprocessing): (row: Row, x: Float32Array, offset: number) => void {
  let start = 0
  const features = preprocessing.features.map((feature) => {
    const encoder = {
      column: feature.column,
      start,
      numeric: feature.type === 'numeric',
      mean: feature.mean ?? 0,
      std: feature.std || 1,
      unseen: feature.categories?.length ?? 0,
      index: new Map((feature.categories ?? []).map((category, i) => [category, i])),
    }
    start += featureWidth(feature)
    return encoder
  })
  return (row, x, offset) => {
    for (const feature of features) {
      const value = row[feature.column]
      if (feature.numeric) {
        const number = numericValue(value, feature.column)
        // a missing value becomes the mean, which standardizes to 0
        if (number !== undefined) x[offset + feature.start] = (number - feature.mean) / feature.std
      } else {
        const slot = isMissing(value) ? feature.unseen : (feature.index.get(valueText(value)) ?? feature.unseen)
        x[offset + feature.start + slot] = 1
      }
    }
  }
}

function numericValue(value: unknown, column: string): number | undefined {
  if (isMissing(value)) return undefined
  if (typeof value === 'boolean') return value ? 1 : 0
  const number = numberOf(value)
  if (number === undefined) throw new BadInputError(`column "${column}" is numeric, but holds ${JSON.stringify(value)}`)
  return number
}
