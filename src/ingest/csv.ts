// The one CSV reader: the upload analysis and the trainer's loader both read
// a stored CSV file through it, so a file reads the same way in both. It
// streams the file (a dataset can be hundreds of MB) and hands over one
// record at a time. Lines with plain fields are split here (csv-lines.ts);
// from the first line that is not plain (a quoted field spanning lines, a
// stray quote, a lone carriage return) to the end of the file csv-parse
// reads, so its strictness and its errors decide whatever is not plain.
// The upload limits (limits.ts) are checked on the way: on the lines split
// here once split (they are at most about 1 MiB), on what csv-parse reads
// before it reads it (csv-guard.ts).
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { CsvError, parse as createCsvParser } from 'csv-parse'
import { FormatError, reasonOf } from './errors.ts'
import { integerLinePattern, splitLine } from './csv-lines.ts'
import { CsvGuard } from './csv-guard.ts'
import { byteText, defaultUploadLimits, LimitError, type UploadLimits } from './limits.ts'
import { Pacer } from './pace.ts'
import { LineBlocks } from './text.ts'

/** What a CSV file is read into. Lines are numbered from 1, counting every line break, blank lines and those inside quotes included. */
export interface CsvSink {
  /** The first record, with names checked (non-empty, unique), and the line it ends on. */
  header(names: string[], line: number): void
  /** A data record with as many fields as the header, and the line it ends on. */
  record(fields: string[], line: number): void
  /**
   * Where given, a data line of exactly the header's number of integers (no
   * quotes, no empty field) arrives here as its text instead of split:
   * splitting and typing is most of the cost of a pixel table.
   */
  integerLine?(text: string, line: number): void
}

// A line still open after this many bytes goes to csv-parse (and the guard
// before it), which applies the line limit; shorter lines are checked here.
const maxSplitLineBytes = 1024 * 1024
// csv-parse reads 4-5% faster from 128-256 KiB chunks than from the 64 KiB
// default; 1 MiB chunks are slower again (measured on 50 MB files).
const readChunkBytes = 256 * 1024

type Chunks = AsyncIterator<Buffer>

/**
 * Streams the file's records to `sink`; a file that is not valid CSV throws a FormatError naming the line, one over
 * `limits` a LimitError. The event loop gets a turn every few milliseconds.
 */
export async function readCsv(filePath: string, sink: CsvSink, limits: UploadLimits = defaultUploadLimits): Promise<void> {
  const records = new Records(sink, limits)
  const chunks: Chunks = createReadStream(filePath, { highWaterMark: readChunkBytes })[Symbol.asyncIterator]()
  const pacer = new Pacer()
  try {
    const lines = new PlainLines(records, limits)
    const rest = await splitPlainLines(chunks, lines, pacer)
    if (rest !== undefined) await parseRest(rest, chunks, records, lines, pacer)
  } finally {
    await chunks.return?.()
  }
}

/** Checks records and passes them on; shared by both ways of reading. */
class Records {
  /** the header's field count; 0 until the header is read */
  fields = 0
  /** the line of the last record read */
  lastLine = 0
  integerLine: RegExp | undefined

  constructor(
    readonly sink: CsvSink,
    readonly limits: UploadLimits,
  ) {}

  take(fields: string[], line: number): void {
    this.lastLine = line
    if (this.fields === 0) {
      const max = this.limits.maxColumns
      if (fields.length > max) throw new LimitError('maxColumns', `the header (line ${line}) has ${fields.length} columns, more than ${max}`)
      this.sink.header(checkedHeader(fields, line), line)
      this.fields = fields.length
      if (this.sink.integerLine) this.integerLine = integerLinePattern(fields.length)
      return
    }
    const maxWidth = this.limits.maxRowWidth
    if (fields.length > maxWidth) throw new LimitError('maxRowWidth', `line ${line} has ${fields.length} fields, more than ${maxWidth}`)
    if (fields.length !== this.fields) {
      throw new FormatError(`line ${line} has ${fields.length === 1 ? '1 field' : `${fields.length} fields`}, but the header has ${this.fields}`)
    }
    this.sink.record(fields, line)
  }
}

function checkedHeader(names: string[], line: number): string[] {
  const seen = new Map<string, number>()
  names.forEach((name, i) => {
    if (name.trim() === '') throw new FormatError(`header on line ${line}: column ${i + 1} has no name`)
    const earlier = seen.get(name)
    if (earlier !== undefined) throw new FormatError(`header on line ${line}: column ${i + 1} "${name}" duplicates column ${earlier + 1}`)
    seen.set(name, i)
  })
  return names
}

/**
 * Reads whole lines from the chunks while they are plain; answers the bytes
 * from the first line that is not (csv-parse reads on from there), or
 * undefined when every line was.
 */
async function splitPlainLines(chunks: Chunks, lines: PlainLines, pacer: Pacer): Promise<Buffer | undefined> {
  // a line carried past the line limit goes to the guard, which names the limit
  const blocks = new LineBlocks(chunks, Math.min(maxSplitLineBytes, lines.limits.maxLineBytes))
  for (let text = await blocks.next(); text !== undefined; text = await blocks.next()) {
    const stop = lines.take(text)
    if (stop < text.length) return Buffer.concat([Buffer.from(text.slice(stop)), blocks.remainder()])
    await pacer.pace()
  }
  return blocks.longLine ? blocks.remainder() : undefined
}

/**
 * Splits lines that end in the file's line break, counting lines as
 * csv-parse does. The line break is the first one's (\n or \r\n, as
 * csv-parse discovers it); a carriage return anywhere else is left to it.
 */
class PlainLines {
  /** line breaks read so far */
  breaks = 0
  /** undefined until the first line break */
  crlf: boolean | undefined
  /** Lines longer than this (in UTF-16 units) may be over the line or cell limit in bytes: only they are measured. */
  private readonly measureChars: number

  constructor(
    private readonly records: Records,
    readonly limits: UploadLimits,
  ) {
    // a UTF-16 unit is at most 3 bytes of UTF-8
    this.measureChars = Math.floor(Math.min(limits.maxLineBytes, limits.maxCellBytes) / 3)
  }

  /** Takes the lines of `text` (ending in a line break unless it is the end of the file); answers where the first line it cannot take starts. */
  take(text: string): number {
    let start = 0
    while (start < text.length) {
      const lineBreak = text.indexOf('\n', start)
      const end = lineBreak === -1 ? text.length : lineBreak
      const line = this.lineText(text, start, end, lineBreak !== -1)
      if (line === undefined || !this.split(line)) return start
      this.breaks++
      start = end + 1
    }
    return text.length
  }

  /** The line without its line break; undefined when a carriage return is where csv-parse has to judge it. */
  private lineText(text: string, start: number, end: number, broken: boolean): string | undefined {
    let stop = end
    if (broken) {
      const cr = end > start && text.charCodeAt(end - 1) === 0x0d
      if (this.crlf === undefined) this.crlf = cr
      // a line break other than the file's
      if (cr !== this.crlf) return undefined
      if (cr) stop = end - 1
    }
    const line = text.slice(start, stop)
    return line.indexOf('\r') === -1 ? line : undefined
  }

  /** Passes the line on; false when it is not plain. */
  private split(line: string): boolean {
    // blank lines are skipped (csv-parse's skip_empty_lines), but counted
    if (line === '') return true
    const number = this.breaks + 1
    const records = this.records
    const long = line.length > this.measureChars
    if (long) checkLineBytes(line, number, this.limits)
    if (!long && records.integerLine?.test(line) && records.sink.integerLine) {
      records.lastLine = number
      records.sink.integerLine(line, number)
      return true
    }
    const fields = splitLine(line)
    if (fields === undefined) return false
    if (long) checkFieldBytes(fields, number, this.limits)
    records.take(fields, number)
    return true
  }
}

function checkLineBytes(line: string, number: number, limits: UploadLimits): void {
  const max = limits.maxLineBytes
  if (Buffer.byteLength(line) > max) throw new LimitError('maxLineBytes', `line ${number} is longer than ${byteText(max)}`)
}

function checkFieldBytes(fields: readonly string[], number: number, limits: UploadLimits): void {
  const max = limits.maxCellBytes
  const field = fields.findIndex((text) => text.length * 3 > max && Buffer.byteLength(text) > max)
  if (field !== -1) throw new LimitError('maxCellBytes', `line ${number}: field ${field + 1} is longer than ${byteText(max)}`)
}

/** csv-parse reads `rest` and the remaining chunks, each checked by the guard first; its lines are numbered on from the lines already read. */
async function parseRest(rest: Buffer, chunks: Chunks, records: Records, lines: PlainLines, pacer: Pacer): Promise<void> {
  const limits = records.limits
  const guard = new CsvGuard(limits, records.fields > 0, lines.breaks + 1)
  const csv = createCsvParser({
    skip_empty_lines: true,
    // field counts are checked in Records, as for the lines read before
    relax_column_count: true,
    // in characters, so the guard (in bytes) has always refused a longer record first
    max_record_size: limits.maxLineBytes,
    // from the start of the file csv-parse finds the line break itself; further on it is the one the lines read had
    ...(lines.breaks === 0 || lines.crlf === undefined ? {} : { record_delimiter: lines.crlf ? '\r\n' : '\n' }),
  })
  let failure: unknown
  csv.on('data', (fields: string[]) => {
    if (failure !== undefined) return
    try {
      // 'data' fires synchronously from inside the parser, so info.lines is this record's
      // last line; asking csv-parse for per-record info (on_record/info) costs over half the throughput
      records.take(fields, lines.breaks + csv.info.lines)
    } catch (error) {
      failure = error
      csv.destroy(error instanceof Error ? error : new Error(String(error)))
    }
  })
  async function* input(): AsyncGenerator<Buffer> {
    guard.scan(rest)
    yield rest
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      guard.scan(next.value)
      await pacer.pace()
      yield next.value
    }
  }
  try {
    await pipeline(input, csv)
  } catch (error) {
    if (failure !== undefined) throw failure
    if (error instanceof CsvError) throw csvProblem(error, records.lastLine, lines.breaks, limits)
    throw error
  }
}

function csvProblem(error: CsvError, lastGoodLine: number, linesBefore: number, limits: UploadLimits): FormatError {
  const line = typeof error.lines === 'number' ? linesBefore + error.lines : lastGoodLine + 1
  const field = typeof error.column === 'number' ? error.column + 1 : undefined
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new FormatError(`a quoted field that starts after line ${lastGoodLine} is never closed (the file ends on line ${line})`)
    case 'INVALID_OPENING_QUOTE':
      return new FormatError(`line ${line}: field ${field} has a quote inside an unquoted value; quote the whole field and double inner quotes ("")`)
    case 'CSV_INVALID_CLOSING_QUOTE':
      return new FormatError(`line ${line}: field ${field} has a closing quote followed by text instead of a comma or line end; double inner quotes ("")`)
    case 'CSV_MAX_RECORD_SIZE':
      return new LimitError('maxLineBytes', `line ${line}: a record longer than ${byteText(limits.maxLineBytes)}, most likely a quote that is never closed`)
    default:
      return new FormatError(`line ${line}: ${reasonOf(error)}`)
  }
}
