// Describes an uploaded dataset file that is already on disk: row count,
// columns with inferred types and null counts, and a short preview. Files can
// be hundreds of MB, so CSV and JSON are streamed through the shared readers
// and only the preview rows are kept; Parquet is answered from its footer
// metadata plus the first rows. The readers refuse a file over the upload
// limits (limits.ts) as soon as it crosses one.
import { stat } from 'node:fs/promises'
import type { SchemaElement, SchemaTree } from 'hyparquet'
import { InvalidInputError } from '../errors/index.ts'
import { cellValueOfText, type DatasetFormat } from '../domain/cell-types.ts'
import type { DatasetColumn } from '../domain/views.ts'
import { CsvColumns, finalType, newTally, noteJsonValue, type ColumnTally } from './columns.ts'
import { readCsv, type CsvSink } from './csv.ts'
import { FormatError } from './errors.ts'
import { readJson, type JsonRow } from './json.ts'
import { checkColumnCount, defaultUploadLimits, type UploadLimits } from './limits.ts'
import { bigintToJson, bytesToText, decodable, openParquet, readParquetRows, type ParquetSource } from './parquet.ts'

/** The column types a dataset schema may declare (kept in step with the API's DatasetColumn). */
export type ColumnType = DatasetColumn['type']

// A type alias rather than an interface so that it is assignable to
// DatasetColumn (whose index signature interfaces do not satisfy).
export type AnalyzedColumn = {
  name: string
  type: ColumnType
  /** rows where the value is empty/null */
  nullCount: number
}

export interface FileAnalysis {
  /** data rows (CSV: excluding the header) */
  rowCount: number
  /** in file order */
  columns: AnalyzedColumn[]
  /** first rows as objects, values converted to the inferred column type; empty values are null */
  preview: Record<string, unknown>[]
}

const previewRows = 10

/**
 * Throws InvalidInputError (code E1108) with details [{ field: 'file', message }] when the content is unusable or
 * over one of `limits` (the message then names the limit's variable).
 */
export async function analyzeFile(filePath: string, format: DatasetFormat, limits: UploadLimits = defaultUploadLimits): Promise<FileAnalysis> {
  try {
    if ((await stat(filePath)).size === 0) throw new FormatError('file is empty')
    return await analyzeByFormat(filePath, format, limits)
  } catch (error) {
    if (error instanceof FormatError) throw InvalidInputError.fromProblems([{ field: 'file', message: error.message }])
    throw error
  }
}

function analyzeByFormat(filePath: string, format: DatasetFormat, limits: UploadLimits): Promise<FileAnalysis> {
  switch (format) {
    case 'csv':
      return analyzeCsv(filePath, limits)
    case 'json':
      return analyzeJson(filePath, limits)
    case 'parquet':
      return analyzeParquet(filePath, limits)
    default:
      throw new FormatError(`unsupported format ${JSON.stringify(format satisfies never)}: use csv, json or parquet`)
  }
}

function finishColumns(tallies: Iterable<ColumnTally>, rowCount: number): AnalyzedColumn[] {
  return Array.from(tallies, (tally) => ({ name: tally.name, type: finalType(tally), nullCount: tally.nulls + (rowCount - tally.present) }))
}

// ---------------------------------------------------------------------------
// CSV

/** Tallies every record; keeps the first ones for the preview. */
class CsvAnalysis implements CsvSink {
  names: string[] = []
  headerLine = 0
  rowCount = 0
  columns = new CsvColumns([])
  readonly previewRecords: string[][] = []

  header(names: string[], line: number): void {
    this.names = names
    this.headerLine = line
    this.columns = new CsvColumns(names)
  }

  record(fields: string[]): void {
    this.rowCount++
    if (this.previewRecords.length < previewRows) this.previewRecords.push(fields)
    this.columns.noteRecord(fields)
  }

  integerLine(text: string): void {
    this.rowCount++
    if (this.previewRecords.length < previewRows) this.previewRecords.push(text.split(','))
    this.columns.noteIntegerLine()
  }
}

async function analyzeCsv(filePath: string, limits: UploadLimits): Promise<FileAnalysis> {
  const csv = new CsvAnalysis()
  await readCsv(filePath, csv, limits)
  if (csv.headerLine === 0) throw new FormatError('file has no header line: it contains only blank lines')
  if (csv.rowCount === 0) throw new FormatError(`file has a header on line ${csv.headerLine} but no data rows`)
  const columns = finishColumns(csv.columns.finish(), csv.rowCount)
  const preview = csv.previewRecords.map((record) => Object.fromEntries(columns.map((column, i) => [csv.names[i], cellValueOfText(record[i], column.type)])))
  return { rowCount: csv.rowCount, columns, preview }
}

// ---------------------------------------------------------------------------
// JSON: an array of objects, or JSON Lines

/** Columns (union of keys, in order of first appearance), tallies and preview rows. */
class JsonAnalysis {
  readonly tallies = new Map<string, ColumnTally>()
  readonly previewObjects: JsonRow[] = []
  count = 0

  constructor(private readonly limits: UploadLimits) {}

  add(row: JsonRow): void {
    this.count++
    if (this.previewObjects.length < previewRows) this.previewObjects.push(row)
    for (const key of Object.keys(row)) {
      let tally = this.tallies.get(key)
      if (tally === undefined) {
        checkColumnCount(this.tallies.size + 1, this.limits, `the keys of rows 1 to ${this.count} make`)
        tally = newTally(key)
        this.tallies.set(key, tally)
      }
      noteJsonValue(tally, row[key])
    }
  }
}

async function analyzeJson(filePath: string, limits: UploadLimits): Promise<FileAnalysis> {
  const rows = new JsonAnalysis(limits)
  const layout = await readJson(filePath, (row) => rows.add(row), limits)
  if (layout === 'blank') throw new FormatError('file is empty: it contains only whitespace')
  if (rows.count === 0) throw new FormatError('file has no rows: the JSON array is empty')
  if (rows.tallies.size === 0) throw new FormatError('file has no columns: every object is empty')
  const columns = finishColumns(rows.tallies.values(), rows.count)
  const preview = rows.previewObjects.map((row) =>
    Object.fromEntries(columns.map((column) => [column.name, jsonValueAs(Object.hasOwn(row, column.name) ? row[column.name] : null, column.type)])),
  )
  return { rowCount: rows.count, columns, preview }
}

function jsonValueAs(value: unknown, type: ColumnType): unknown {
  if (value === undefined || value === null || value === '') return null
  // integer, float and boolean columns only ever hold values of that kind (see widenCellType)
  if (type !== 'string' || typeof value === 'string') return value
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

// ---------------------------------------------------------------------------
// Parquet

async function analyzeParquet(filePath: string, limits: UploadLimits): Promise<FileAnalysis> {
  const source = await openParquet(filePath, limits)
  if (source.rowCount === 0) throw new FormatError('the parquet file has no rows')
  const leafChunks = leafChunkIndexes(source)
  const columns = source.columns.map((column) => ({
    name: column.element.name,
    type: parquetColumnType(column),
    nullCount: parquetNullCount(column, source, leafChunks),
  }))
  return { rowCount: source.rowCount, columns, preview: await parquetPreview(source, columns) }
}

function parquetColumnType(column: SchemaTree): ColumnType {
  const element = column.element
  // groups (structs, lists, maps) and bare repeated fields hold composite values
  if (column.children.length > 0 || element.repetition_type === 'REPEATED') return 'string'
  const logical = element.logical_type?.type
  if (element.converted_type === 'DECIMAL' || logical === 'DECIMAL' || logical === 'FLOAT16') return 'float'
  switch (element.type) {
    case 'BOOLEAN':
      return 'boolean'
    case 'FLOAT':
    case 'DOUBLE':
      return 'float'
    case 'INT32':
    case 'INT64':
      return isPlainInteger(element) ? 'integer' : 'string'
    default:
      return 'string'
  }
}

/** INT32/INT64 that are numbers, not dates, times or timestamps stored as integers. */
function isPlainInteger(element: SchemaElement): boolean {
  const logical = element.logical_type?.type
  const converted = element.converted_type
  return (logical === undefined || logical === 'INTEGER') && (converted === undefined || /^U?INT_\d+$/.test(converted))
}

/** Position of each leaf column's chunk within a row group, by dotted schema path. */
function leafChunkIndexes(source: ParquetSource): Map<string, number> {
  const chunks = source.metadata.row_groups[0]?.columns ?? []
  return new Map(chunks.map((chunk, i) => [chunk.meta_data?.path_in_schema.join('.') ?? '', i]))
}

/**
 * Nulls from the column statistics, summed over row groups, so no data is
 * decoded. Reported as 0 when unknown: a nested column's leaf statistics count
 * values rather than rows, and writers may omit statistics.
 */
function parquetNullCount(column: SchemaTree, source: ParquetSource, leafChunks: Map<string, number>): number {
  if (column.element.repetition_type === 'REQUIRED' || column.children.length > 0) return 0
  const index = leafChunks.get(column.path.join('.'))
  if (index === undefined) return 0
  let nulls = 0
  for (const group of source.metadata.row_groups) {
    const count = group.columns[index]?.meta_data?.statistics?.null_count
    if (count === undefined) return 0
    nulls += Number(count)
  }
  return nulls
}

/**
 * Decodes only the pages holding the first rows. A codec neither hyparquet
 * nor zlib can read (LZO, LZ4) leaves the preview empty rather than rejecting
 * a valid file whose schema and row count are already known.
 */
async function parquetPreview(source: ParquetSource, columns: AnalyzedColumn[]): Promise<Record<string, unknown>[]> {
  if (!decodable(source)) return []
  const rows: unknown[][] = []
  for await (const batch of readParquetRows(source, { rowEnd: previewRows })) rows.push(...batch)
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column.name, parquetValueAs(row[i], column.type)])))
}

function parquetValueAs(value: unknown, type: ColumnType): unknown {
  if (value === undefined || value === null || value === '') return null
  if (type === 'string') return parquetText(value)
  return typeof value === 'bigint' ? bigintToJson(value) : value
}

function parquetText(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString()
  if (value instanceof Uint8Array) return bytesToText(value)
  if (typeof value === 'object') return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? bigintToJson(inner) : inner))
  return String(value)
}
