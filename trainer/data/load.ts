// Reads a stored dataset file whole into row objects, through the same
// readers the upload analysis uses (src/ingest), so a file the upload
// accepted reads the same way here. CSV values are typed as the upload types
// them: a column is numbers, booleans or strings as a whole, and empty values
// are null. JSON rows are the objects as parsed; Parquet values are made
// plain (numbers, strings, booleans, null). The upload limits (UPLOAD_MAX_*)
// are the API's, read from the same environment, so what the upload accepted
// reads here too.
import { uploadLimits, type UploadLimits } from '../../src/config.ts'
import { cellValueOfText, type DatasetFormat } from '../../src/domain/cell-types.ts'
import { CsvColumns, finalType } from '../../src/ingest/columns.ts'
import { readCsv, type CsvSink } from '../../src/ingest/csv.ts'
import { FormatError } from '../../src/ingest/errors.ts'
import { readJson } from '../../src/ingest/json.ts'
import { checkColumnCount, LimitError } from '../../src/ingest/limits.ts'
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
export async function loadRows(file: string, format: DatasetFormat, limits?: UploadLimits): Promise<Row[]> {
  return (await loadTable(file, format, limits)).rows
}

const formatNames: Record<DatasetFormat, string> = { csv: 'CSV', json: 'JSON', parquet: 'parquet' }

/** The rows and the column names, in file order, of a stored dataset file; `limits` default to UPLOAD_MAX_* of the environment. */
export async function loadTable(file: string, format: DatasetFormat, limits: UploadLimits = uploadLimits(process.env)): Promise<Table> {
  try {
    return await readTable(file, format, limits)
  } catch (error) {
    if (error instanceof LimitError) throw new BadInputError(`the dataset file is over an upload limit: ${error.message}`)
    if (error instanceof FormatError) throw new BadInputError(`the dataset file is not valid ${formatNames[format]}: ${error.message}`)
    throw error
  }
}

function readTable(file: string, format: DatasetFormat, limits: UploadLimits): Promise<Table> {
  switch (format) {
    case 'csv':
      return csvTable(file, limits)
    case 'json':
      return jsonTable(file, limits)
    case 'parquet':
      return parquetTable(file, limits)
    default:
      throw new BadInputError(`unsupported dataset format ${JSON.stringify(format satisfies never)}: use csv, json or parquet`)
  }
}

// ---------------------------------------------------------------------------
// CSV

async function csvTable(file: string, limits: UploadLimits): Promise<Table> {
  const records = new CsvRecords()
  await readCsv(file, records, limits)
  if (records.names === undefined) throw new BadInputError('the dataset file is empty')
  return { rows: records.rows(records.names), columns: records.names }
}

/**
 * Keeps every record until the column types are known, which takes the
 * whole file: a line of integers only as its text (split once, at the end),
 * any other as its fields.
 */
class CsvRecords implements CsvSink {
  names: string[] | undefined
  private columns = new CsvColumns([])
  private readonly kept: (string | string[])[] = []

  header(names: string[]): void {
    this.names = names
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

  rows(names: string[]): Row[] {
    const types = this.columns.finish().map(finalType)
    // integers read straight from the text are what Number() would make of them in a numeric column
    const numeric = types.every((type) => type === 'integer' || type === 'float')
    const makeRow = rowFactory(names)
    const values = new Array<unknown>(types.length)
    return this.kept.map((kept) => {
      if (typeof kept === 'string' && numeric && readIntegers(kept, values)) return makeRow(values)
      const fields = typeof kept === 'string' ? kept.split(',') : kept
      for (let c = 0; c < types.length; c++) values[c] = cellValueOfText(fields[c], types[c])
      return makeRow(values)
    })
  }
}

/**
 * Writes the integers of a line of integers only (see CsvSink.integerLine)
 * into `values` without splitting it; false when one has more than 15
 * digits, where Number() may round and cellValueOfText keeps the text.
 */
function readIntegers(line: string, values: unknown[]): boolean {
  let column = 0
  let value = 0
  let sign = 1
  let digits = 0
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i)
    if (code === 0x2c) {
      values[column++] = sign * value
      value = 0
      sign = 1
      digits = 0
    } else if (code === 0x2d) {
      sign = -1
    } else if (code !== 0x2b) {
      value = value * 10 + (code - 0x30)
      if (++digits > 15) return false
    }
  }
  values[column] = sign * value
  return true
}

/**
 * A function that turns the values of one record into a row object. Built as
 * an object literal (as d3-dsv does): V8 then gives every row one shape with
 * fast properties, where adding hundreds of keys one by one (an MNIST-style
 * table has 785) makes slow dictionary objects and takes 5x longer.
 */
function rowFactory(columns: string[]): (values: unknown[]) => Row {
  // in a literal, a "__proto__" key would set the prototype instead of a property
  if (columns.includes('__proto__')) {
    return (values) => {
      const row: Row = {}
      columns.forEach((column, c) => {
        Object.defineProperty(row, column, { value: values[c], enumerable: true, writable: true, configurable: true })
      })
      return row
    }
  }
  const fields = columns.map((column, c) => `${JSON.stringify(column)}: values[${c}]`)
  return new Function('values', `return { ${fields.join(', ')} }`) as (values: unknown[]) => Row
}

// ---------------------------------------------------------------------------
// JSON array or JSON Lines

async function jsonTable(file: string, limits: UploadLimits): Promise<Table> {
  const rows: Row[] = []
  const columns = new Set<string>()
  await readJson(
    file,
    (row) => {
      for (const key of Object.keys(row)) columns.add(key)
      checkColumnCount(columns.size, limits, `the keys of rows 1 to ${rows.length + 1} make`)
      rows.push(row)
    },
    limits,
  )
  return { rows, columns: [...columns] }
}

// ---------------------------------------------------------------------------
// Parquet

async function parquetTable(file: string, limits: UploadLimits): Promise<Table> {
  const source = await openParquet(file, limits)
  const columns = source.columns.map((child) => child.element.name)
  const makeRow = rowFactory(columns)
  const values = new Array<unknown>(columns.length)
  const rows: Row[] = []
  for await (const batch of readParquetRows(source)) {
    for (const record of batch) {
      for (let c = 0; c < columns.length; c++) values[c] = parquetValue(record[c])
      rows.push(makeRow(values))
    }
  }
  return { rows, columns }
}

/** Plain JSON-like values: numbers (bigints while exact), strings, booleans, null. */
function parquetValue(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'bigint') return bigintToJson(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Uint8Array) return bytesToText(value)
  return value
}
