// How dataset values are typed, shared by the upload analysis
// (src/ingest/) and the trainer's loader
// (trainer/data/load.ts), so a column trains as the type the upload reported.

/** The formats a stored dataset has. */
export type DatasetFormat = 'csv' | 'json' | 'parquet'

export type CellType = 'integer' | 'float' | 'boolean' | 'string'

const integerText = /^[-+]?\d+$/
const floatText = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/** The type lattice: integer+float widen to float, any other mix to string. */
export function widenCellType(current: CellType | undefined, next: CellType): CellType {
  if (current === undefined || current === next) return next
  if ((current === 'integer' && next === 'float') || (current === 'float' && next === 'integer')) return 'float'
  return 'string'
}

/** The narrowest type of one CSV cell's text. */
export function cellTypeOfText(text: string): CellType {
  if (integerText.test(text)) return 'integer'
  if (floatText.test(text)) return 'float'
  const lower = text.length === 4 || text.length === 5 ? text.toLowerCase() : ''
  return lower === 'true' || lower === 'false' ? 'boolean' : 'string'
}

/** A CSV cell's value in its column's type; empty cells are null. */
export function cellValueOfText(text: string | undefined, type: CellType): unknown {
  if (text === undefined || text === '') return null
  switch (type) {
    case 'integer': {
      const value = Number(text)
      // past 2^53 a number would silently change the digits; the text keeps them
      return Number.isSafeInteger(value) ? value : text
    }
    case 'float':
      return Number(text)
    case 'boolean':
      return text.toLowerCase() === 'true'
    case 'string':
      return text
  }
}
