// Streams the elements of a file holding one JSON array, with JSON.parse
// doing the parsing: a run of whole elements at a time, cut from the text
// read so far. JSON.parse is an order of magnitude faster than a streaming
// tokenizer, and its answer checks the cut: the state of a JSON text after a
// prefix depends on the prefix alone, so a run that parses as a list of
// values ends between two elements. Whatever does not parse goes to
// json-errors.ts, which says exactly what is wrong.
import { FormatError } from './errors.ts'
import { isJsonObject, type JsonRow } from './json-values.ts'
import { jsonArrayProblem } from './json-errors.ts'
import { textChunks } from './text.ts'

const readChunkBytes = 256 * 1024
// An element still open after this many characters is almost always a quote
// or bracket that never closes; stopping there keeps the heap bounded.
const maxElementChars = 16 * 1024 * 1024

/** Streams the array's elements to `onRow`; the file's first significant character is `[`. */
export async function readJsonArray(filePath: string, onRow: (row: JsonRow) => void): Promise<void> {
  const elements = new ArrayElements(onRow)
  let fine = true
  for await (const chunk of textChunks(filePath, readChunkBytes)) {
    fine = elements.push(chunk)
    if (!fine) break
  }
  if (fine && elements.end()) return
  throw (await jsonArrayProblem(filePath)) ?? new FormatError(`array element at index ${elements.count} is longer than ${maxElementChars / 1024 / 1024} MiB`)
}

class ArrayElements {
  /** elements passed on so far */
  count = 0
  /** text after the last element passed on (after the opening bracket at first) */
  private pending = ''
  private opened = false

  constructor(private readonly onRow: (row: JsonRow) => void) {}

  /** Passes on the elements that end in the text read so far; false when that text cannot start an array of objects. */
  push(chunk: string): boolean {
    let text = this.pending + chunk
    if (!this.opened) {
      text = text.slice(text.indexOf('[') + 1)
      this.opened = true
    }
    let end = guessedRunEnd(text)
    let run = end > 0 ? this.parse(text.slice(0, end)) : undefined
    if (run === undefined) {
      // the guess was inside an element (a nested array of objects, a string): find the end by scanning
      end = scannedRunEnd(text)
      run = end > 0 ? this.parse(text.slice(0, end)) : []
      if (run === undefined) return false
    }
    if (!this.pass(run)) return false
    this.pending = text.slice(end)
    return this.pending.length <= maxElementChars
  }

  /** Passes on the last elements; false unless the text left is they and the closing bracket. */
  end(): boolean {
    const text = this.pending.trimEnd()
    if (!this.opened || !text.endsWith(']')) return false
    const last = text.slice(0, -1)
    if (last.trim() === '') return true
    const run = this.parse(last)
    return run !== undefined && this.pass(run)
  }

  /** The values of a run of elements, led by a comma unless it is the first; undefined when it does not parse. */
  private parse(text: string): unknown[] | undefined {
    let body = text
    if (this.count > 0) {
      const comma = body.search(/\S/)
      if (body[comma] !== ',') return undefined
      body = body.slice(comma + 1)
      // a comma before nothing (a trailing comma) parses as `[ ]` but is not JSON
      if (body.trim() === '') return undefined
    }
    try {
      return JSON.parse(`[${body}]`) as unknown[]
    } catch {
      return undefined
    }
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
 * Just after the last `}` that is followed by a comma and `{`: between two
 * objects of the array, unless they are inside an element. 0 when none.
 */
function guessedRunEnd(text: string): number {
  for (let open = text.lastIndexOf('{'); open > 0; open = text.lastIndexOf('{', open - 1)) {
    let at = open - 1
    while (isSpace(text.charCodeAt(at))) at--
    if (text.charCodeAt(at) !== 0x2c) continue
    at--
    while (isSpace(text.charCodeAt(at))) at--
    if (text.charCodeAt(at) === 0x7d) return at + 1
  }
  return 0
}

/** Just after the last element that ends in `text`, which starts between elements; 0 when none does. Reads every character. */
function scannedRunEnd(text: string): number {
  let depth = 0
  let end = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x22) {
      i = stringEnd(text, i)
      if (i === -1) break
    } else if (code === 0x7b || code === 0x5b) {
      depth++
    } else if (code === 0x7d || code === 0x5d) {
      depth--
      if (depth === 0) end = i + 1
      else if (depth < 0) break
    }
  }
  return end
}

/** The closing quote of the string opening at `open`; -1 when it does not close in `text`. */
function stringEnd(text: string, open: number): number {
  for (let close = text.indexOf('"', open + 1); close !== -1; close = text.indexOf('"', close + 1)) {
    let backslashes = 0
    while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return close
  }
  return -1
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09
}
