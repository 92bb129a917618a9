// Reads a stored dataset file whole into row objects. The upload already
// checked the file (src/services/dataset-ingest.ts); values are typed the same
// way it types them: a CSV column is numbers, booleans or strings as a whole,
// and empty values are null.
import { readFile } from 'node:fs/promises'
import { parse as parseCsv } from 'csv-parse/sync'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet'
import { BadInputError } from '../ml/types.ts'
import { cellTypeOfText, cellValueOfText, widenCellType, type CellType, type DatasetFormat } from '../../src/domain/cell-types.ts'
import { parquetCompressors } from '../../src/infra/parquet.ts'

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

/** The rows and the column names, in file order, of a stored dataset file. */
export async function loadTable(file: string, format: DatasetFormat): Promise<Table> {
  switch (format) {
    case 'csv':
      return csvTable(await readText(file))
    case 'json':
      return jsonTable(await readText(file))
    case 'parquet':
      return parquetTable(file)
    default:
      throw new BadInputError(`unsupported dataset format ${JSON.stringify(format satisfies never)}: use csv, json or parquet`)
  }
}

async function readText(file: string): Promise<string> {
  const text = await readFile(file, 'utf8')
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

function unreadable(what: string, error: unknown): BadInputError {
  return new BadInputError(`the dataset file is not valid ${what}: ${error instanceof Error ? error.message : String(error)}`)
}

// ---------------------------------------------------------------------------
// CSV

function csvTable(text: string): Table {
  const records = csvRecords(text)
  const header = records.header
  const types = columnTypes(records)
  const makeRow = rowFactory(header)
  const values = new Array<unknown>(header.length)
  const rows: Row[] = []
  records.forEach((record) => {
    for (let c = 0; c < header.length; c++) values[c] = cellValueOfText(record[c], types[c] ?? 'string')
    rows.push(makeRow(values))
  })
  return { rows, columns: header }
}

// A line of integers only, no empty field: the bulk of a pixel table.
const integerLine = /^[-+]?\d+(?:,[-+]?\d+)*$/

function columnTypes(records: CsvRecords): (CellType | undefined)[] {
  const types: (CellType | undefined)[] = records.header.map(() => undefined)
  let integerLines = false
  const skipIntegerLine = (line: string) => {
    if (!integerLine.test(line)) return false
    integerLines = true
    return true
  }
  records.forEach((record) => {
    for (let c = 0; c < types.length; c++) {
      const cell = record[c]
      if (cell !== '' && types[c] !== 'string') types[c] = widenCellType(types[c], cellTypeOfText(cell))
    }
  }, skipIntegerLine)
  return integerLines ? types.map((type) => widenCellType(type, 'integer')) : types
}

interface CsvRecords {
  header: string[]
  /**
   * Visits the data records in order; may be called more than once. Lines
   * `skipLine` accepts (seen only where the text is split line by line) are
   * not split or visited.
   */
  forEach(visit: (record: string[]) => void, skipLine?: (line: string) => boolean): void
}

/**
 * The header and data records. A file without a single quote is split on line
 * breaks and commas, 2-3x faster than csv-parse and without holding every cell
 * at once; anything quoted goes through csv-parse.
 */
function csvRecords(text: string): CsvRecords {
  if (!text.includes('"')) {
    const lines = text.split(/\r?\n/).filter((line) => line !== '')
    // a lone carriage return also ends a line for csv-parse: leave such files to it
    if (!lines.some((line) => line.includes('\r'))) {
      const header = lines[0]?.split(',')
      if (header === undefined) throw new BadInputError('the dataset file is empty')
      return {
        header,
        forEach(visit, skipLine) {
          for (let i = 1; i < lines.length; i++) {
            if (skipLine?.(lines[i])) continue
            const record = lines[i].split(',')
            if (record.length !== header.length) {
              throw new BadInputError(`the dataset file is not valid CSV: data row ${i} has ${record.length} fields, but the header has ${header.length}`)
            }
            visit(record)
          }
        },
      }
    }
  }
  let records: string[][]
  try {
    records = parseCsv(text, { skip_empty_lines: true }) as string[][]
  } catch (error) {
    throw unreadable('CSV', error)
  }
  const [header, ...body] = records
  if (header === undefined) throw new BadInputError('the dataset file is empty')
  return { header, forEach: (visit) => body.forEach((record) => visit(record)) }
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
      columns.forEach((column, c) => Object.defineProperty(row, column, { value: values[c], enumerable: true, writable: true, configurable: true }))
      return row
    }
  }
  const fields = columns.map((column, c) => `${JSON.stringify(column)}: values[${c}]`)
  return new Function('values', `return { ${fields.join(', ')} }`) as (values: unknown[]) => Row
}

// ---------------------------------------------------------------------------
// JSON array or JSON Lines

function jsonTable(text: string): Table {
  const start = text.search(/\S/)
  let values: unknown[]
  if (start === -1) {
    values = []
  } else if (text[start] === '[') {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw unreadable('JSON', error)
    }
    values = parsed as unknown[]
  } else {
    values = []
    const lines = text.split('\n')
    lines.forEach((line, i) => {
      if (line.trim() === '') return
      try {
        values.push(JSON.parse(line))
      } catch (error) {
        throw unreadable(`JSON Lines (line ${i + 1})`, error)
      }
    })
  }
  const columns = new Set<string>()
  const rows = values.map((value, i) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new BadInputError(`the dataset file's row ${i + 1} is not a JSON object`)
    }
    for (const key of Object.keys(value)) columns.add(key)
    return value as Row
  })
  return { rows, columns: [...columns] }
}

// ---------------------------------------------------------------------------
// Parquet

async function parquetTable(file: string): Promise<Table> {
  const buffer = await asyncBufferFromFile(file)
  let decoded: Record<string, unknown>[]
  let columns: string[]
  try {
    const metadata = await parquetMetadataAsync(buffer)
    columns = parquetSchema(metadata).children.map((child) => child.element.name)
    decoded = await parquetReadObjects({ file: buffer, metadata, compressors: parquetCompressors })
  } catch (error) {
    throw unreadable('parquet', error)
  }
  const rows = decoded.map((record) => {
    const row: Row = {}
    for (const column of columns) row[column] = parquetValue(record[column])
    return row
  })
  return { rows, columns }
}

/** Plain JSON-like values: numbers (bigints while exact), strings, booleans, null. */
function parquetValue(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  return value
}
