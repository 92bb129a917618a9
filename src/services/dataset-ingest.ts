// Reads an uploaded dataset file that is already on disk and describes it:
// row count, columns with inferred types and null counts, and a short
// preview. Files can be hundreds of MB, so CSV and JSON are streamed and only
// the preview rows are kept; Parquet is answered from its footer metadata plus
// the first rows. Also checks a user-declared schema against that description.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { CsvError, parse as parseCsv } from 'csv-parse'
import { jsonParser } from 'stream-json/core/parser.js'
import { streamArray } from 'stream-json/core/streamers/stream-array.js'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet'
import type { AsyncBuffer, FileMetaData, SchemaElement, SchemaTree } from 'hyparquet'
import { InvalidInputError, type FieldProblem } from '../errors/index.ts'
import type { DatasetColumn } from '../domain/views.ts'
import { cellTypeOfText, cellValueOfText, widenCellType, type DatasetFormat } from '../domain/cell-types.ts'
import { parquetCompressors, readableParquetCodecs } from '../infra/parquet.ts'

export type { DatasetFormat }
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

// A record or line this long is almost always a quote or bracket that never
// closes; stopping there keeps one bad file from filling the heap.
const maxRecordChars = 16 * 1024 * 1024

// csv-parse reads 4-5% faster from 128-256 KiB chunks than from the 64 KiB
// default; 1 MiB chunks are slower again (measured on 50 MB files).
const csvReadChunkBytes = 256 * 1024

/** Throws InvalidInputError (code E1108) with details [{ field: 'file', message }] when the content is unusable. */
export async function analyzeFile(filePath: string, format: DatasetFormat): Promise<FileAnalysis> {
  if ((await stat(filePath)).size === 0) throw fileProblem('file is empty')
  switch (format) {
    case 'csv':
      return analyzeCsv(filePath)
    case 'json':
      return analyzeJson(filePath)
    case 'parquet':
      return analyzeParquet(filePath)
    default:
      throw fileProblem(`unsupported format ${JSON.stringify(format satisfies never)}: use csv, json or parquet`)
  }
}

function fileProblem(message: string): InvalidInputError {
  return InvalidInputError.fromProblems([{ field: 'file', message }])
}

// ---------------------------------------------------------------------------
// Type inference shared by CSV and JSON

/** Running statistics for one column while rows stream past. */
interface ColumnTally {
  name: string
  /** undefined until the first non-empty value */
  type: ColumnType | undefined
  /** rows holding an explicit empty value */
  nulls: number
  /** rows that had the column at all (JSON rows may leave keys out) */
  present: number
}

function newTally(name: string): ColumnTally {
  return { name, type: undefined, nulls: 0, present: 0 }
}

function noteText(tally: ColumnTally, text: string): void {
  tally.present++
  if (text === '') tally.nulls++
  // string is the top of the lattice: nothing later can change it, so skip the regexes
  else if (tally.type !== 'string') tally.type = widenCellType(tally.type, cellTypeOfText(text))
}

function jsonValueType(value: unknown): ColumnType {
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float'
  if (typeof value === 'boolean') return 'boolean'
  return 'string'
}

function noteJsonValue(tally: ColumnTally, value: unknown): void {
  tally.present++
  if (value === null || value === '') tally.nulls++
  else if (tally.type !== 'string') tally.type = widenCellType(tally.type, jsonValueType(value))
}

function finishColumns(tallies: Iterable<ColumnTally>, rowCount: number): AnalyzedColumn[] {
  return Array.from(tallies, (tally) => ({
    name: tally.name,
    // a column with no values at all says nothing about its type; string accepts anything
    type: tally.type ?? 'string',
    nullCount: tally.nulls + (rowCount - tally.present),
  }))
}

function jsonValueAs(value: unknown, type: ColumnType): unknown {
  if (value === undefined || value === null || value === '') return null
  // integer, float and boolean columns only ever hold values of that kind (see widen)
  if (type !== 'string' || typeof value === 'string') return value
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

// ---------------------------------------------------------------------------
// CSV

async function analyzeCsv(filePath: string): Promise<FileAnalysis> {
  let header: string[] | undefined
  let headerLine = 0
  let tallies: ColumnTally[] = []
  const previewRecords: string[][] = []
  let rowCount = 0
  await readCsvRecords(filePath, (record, line) => {
    if (header === undefined) {
      header = checkedHeader(record, line)
      headerLine = line
      tallies = header.map(newTally)
      return
    }
    rowCount++
    if (previewRecords.length < previewRows) previewRecords.push(record)
    // csv-parse has already rejected records whose length differs from the header
    for (let i = 0; i < record.length; i++) noteText(tallies[i], record[i])
  })
  if (header === undefined) throw fileProblem('file has no header line: it contains only blank lines')
  if (rowCount === 0) throw fileProblem(`file has a header on line ${headerLine} but no data rows`)
  const columns = finishColumns(tallies, rowCount)
  const names = header
  const preview = previewRecords.map((record) => Object.fromEntries(columns.map((column, i) => [names[i], cellValueOfText(record[i], column.type)])))
  return { rowCount, columns, preview }
}

function checkedHeader(names: string[], line: number): string[] {
  const seen = new Map<string, number>()
  names.forEach((name, i) => {
    if (name.trim() === '') throw fileProblem(`header on line ${line}: column ${i + 1} has no name`)
    const earlier = seen.get(name)
    if (earlier !== undefined) throw fileProblem(`header on line ${line}: column ${i + 1} "${name}" duplicates column ${earlier + 1}`)
    seen.set(name, i)
  })
  return names
}

/** Streams records to `onRecord` with the line each ends on; CSV syntax errors become file problems. */
async function readCsvRecords(filePath: string, onRecord: (record: string[], line: number) => void): Promise<void> {
  const csv = parseCsv({ bom: true, skip_empty_lines: true, max_record_size: maxRecordChars })
  let lastLine = 0
  let expectedFields = 0
  let failure: unknown
  csv.on('data', (record: string[]) => {
    if (failure !== undefined) return
    try {
      // 'data' fires synchronously from inside the parser, so info.lines is this record's
      // last line; asking csv-parse for per-record info (on_record/info) costs over half the throughput
      lastLine = csv.info.lines
      if (expectedFields === 0) expectedFields = record.length
      onRecord(record, lastLine)
    } catch (error) {
      failure = error
      csv.destroy(error instanceof Error ? error : new Error(String(error)))
    }
  })
  try {
    await pipeline(createReadStream(filePath, { highWaterMark: csvReadChunkBytes }), csv)
  } catch (error) {
    if (failure !== undefined) throw failure
    if (error instanceof CsvError) throw csvProblem(error, lastLine, expectedFields)
    throw error
  }
}

function csvProblem(error: CsvError, lastGoodLine: number, headerFields: number): InvalidInputError {
  const line = typeof error.lines === 'number' ? error.lines : lastGoodLine + 1
  const field = typeof error.column === 'number' ? error.column + 1 : undefined
  switch (error.code) {
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const got = Array.isArray(error.record) ? error.record.length : undefined
      const fields = got === undefined ? 'a different number of fields' : got === 1 ? '1 field' : `${got} fields`
      return fileProblem(`line ${line} has ${fields}, but the header has ${headerFields}`)
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      return fileProblem(`a quoted field that starts after line ${lastGoodLine} is never closed (the file ends on line ${line})`)
    case 'INVALID_OPENING_QUOTE':
      return fileProblem(`line ${line}: field ${field} has a quote inside an unquoted value; quote the whole field and double inner quotes ("")`)
    case 'CSV_INVALID_CLOSING_QUOTE':
      return fileProblem(`line ${line}: field ${field} has a closing quote followed by text instead of a comma or line end; double inner quotes ("")`)
    case 'CSV_MAX_RECORD_SIZE':
      return fileProblem(`line ${line}: a record longer than ${maxRecordChars / 1024 / 1024} MiB, most likely a quote that is never closed`)
    default:
      return fileProblem(`line ${line}: ${error.message}`)
  }
}

// ---------------------------------------------------------------------------
// JSON: an array of objects, or JSON Lines

async function analyzeJson(filePath: string): Promise<FileAnalysis> {
  const first = await firstSignificantChar(filePath)
  if (first === undefined) throw fileProblem('file is empty: it contains only whitespace')
  const rows = new JsonRows()
  if (first === '[') await readJsonArray(filePath, rows)
  else await readJsonLines(filePath, rows)
  return rows.finish()
}

/** Collects columns (union of keys, in order of first appearance), tallies and preview rows. */
class JsonRows {
  private readonly tallies = new Map<string, ColumnTally>()
  private readonly previewObjects: Record<string, unknown>[] = []
  private count = 0

  /** `where` names the row in messages, e.g. `line 4` or `array element at index 3`. */
  add(row: unknown, where: string): void {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw fileProblem(`${where} is ${describeJsonValue(row)}, not an object`)
    }
    const record = row as Record<string, unknown>
    this.count++
    if (this.previewObjects.length < previewRows) this.previewObjects.push(record)
    for (const key of Object.keys(record)) {
      let tally = this.tallies.get(key)
      if (tally === undefined) this.tallies.set(key, (tally = newTally(key)))
      noteJsonValue(tally, record[key])
    }
  }

  finish(): FileAnalysis {
    if (this.count === 0) throw fileProblem('file has no rows: the JSON array is empty')
    if (this.tallies.size === 0) throw fileProblem('file has no columns: every object is empty')
    const columns = finishColumns(this.tallies.values(), this.count)
    const preview = this.previewObjects.map((row) =>
      Object.fromEntries(columns.map((column) => [column.name, jsonValueAs(Object.hasOwn(row, column.name) ? row[column.name] : null, column.type)])),
    )
    return { rowCount: this.count, columns, preview }
  }
}

function describeJsonValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}

/** The file's text in chunks, without a leading byte-order mark. */
async function* textChunks(filePath: string): AsyncGenerator<string> {
  let first = true
  // with an encoding set the stream yields strings, decoded across chunk borders
  for await (const chunk of createReadStream(filePath, { encoding: 'utf8' }) as AsyncIterable<string>) {
    yield first && chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk
    first = false
  }
}

async function firstSignificantChar(filePath: string): Promise<string | undefined> {
  for await (const chunk of textChunks(filePath)) {
    const at = chunk.search(/[^ \t\r\n]/)
    if (at !== -1) return chunk[at]
  }
  return undefined
}

async function readJsonLines(filePath: string, rows: JsonRows): Promise<void> {
  let partial = ''
  let lineNumber = 0
  const takeLine = (line: string) => {
    lineNumber++
    if (line.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw fileProblem(`line ${lineNumber} is not valid JSON (${reason}); a JSON file must be an array of objects or JSON Lines, one object per line`)
    }
    rows.add(value, `line ${lineNumber}`)
  }
  for await (const chunk of textChunks(filePath)) {
    const text = partial + chunk
    let start = 0
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      takeLine(text.slice(start, end))
      start = end + 1
    }
    partial = text.slice(start)
    if (partial.length > maxRecordChars) throw fileProblem(`line ${lineNumber + 1} is longer than ${maxRecordChars / 1024 / 1024} MiB`)
  }
  takeLine(partial)
}

type JsonTokenizer = ReturnType<typeof jsonParser>
type JsonToken = Extract<ReturnType<JsonTokenizer>, { values: unknown }>['values'][number]
type ElementOutput = ReturnType<ReturnType<typeof streamArray>>
type Element = Extract<ElementOutput, { key: number }>

// stream-json stages answer one item, a batch of items (stream-chain's `Many`)
// or stream-chain's `none` symbol when they have nothing yet; these two
// flatten that into arrays.
function tokenize(tokenizer: JsonTokenizer, text: string): readonly JsonToken[] {
  const out = tokenizer(text)
  return typeof out === 'symbol' ? [] : out.values
}

function elementsOf(out: ElementOutput): readonly Element[] {
  if (typeof out === 'symbol') return []
  return 'key' in out ? [out] : out.values
}

// The end-of-input marker of stream-chain (which stream-json builds on): a
// registered symbol, so it matches whichever copy of stream-chain is installed.
const endOfInput = Symbol.for('object-stream.none')

function flush(tokenizer: JsonTokenizer): readonly JsonToken[] {
  // the tokenizer's type only admits text; its flush protocol is this symbol
  const out = (tokenizer as unknown as (end: symbol) => ReturnType<JsonTokenizer>)(endOfInput)
  return typeof out === 'symbol' ? [] : out.values
}

/**
 * Streams the top-level array's elements to `rows`. The tokenizer and
 * streamArray are driven directly rather than through Node streams: simpler,
 * and a syntax error can be traced to the chunk that caused it.
 */
async function readJsonArray(filePath: string, rows: JsonRows): Promise<void> {
  const tokenizer = jsonParser({ streamValues: false })
  const elements = streamArray()
  const take = (tokens: readonly JsonToken[]) => {
    for (const token of tokens) {
      for (const element of elementsOf(elements(token))) rows.add(element.value, `array element at index ${element.key}`)
    }
  }
  let offset = 0
  for await (const chunk of textChunks(filePath)) {
    let tokens: readonly JsonToken[]
    try {
      tokens = tokenize(tokenizer, chunk)
    } catch (error) {
      throw await jsonSyntaxProblem(filePath, offset, error)
    }
    offset += chunk.length
    take(tokens)
  }
  let tokens: readonly JsonToken[]
  try {
    tokens = flush(tokenizer)
  } catch (error) {
    const end = await locateJsonError(filePath, Infinity)
    throw fileProblem(`invalid JSON: the file ends (line ${end.line}, column ${end.column}) before the array is complete: ${parserReason(error)}`)
  }
  take(tokens)
}

interface TextPosition {
  line: number
  column: number
}

async function jsonSyntaxProblem(filePath: string, failingChunkStart: number, error: unknown): Promise<InvalidInputError> {
  const at = await locateJsonError(filePath, failingChunkStart)
  return fileProblem(`invalid JSON near line ${at.line}, column ${at.column}: ${parserReason(error)}`)
}

function parserReason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/^Parser (cannot parse input: |has )/, '')
}

// Characters the tokenizer takes without emitting a token while the text is
// still fine: separators, and the digits of a number waiting for its end.
const quietlyConsumed = /^[ \t\r\n,:0-9.eE+-]$/

/**
 * stream-json's errors carry no position, so the failure is found again on
 * the error path only: a fresh tokenizer reads the file up to the chunk that
 * failed, then takes that chunk one character at a time until it throws.
 * The tokenizer looks ahead before rejecting some text (e.g. `nul}`), so the
 * answer is where the text it could not make sense of begins: just after the
 * last token and any separators or number digits that followed it. With
 * `failingChunkStart` Infinity it is the end of the input.
 */
async function locateJsonError(filePath: string, failingChunkStart: number): Promise<TextPosition> {
  const tokenizer = jsonParser({ streamValues: false })
  const position: TextPosition = { line: 1, column: 1 }
  let errorStart = { ...position }
  let atErrorStart = true
  let offset = 0
  try {
    for await (const chunk of textChunks(filePath)) {
      const whole = chunk.slice(0, Math.max(0, failingChunkStart - offset))
      offset += chunk.length
      if (whole.length > 0) {
        tokenize(tokenizer, whole)
        advance(position, whole)
        errorStart = { ...position }
      }
      for (const char of chunk.slice(whole.length)) {
        const emitted = tokenize(tokenizer, char).length > 0
        advance(position, char)
        atErrorStart = emitted || (atErrorStart && quietlyConsumed.test(char))
        if (atErrorStart) errorStart = { ...position }
      }
    }
  } catch {
    // the tokenizer stopped: errorStart is as far as the text made sense
  }
  return errorStart
}

function advance(position: TextPosition, text: string): void {
  let newline = text.indexOf('\n')
  if (newline === -1) {
    position.column += text.length
    return
  }
  let last = newline
  for (; newline !== -1; newline = text.indexOf('\n', newline + 1)) {
    position.line++
    last = newline
  }
  position.column = text.length - last
}

// ---------------------------------------------------------------------------
// Parquet

async function analyzeParquet(filePath: string): Promise<FileAnalysis> {
  const file = await asyncBufferFromFile(filePath)
  const metadata = await readParquetMetadata(file)
  const rowCount = Number(metadata.num_rows)
  if (rowCount === 0) throw fileProblem('the parquet file has no rows')
  const schema = parquetSchema(metadata)
  const leafChunks = leafChunkIndexes(metadata)
  const columns = schema.children.map((column) => ({
    name: column.element.name,
    type: parquetColumnType(column),
    nullCount: parquetNullCount(column, metadata, leafChunks),
  }))
  return { rowCount, columns, preview: await parquetPreview(file, metadata, columns) }
}

async function readParquetMetadata(file: AsyncBuffer): Promise<FileMetaData> {
  const notParquet = (reason: string) => fileProblem(`not a parquet file: ${reason}`)
  // header magic + footer length + footer magic
  if (file.byteLength < 12) throw notParquet(`only ${file.byteLength} bytes long`)
  const head = new TextDecoder().decode(await file.slice(0, 4))
  if (head !== 'PAR1') throw notParquet('it does not start with the PAR1 magic bytes')
  try {
    return await parquetMetadataAsync(file)
  } catch (error) {
    throw notParquet(error instanceof Error ? error.message : String(error))
  }
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
function leafChunkIndexes(metadata: FileMetaData): Map<string, number> {
  const chunks = metadata.row_groups[0]?.columns ?? []
  return new Map(chunks.map((chunk, i) => [chunk.meta_data?.path_in_schema.join('.') ?? '', i]))
}

/**
 * Nulls from the column statistics, summed over row groups, so no data is
 * decoded. Reported as 0 when unknown: a nested column's leaf statistics count
 * values rather than rows, and writers may omit statistics.
 */
function parquetNullCount(column: SchemaTree, metadata: FileMetaData, leafChunks: Map<string, number>): number {
  if (column.element.repetition_type === 'REQUIRED' || column.children.length > 0) return 0
  const index = leafChunks.get(column.path.join('.'))
  if (index === undefined) return 0
  let nulls = 0
  for (const group of metadata.row_groups) {
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
async function parquetPreview(file: AsyncBuffer, metadata: FileMetaData, columns: AnalyzedColumn[]): Promise<Record<string, unknown>[]> {
  const codecs = metadata.row_groups.flatMap((group) => group.columns.map((chunk) => chunk.meta_data?.codec))
  if (codecs.some((codec) => codec !== undefined && !readableParquetCodecs.has(codec))) return []
  let rows: Record<string, unknown>[]
  try {
    rows = await parquetReadObjects({ file, metadata, compressors: parquetCompressors, rowStart: 0, rowEnd: previewRows, useOffsetIndex: true })
  } catch (error) {
    throw fileProblem(`could not decode the first rows of the parquet file: ${error instanceof Error ? error.message : String(error)}`)
  }
  return rows.map((row) => Object.fromEntries(columns.map((column) => [column.name, parquetValueAs(row[column.name], column.type)])))
}

function parquetValueAs(value: unknown, type: ColumnType): unknown {
  if (value === undefined || value === null || value === '') return null
  if (type === 'string') return parquetText(value)
  return typeof value === 'bigint' ? bigintToJson(value) : value
}

/** Numbers while exact, decimal text beyond 2^53, so the preview is JSON-serializable. */
function bigintToJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()
}

function parquetText(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (typeof value === 'object') return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? bigintToJson(inner) : inner))
  return String(value)
}

// ---------------------------------------------------------------------------
// Declared schema

/** Problems (empty array when compatible) of a user-declared schema against the analysis. field paths like `schema.columns[1].type`. */
export function checkDeclaredSchema(declared: { columns: { name: string; type: ColumnType }[] }, analysis: FileAnalysis): FieldProblem[] {
  const problems: FieldProblem[] = []
  const fileColumns = new Map(analysis.columns.map((column) => [column.name, column]))
  const declaredAt = new Map<string, number>()
  declared.columns.forEach(({ name, type }, i) => {
    const path = `schema.columns[${i}]`
    const earlier = declaredAt.get(name)
    if (earlier !== undefined) {
      problems.push({ field: `${path}.name`, message: `column "${name}" is declared twice (also at schema.columns[${earlier}])` })
      return
    }
    declaredAt.set(name, i)
    const actual = fileColumns.get(name)
    if (actual === undefined) {
      problems.push({ field: `${path}.name`, message: missingColumnMessage(name, analysis.columns) })
    } else if (!typeAccepts(type, actual, analysis.rowCount)) {
      problems.push({ field: `${path}.type`, message: `declared ${type}, but column "${name}" holds ${actual.type} values` })
    }
  })
  for (const column of analysis.columns) {
    if (!declaredAt.has(column.name)) {
      problems.push({ field: 'schema.columns', message: `the file's column "${column.name}" (${column.type}) is not declared` })
    }
  }
  return problems
}

function typeAccepts(declared: ColumnType, actual: AnalyzedColumn, rowCount: number): boolean {
  // a column without a single value is consistent with any type
  if (actual.nullCount >= rowCount) return true
  return declared === 'string' || declared === actual.type || (declared === 'float' && actual.type === 'integer')
}

function missingColumnMessage(name: string, columns: AnalyzedColumn[]): string {
  const nearMiss = columns.find((column) => column.name.toLowerCase() === name.toLowerCase())
  if (nearMiss) return `column "${name}" is not in the file (did you mean "${nearMiss.name}"?)`
  const listed = columns.slice(0, 20).map((column) => `"${column.name}"`)
  const more = columns.length > listed.length ? `, and ${columns.length - listed.length} more` : ''
  return `column "${name}" is not in the file, which has ${listed.join(', ')}${more}`
}
