// Streams the elements of a file holding one JSON array, with JSON.parse
// doing the parsing: a run of whole elements at a time, cut from the bytes
// read so far at a comma between two elements. JSON.parse is an order of
// magnitude faster than a streaming tokenizer, and its answer checks the
// cut: the state of a JSON text after a prefix depends on the prefix alone,
// so a run that parses as an array ends between two elements. Runs are
// decoded straight from the bytes, with the commas around them turned into
// brackets, so JSON.parse gets the decoder's flat string and no text is
// copied (joining and slicing strings copies them). Whatever does not
// parse goes to json-errors.ts, which says exactly what is wrong. Each chunk
// passes the shape guard (json-guard.ts) before any of it is parsed.
import { createReadStream } from 'node:fs'
import { isJsonObject, type JsonRow } from './json-values.ts'
import { jsonArrayProblem } from './json-errors.ts'
import { JsonGuard } from './json-guard.ts'
import { byteText, LimitError, type UploadLimits } from './limits.ts'
import { Pacer } from './pace.ts'

const readChunkBytes = 256 * 1024

const openBracket = 0x5b
const closeBracket = 0x5d
const openBrace = 0x7b
const closeBrace = 0x7d
const comma = 0x2c
const quote = 0x22
const backslash = 0x5c

/** Streams the array's elements to `onRow`; the file's first significant character is `[`. */
export async function readJsonArray(filePath: string, onRow: (row: JsonRow) => void, limits: UploadLimits): Promise<void> {
  const maxBytes = limits.maxLineBytes
  // the guard bounds each element; this bounds what lies between them (whitespace, a value that is not an object)
  const elements = new ArrayElements(onRow, maxBytes + readChunkBytes)
  const guard = new JsonGuard(limits, 'array')
  const pacer = new Pacer()
  let fine = true
  for await (const chunk of createReadStream(filePath, { highWaterMark: readChunkBytes }) as AsyncIterable<Buffer>) {
    guard.scan(chunk)
    fine = elements.push(chunk)
    if (!fine) break
    await pacer.pace()
  }
  if (fine && elements.end()) return
  // the guard refuses a long element first: what is left is text between elements that never ends
  throw (await jsonArrayProblem(filePath)) ?? new LimitError('maxLineBytes', `array element at index ${elements.count} is longer than ${byteText(maxBytes)}`)
}

class ArrayElements {
  /** elements passed on so far */
  count = 0
  /** the bytes after the last run passed on, starting with `[`: the file's own, then the comma before the next element */
  private pending: Buffer | undefined

  constructor(
    private readonly onRow: (row: JsonRow) => void,
    /** an element still open after this many bytes is almost always a quote or bracket that never closes */
    private readonly maxElementBytes: number,
  ) {}

  /** Passes on the elements that end in the bytes read so far; false when they cannot start an array of objects. */
  push(chunk: Buffer): boolean {
    let bytes: Buffer
    if (this.pending !== undefined) {
      bytes = Buffer.concat([this.pending, chunk])
    } else {
      // before the opening bracket are only a byte-order mark and whitespace (readJson checked)
      const start = chunk.indexOf(openBracket)
      if (start === -1) return true
      bytes = chunk.subarray(start)
    }
    let cut = lastGuessedComma(bytes)
    let values = cut > 0 ? parseRun(bytes, cut) : undefined
    if (values === undefined) {
      // the guess was inside an element (a nested array of objects, a string), or there was none:
      // find the comma by reading every byte, unless no element can have ended in this chunk
      cut = chunk.indexOf(closeBrace) === -1 ? 0 : lastTopLevelComma(bytes)
      values = cut > 0 ? parseRun(bytes, cut) : []
      if (values === undefined) return false
    }
    if (!this.pass(values)) return false
    this.pending = cut > 0 ? bytes.subarray(cut) : bytes
    return this.pending.length <= this.maxElementBytes
  }

  /** Passes on the last elements; false unless what is left is they, the closing bracket and whitespace. */
  end(): boolean {
    if (this.pending === undefined) return false
    const values = parseArray(this.pending.toString('utf8'))
    // after a comma, an empty rest (`[{...},]`) is a trailing comma
    return values !== undefined && (values.length > 0 || this.count === 0) && this.pass(values)
  }

  private pass(values: unknown[]): boolean {
    for (const value of values) {
      if (!isJsonObject(value)) return false
      this.onRow(value)
      this.count++
    }
    return true
  }
}

/**
 * The elements of bytes[0..cut] (which start with `[`), the comma at `cut`
 * made the closing bracket; that comma then opens the next run. undefined,
 * the comma left as it was, when the run does not parse.
 */
function parseRun(bytes: Buffer, cut: number): unknown[] | undefined {
  bytes[cut] = closeBracket
  const values = parseArray(bytes.toString('utf8', 0, cut + 1))
  bytes[cut] = values !== undefined && values.length > 0 ? openBracket : comma
  return values !== undefined && values.length > 0 ? values : undefined
}

function parseArray(text: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * The last comma between a `}` and a `{`: between two objects of the array,
 * unless they are inside an element (the parse then fails). 0 when none.
 */
function lastGuessedComma(bytes: Buffer): number {
  for (let open = bytes.lastIndexOf(openBrace); open > 0; open = bytes.lastIndexOf(openBrace, open - 1)) {
    let at = open - 1
    while (isSpace(bytes[at])) at--
    if (bytes[at] !== comma) continue
    const cut = at
    at--
    while (isSpace(bytes[at])) at--
    if (bytes[at] === closeBrace) return cut
  }
  return 0
}

/** The last comma between two elements of the array, found by reading every byte after the opening bracket; 0 when none. */
function lastTopLevelComma(bytes: Buffer): number {
  let depth = 0
  let cut = 0
  for (let i = 1; i < bytes.length; i++) {
    const byte = bytes[i]
    if (byte === quote) {
      i = stringEnd(bytes, i)
      if (i === -1) break
    } else if (byte === openBrace || byte === openBracket) {
      depth++
    } else if (byte === closeBrace || byte === closeBracket) {
      if (--depth < 0) break
    } else if (byte === comma && depth === 0) {
      cut = i
    }
  }
  return cut
}

/** The closing quote of the string opening at `open`; -1 when it does not close in `bytes`. */
function stringEnd(bytes: Buffer, open: number): number {
  for (let close = bytes.indexOf(quote, open + 1); close !== -1; close = bytes.indexOf(quote, close + 1)) {
    let backslashes = 0
    while (bytes[close - 1 - backslashes] === backslash) backslashes++
    if (backslashes % 2 === 0) return close
  }
  return -1
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09
}
