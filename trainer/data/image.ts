// Pixel columns to float images, laid out NHWC: the pixel columns are read in
// order as image rows with interleaved channels, the layout MNIST-style CSVs use.
import type { ImagePreprocessing } from '../ml/types.ts'
import { BadInputError } from '../ml/types.ts'
import { isMissing, numberOf } from './values.ts'
import type { Row } from './load.ts'

/** count × height × width × channels floats, each pixel divided by `preprocessing.scale`; a missing pixel is 0. */
export function encodePixels(preprocessing: ImagePreprocessing, rows: Row[]): Float32Array {
  const encodeRow = createPixelEncoder(preprocessing)
  const width = preprocessing.pixelColumns.length
  const x = new Float32Array(rows.length * width)
  for (let r = 0; r < rows.length; r++) encodeRow(rows[r], x, r * width)
  return x
}

/** Writes one row's pixels into `x` from `offset` (which must hold zeros). */
export function createPixelEncoder(preprocessing: ImagePreprocessing): (row: Row, x: Float32Array, offset: number) => void {
  const columns = preprocessing.pixelColumns
  const scale = preprocessing.scale
  return (row, x, offset) => {
    for (let c = 0; c < columns.length; c++) {
      const value = row[columns[c]]
      if (typeof value === 'number') {
        x[offset + c] = value / scale
      } else if (!isMissing(value)) {
        const number = numberOf(value)
        if (number === undefined) throw new BadInputError(`pixel column "${columns[c]}" holds ${JSON.stringify(value)}, not a number`)
        x[offset + c] = number / scale
      }
    }
  }
}

/** 255 when any pixel is above 1 (0-255 data), otherwise 1 (data already in 0-1). */
export function pixelScale(arrays: Float32Array[]): number {
  for (const array of arrays) {
    for (let i = 0; i < array.length; i++) if (array[i] > 1) return 255
  }
  return 1
}
