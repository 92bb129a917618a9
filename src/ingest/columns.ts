// Column types inferred while records stream past, shared by the upload
// analysis (which reports them) and the trainer's loader (which types values
// by them), so a column trains as the type the upload reported.
import { cellTypeOfText, widenCellType, type CellType } from '../domain/cell-types.ts'

/** Running statistics for one column. */
export interface ColumnTally {
  name: string
  /** undefined until the first non-empty value */
  type: CellType | undefined
  /** rows holding an explicit empty value */
  nulls: number
  /** rows that had the column at all (JSON rows may leave keys out) */
  present: number
}

export function newTally(name: string): ColumnTally {
  return { name, type: undefined, nulls: 0, present: 0 }
}

/** Notes one CSV cell's text. */
export function noteText(tally: ColumnTally, text: string): void {
  tally.present++
  if (text === '') tally.nulls++
  // string is the top of the lattice: nothing later can change it, so skip the regexes
  else if (tally.type !== 'string') tally.type = widenCellType(tally.type, cellTypeOfText(text))
}

function jsonValueType(value: unknown): CellType {
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float'
  if (typeof value === 'boolean') return 'boolean'
  return 'string'
}

/** Notes one JSON value. */
export function noteJsonValue(tally: ColumnTally, value: unknown): void {
  tally.present++
  if (value === null || value === '') tally.nulls++
  else if (tally.type !== 'string') tally.type = widenCellType(tally.type, jsonValueType(value))
}

/**
 * The tallies of a CSV file's columns. Lines of integers only (see
 * CsvSink.integerLine) are counted rather than split: each makes every
 * column present, non-empty and integer.
 */
export class CsvColumns {
  readonly tallies: ColumnTally[]
  private integerLines = 0

  constructor(names: readonly string[]) {
    this.tallies = names.map(newTally)
  }

  /** A record with as many fields as the header. */
  noteRecord(fields: readonly string[]): void {
    for (let i = 0; i < fields.length; i++) noteText(this.tallies[i], fields[i])
  }

  noteIntegerLine(): void {
    this.integerLines++
  }

  /** The tallies with the integer lines folded in. */
  finish(): ColumnTally[] {
    if (this.integerLines === 0) return this.tallies
    return this.tallies.map((tally) => ({ ...tally, present: tally.present + this.integerLines, type: widenCellType(tally.type, 'integer') }))
  }
}

/** A column's type once every row is seen: without a single value it says nothing, and string accepts anything. */
export function finalType(tally: ColumnTally): CellType {
  return tally.type ?? 'string'
}
