// The exact description of what is wrong with a JSON array file. The fast
// reader (json-array.ts) only knows that a run of elements did not parse;
// this reads the file again with stream-json, a streaming tokenizer that
// can be traced to the character, and says where and why, in the words the
// upload has always used. Only a file already known to be bad comes here;
// it too hands the event loop a turn every few milliseconds.
import { jsonParser } from 'stream-json/core/parser.js'
import { streamArray } from 'stream-json/core/streamers/stream-array.js'
import { FormatError, reasonOf } from './errors.ts'
import { Pacer } from './pace.ts'
import { textChunks } from './text.ts'

type JsonTokenizer = ReturnType<typeof jsonParser>
type JsonToken = Extract<ReturnType<JsonTokenizer>, { values: unknown }>['values'][number]
type ElementOutput = ReturnType<ReturnType<typeof streamArray>>
type Element = Extract<ElementOutput, { key: number }>

/** 'an array', 'null', 'a string', ... for messages. */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}

export function notAnObject(where: string, value: unknown): FormatError {
  return new FormatError(`${where} is ${describeJsonValue(value)}, not an object`)
}

/**
 * The first problem of the JSON array in the file, as found reading it in
 * 64 KiB chunks: a syntax error, an element that is not an object, or an
 * array that is never closed. undefined when there is none.
 */
export async function jsonArrayProblem(filePath: string): Promise<FormatError | undefined> {
  const tokenizer = jsonParser({ streamValues: false })
  const elements = streamArray()
  const pacer = new Pacer()
  let offset = 0
  try {
    for await (const chunk of textChunks(filePath)) {
      await pacer.pace()
      let tokens: readonly JsonToken[]
      try {
        tokens = tokenize(tokenizer, chunk)
      } catch (error) {
        return await jsonSyntaxProblem(filePath, offset, error)
      }
      offset += chunk.length
      checkElements(elements, tokens)
    }
    let tokens: readonly JsonToken[]
    try {
      tokens = flush(tokenizer)
    } catch (error) {
      const end = await locateJsonError(filePath, Infinity)
      return new FormatError(`invalid JSON: the file ends (line ${end.line}, column ${end.column}) before the array is complete: ${parserReason(error)}`)
    }
    checkElements(elements, tokens)
  } catch (error) {
    if (error instanceof FormatError) return error
    throw error
  }
  return undefined
}

function checkElements(elements: ReturnType<typeof streamArray>, tokens: readonly JsonToken[]): void {
  for (const token of tokens) {
    for (const element of elementsOf(elements(token))) {
      const value: unknown = element.value
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notAnObject(`array element at index ${element.key}`, value)
    }
  }
}

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

/** The tokenizer's flush protocol is this symbol, which its type (text only) leaves out. */
function flush(tokenizer: JsonTokenizer): readonly JsonToken[] {
  const flushing: (end: symbol) => ReturnType<JsonTokenizer> = tokenizer as (input: unknown) => ReturnType<JsonTokenizer>
  const out = flushing(endOfInput)
  return typeof out === 'symbol' ? [] : out.values
}

interface TextPosition {
  line: number
  column: number
}

async function jsonSyntaxProblem(filePath: string, failingChunkStart: number, error: unknown): Promise<FormatError> {
  const at = await locateJsonError(filePath, failingChunkStart)
  return new FormatError(`invalid JSON near line ${at.line}, column ${at.column}: ${parserReason(error)}`)
}

function parserReason(error: unknown): string {
  return reasonOf(error).replace(/^Parser (cannot parse input: |has )/, '')
}

// Characters the tokenizer takes without emitting a token while the text is
// still fine: separators, and the digits of a number waiting for its end.
const quietlyConsumed = /^[ \t\r\n,:0-9.eE+-]$/

/**
 * stream-json's errors carry no position, so the failure is found again: a
 * fresh tokenizer reads the file up to the chunk that failed, then takes
 * that chunk one character at a time until it throws. The tokenizer looks
 * ahead before rejecting some text (e.g. `nul}`), so the answer is where the
 * text it could not make sense of begins: just after the last token and any
 * separators or number digits that followed it. With `failingChunkStart`
 * Infinity it is the end of the input.
 */
async function locateJsonError(filePath: string, failingChunkStart: number): Promise<TextPosition> {
  const tokenizer = jsonParser({ streamValues: false })
  const position: TextPosition = { line: 1, column: 1 }
  let errorStart = { ...position }
  let atErrorStart = true
  let offset = 0
  const pacer = new Pacer()
  let sinceTurn = 0
  try {
    for await (const chunk of textChunks(filePath)) {
      await pacer.pace()
      const whole = chunk.slice(0, Math.max(0, failingChunkStart - offset))
      offset += chunk.length
      if (whole.length > 0) {
        tokenize(tokenizer, whole)
        advance(position, whole)
        errorStart = { ...position }
      }
      for (const char of chunk.slice(whole.length)) {
        // one character at a time is slow: ask for a turn now and then
        if (++sinceTurn % 1024 === 0) await pacer.pace()
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
