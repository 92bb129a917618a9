// Reads a stored dataset file whole into row objects, through the same
// readers the upload analysis uses (src/ingest), so a file the upload
// accepted reads the same way here. CSV values are typed as the upload types
// them: a column is numbers, booleans or strings as a whole, and empty values
// are null. JSON rows are the objects as parsed; Parquet values are made
// plain (numbers, strings, booleans, null).
import { cellValueOfText, type CellType, type DatasetFormat } from '../../src/domain/cell-types.ts'
import { CsvColumns, finalType } from '../../src/ingest/columns.ts'
import { readCsv, type CsvSink } from '../../src/ingest/csv.ts'
import { FormatError } from '../../src/ingest/errors.ts'
import { readJson } from '../../src/ingest/json.ts'
import { bigintToJson, bytesToText, openParquet, readParquetRows } from '../../src/ingest/parquet.ts'
import { BadInputError } from '../ml/types.ts'

export type { DatasetFormat }
export type Row = Record<string, unknown>

export interface Table {
  rows: Row[]
  /** Column names in file order (object keys that look like integers would not keep it). */
  columns: string[]
}

/** The rows of a stored dataset file; `json` covers both a JSON array of objects and JSON Lines. */
export async function loadRows(file: string, format: DatasetFormat): Promise<Row[]> {
  return (await loadTable(file, format)).rows
}

const formatNames: Record<DatasetFormat, string> = { csv: 'CSV', json: 'JSON', parquet: 'parquet' }

/** The rows and the column names, in file order, of a stored dataset file. */
export async function loadTable(file: string, format: DatasetFormat): Promise<Table> {
  try {
    return await readTable(file, format)
  } catch (error) {
    if (error instanceof FormatError) throw new BadInputError(`the dataset file is not valid ${formatNames[format]}: ${error.message}`)
    throw error
  }
}

function readTable(file: string, format: DatasetFormat): Promise<Table> {
  switch (format) {
    case 'csv':
      return csvTable(file)
    case 'json':
      return jsonTable(file)
    case 'parquet':
      return parquetTable(file)
    default:
      throw new BadInputError(`unsupported dataset format ${JSON.stringify(format satisfies never)}: use csv, json or parquet`)
  }
}

// ---------------------------------------------------------------------------
// CSV

async function csvTable(file: string): Promise<Table> {
  const records = new CsvRecords()
  await readCsv(file, records)
  if (records.header === undefined) throw new BadInputError('the dataset file is empty')
  return { rows: records.rows(), columns: records.header }
}

/**
 * Keeps every record until the column types are known, which takes the
 * whole file: a line of integers only as its text (split once, at the end),
 * any other as its fields.
 */
class CsvRecords implements CsvSink {
  header: string[] | undefined
  private columns = new CsvColumns([])
  private readonly kept: (string | string[])[] = []

  header_(names: string[]): void {
    this.header = names
    this.columns = new CsvColumns(names)
  }

  record(fields: string[]): void {
    this.columns.noteRecord(fields)
    this.kept.push(fields)
  }

  integerLine(text: string): void {
    this.columns.noteIntegerLine()
    this.kept.push(text)
  }

  rows(): Row[] {
    const types = this.columns.finish().map(finalType)
    // integers read straight from the text are what Number() would make of them in a numeric column
    const numeric = types.every((type) => type === 'integer' || type === 'float')
    const makeRow = rowFactory(this.header ?? [])
    const values = new Array<unknown>(types.length)
    return this.kept.map((kept) => {
      if (typeof kept === 'string' && numeric && readIntegers(kept, values)) return makeRow(values)
      const fields = typeof kept === 'string' ? kept.split(',') : kept
      for (let c = 0; c < types.length; c++) values[c] = cellValueOfText(fields[c], types[c])
      return makeRow(values)
    })
  }
}
