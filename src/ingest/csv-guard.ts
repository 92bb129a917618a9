// Checks CSV records on their raw bytes before csv-parse reads them. csv-parse
// collects a whole record before handing it over, so a header of a million
// fields (7 MB on one line) would be split, kept and checked only at its end;
// this counts fields and bytes as the chunks go by and refuses the file where
// a limit is crossed. It follows RFC 4180 quoting (a field that opens with a
// quote runs to the closing one, line breaks included) and leaves judging
// malformed quoting to csv-parse.
import { byteText, LimitError, type UploadLimits } from './limits.ts'

const fieldStart = 0
const unquoted = 1
const quoted = 2
const quoteInQuoted = 3

const quote = 0x22
const comma = 0x2c
const newline = 0x0a
const carriageReturn = 0x0d

// The bytes that end an unquoted field.
const fieldStops = new Uint8Array(256)
fieldStops[comma] = 1
fieldStops[newline] = 1

/** The running counts of the records csv-parse is about to read. */
export class CsvGuard {
  private state = fieldStart
  private fields = 1
  /** bytes of the current field and record in earlier chunks */
  private fieldCarry = 0
  private recordCarry = 0

  /**
   * @param headerRead whether the header record was read already (by the line splitter)
   * @param line the number of the line the first chunk starts on
   */
  constructor(
    private readonly limits: UploadLimits,
    private headerRead: boolean,
    private line: number,
  ) {}

  /** Takes the next chunk; throws a LimitError at the first limit it crosses. */
  scan(bytes: Buffer): void {
    const end = bytes.length
    let state = this.state
    let fieldFrom = 0
    let recordFrom = 0
    let i = 0
    while (i < end) {
      if (state === quoted) {
        // line breaks inside quotes count as lines (csv-parse numbers lines so)
        let byte = bytes[i]
        while (byte !== quote && i < end) {
          if (byte === newline) this.line++
          byte = bytes[++i]
        }
        if (i === end) break
        state = quoteInQuoted
        i++
        continue
      }
      const byte = bytes[i]
      if (state === fieldStart || state === quoteInQuoted) {
        state = byte === quote ? quoted : unquoted
        if (state === quoted) {
          i++
          continue
        }
      }
      while (i < end && fieldStops[bytes[i]] === 0) i++
      if (i === end) break
      this.checkCell(this.fieldCarry + i - fieldFrom)
      this.fieldCarry = 0
      if (bytes[i] === comma) {
        this.nextField()
      } else {
        this.endRecord(this.recordCarry + i - recordFrom, i > 0 ? bytes[i - 1] : undefined)
        recordFrom = i + 1
      }
      fieldFrom = i + 1
      state = fieldStart
      i++
    }
    this.state = state
    this.fieldCarry += end - fieldFrom
    this.recordCarry += end - recordFrom
    this.checkCell(this.fieldCarry)
    this.checkRecord(this.recordCarry)
  }

  private nextField(): void {
    this.fields++
    const max = this.headerRead ? this.limits.maxRowWidth : this.limits.maxColumns
    if (this.fields <= max) return
    if (this.headerRead) throw new LimitError('maxRowWidth', `line ${this.line} has more than ${max} fields`)
    throw new LimitError('maxColumns', `the header (line ${this.line}) has more than ${max} columns`)
  }

  private endRecord(bytes: number, lastByte: number | undefined): void {
    this.checkRecord(bytes)
    // blank lines (csv-parse skips them) are not the header
    const blank = bytes === 0 || (bytes === 1 && lastByte === carriageReturn)
    if (!blank) this.headerRead = true
    this.recordCarry = 0
    this.fields = 1
    this.line++
  }

  private checkCell(bytes: number): void {
    const max = this.limits.maxCellBytes
    if (bytes > max) throw new LimitError('maxCellBytes', `line ${this.line} has a field longer than ${byteText(max)}`)
  }

  private checkRecord(bytes: number): void {
    const max = this.limits.maxLineBytes
    if (bytes > max) throw new LimitError('maxLineBytes', `line ${this.line} is longer than ${byteText(max)}`)
  }
}
