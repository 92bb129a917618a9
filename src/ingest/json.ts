// The one JSON reader: the upload analysis and the trainer's loader both read
// a stored JSON file through it. A JSON dataset is an array of objects
// (json-array.ts) or JSON Lines, one object per line; the first significant
// character tells which. Both are streamed, one object at a time, and every
// chunk passes the shape guard (json-guard.ts) before any of it is parsed.
import { createReadStream } from 'node:fs'
import { FormatError, reasonOf } from './errors.ts'
import { isJsonObject, type JsonRow } from './json-values.ts'
import { notAnObject } from './json-errors.ts'
import { readJsonArray } from './json-array.ts'
import { JsonGuard } from './json-guard.ts'
import { byteText, defaultUploadLimits, LimitError, type UploadLimits } from './limits.ts'
import { Pacer } from './pace.ts'
import { LineBlocks, textChunks } from './text.ts'

export type { JsonRow }

/** How the file holds its rows; `blank` is a file of whitespace only. */
export type JsonLayout = 'array' | 'lines' | 'blank'

const readChunkBytes = 256 * 1024

/**
 * Streams the file's objects to `onRow` in file order; content that is not a JSON dataset throws a FormatError naming
 * the place, a row over `limits` a LimitError (the distinct keys over all rows are for `onRow` to count).
 */
export async function readJson(filePath: string, onRow: (row: JsonRow) => void, limits: UploadLimits = defaultUploadLimits): Promise<JsonLayout> {
  const first = await firstSignificantChar(filePath)
  if (first === undefined) return 'blank'
  if (first === '[') {
    await readJsonArray(filePath, onRow, limits)
    return 'array'
  }
  await readJsonLines(filePath, onRow, limits)
  return 'lines'
}

async function firstSignificantChar(filePath: string): Promise<string | undefined> {
  for await (const chunk of textChunks(filePath)) {
    const at = chunk.search(/[^ \t\r\n]/)
    if (at !== -1) return chunk[at]
  }
  return undefined
}

/** The file's chunks, each scanned by the guard before it is handed on. */
async function* guardedChunks(filePath: string, guard: JsonGuard): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(filePath, { highWaterMark: readChunkBytes }) as AsyncIterable<Buffer>) {
    guard.scan(chunk)
    yield chunk
  }
}

async function readJsonLines(filePath: string, onRow: (row: JsonRow) => void, limits: UploadLimits): Promise<void> {
  let lineNumber = 0
  const takeLine = (line: string) => {
    lineNumber++
    if (line.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw new FormatError(
        `line ${lineNumber} is not valid JSON (${reasonOf(error)}); a JSON file must be an array of objects or JSON Lines, one object per line`,
      )
    }
    if (!isJsonObject(value)) throw notAnObject(`line ${lineNumber}`, value)
    onRow(value)
  }
  const chunks: AsyncIterator<Buffer> = guardedChunks(filePath, new JsonGuard(limits, 'lines'))
  const blocks = new LineBlocks(chunks, limits.maxLineBytes)
  const pacer = new Pacer()
  try {
    for (let text = await blocks.next(); text !== undefined; text = await blocks.next()) {
      let start = 0
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        takeLine(text.slice(start, end))
        start = end + 1
      }
      // only the last block has text after its last line break
      if (blocks.ended) takeLine(text.slice(start))
      await pacer.pace()
    }
  } finally {
    await chunks.return?.()
  }
  // the guard refuses a long line first; this is the heap's own bound
  if (blocks.longLine) throw new LimitError('maxLineBytes', `line ${lineNumber + 1} is longer than ${byteText(limits.maxLineBytes)}`)
}
