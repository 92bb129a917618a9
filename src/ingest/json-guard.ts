// Checks a JSON dataset's shape on its raw bytes, chunk by chunk, before any
// of it is parsed: JSON.parse of one line holding a million keys, or of an
// array nested 100k deep, runs for seconds in one go and builds what no
// later check can undo. Counting brackets, commas and string bytes is one
// pass over each chunk, so a file over a limit is refused where the limit
// is crossed. It does not validate JSON (JSON.parse does that afterwards);
// on text that is not JSON it only keeps its counts bounded.
import { byteText, LimitError, type UploadLimits } from './limits.ts'

const other = 0
const quoteClass = 1
const openClass = 2
const closeClass = 3
const commaClass = 4
const newlineClass = 5

const quote = 0x22
const backslash = 0x5c
const newline = 0x0a

const classes = new Uint8Array(256)
classes[quote] = quoteClass
classes[0x7b] = openClass
classes[0x5b] = openClass
classes[0x7d] = closeClass
classes[0x5d] = closeClass
classes[0x2c] = commaClass
classes[newline] = newlineClass

// The bytes that end a run of string content: its closing quote or an escape (and in JSON Lines a line break).
const stringStops = new Uint8Array(256)
stringStops[quote] = 1
stringStops[backslash] = 1
const lineStringStops = stringStops.slice()
lineStringStops[newline] = 1

/**
 * The running counts of one file. A row is a line of a JSON Lines file, or an
 * element of a JSON array (the array's own bracket is depth 1 there).
 */
export class JsonGuard {
  private depth = 0
  /** values of the current row: keys and array items at any depth, counted as commas plus opened containers */
  private values = 0
  private inString = false
  private escaped = false
  /** bytes of the current string in earlier chunks */
  private cellCarry = 0
  /** bytes of the current row in earlier chunks */
  private rowCarry = 0
  private line = 1
  private element = 0
  /** the depth of a row's own brackets */
  private readonly rowDepth: number

  constructor(
    private readonly limits: UploadLimits,
    private readonly layout: 'array' | 'lines',
  ) {
    this.rowDepth = layout === 'lines' ? 1 : 2
  }

  /** Takes the next chunk of the file; throws a LimitError at the first limit it crosses. */
  scan(bytes: Buffer): void {
    const lines = this.layout === 'lines'
    const stops = lines ? lineStringStops : stringStops
    const base = this.rowDepth
    const { maxDepth, maxRowWidth } = this.limits
    const end = bytes.length
    let { depth, values, inString, escaped } = this
    let cellStart = 0
    let rowStart = 0
    let i = 0
    while (i < end) {
      if (inString) {
        if (escaped) {
          escaped = false
          if (!lines || bytes[i] !== newline) {
            i++
            continue
          }
        } else {
          while (i < end && stops[bytes[i]] === 0) i++
          if (i === end) break
          const stop = bytes[i]
          if (stop === backslash) escaped = true
          else if (stop === quote) this.checkCell(this.cellCarry + i - cellStart)
          if (stop !== newline) {
            inString = stop === backslash
            if (!inString) this.cellCarry = 0
            i++
            continue
          }
        }
        // a raw line break is not JSON inside a string: in JSON Lines it still ends the row
        inString = false
        this.cellCarry = 0
      }
      while (i < end && classes[bytes[i]] === other) i++
      if (i === end) break
      switch (classes[bytes[i]]) {
        case quoteClass:
          inString = true
          cellStart = i + 1
          break
        case openClass:
          depth++
          if (depth < base) break
          if (depth === base) {
            values = 0
            if (!lines) {
              rowStart = i
              this.rowCarry = 0
            }
          }
          if (++values > maxRowWidth) throw this.tooWide()
          if (depth - base + 1 > maxDepth) throw this.tooDeep()
          break
        case closeClass:
          if (depth > 0) depth--
          if (!lines && depth === 1) {
            this.checkRow(this.rowCarry + i + 1 - rowStart)
            this.rowCarry = 0
          }
          break
        case commaClass:
          if (depth >= base) {
            if (++values > maxRowWidth) throw this.tooWide()
          } else if (!lines && depth === 1) {
            this.element++
          }
          break
        case newlineClass:
          if (!lines) break
          this.checkRow(this.rowCarry + i - rowStart)
          this.rowCarry = 0
          rowStart = i + 1
          depth = 0
          values = 0
          this.line++
          break
      }
      i++
    }
    if (inString) {
      this.cellCarry += end - cellStart
      this.checkCell(this.cellCarry)
    }
    if (lines || depth >= base) {
      this.rowCarry += end - rowStart
      this.checkRow(this.rowCarry)
    }
    this.depth = depth
    this.values = values
    this.inString = inString
    this.escaped = escaped
  }

  private where(): string {
    return this.layout === 'lines' ? `line ${this.line}` : `array element at index ${this.element}`
  }

  private checkCell(bytes: number): void {
    const max = this.limits.maxCellBytes
    if (bytes > max) throw new LimitError('maxCellBytes', `${this.where()} holds a string longer than ${byteText(max)}`)
  }

  private checkRow(bytes: number): void {
    const max = this.limits.maxLineBytes
    if (bytes > max) throw new LimitError('maxLineBytes', `${this.where()} is longer than ${byteText(max)}`)
  }

  private tooWide(): LimitError {
    return new LimitError('maxRowWidth', `${this.where()} has more than ${this.limits.maxRowWidth} values, counting keys and array items at any depth`)
  }

  private tooDeep(): LimitError {
    return new LimitError('maxDepth', `${this.where()} nests objects and arrays more than ${this.limits.maxDepth} deep`)
  }
}
