// A stored text file read as decoded chunks, for the JSON readers.
import { createReadStream } from 'node:fs'

/** The file's text in chunks (decoded across chunk borders), without a leading byte-order mark. */
export async function* textChunks(filePath: string, chunkBytes?: number): AsyncGenerator<string> {
  let first = true
  // with an encoding set the stream yields strings
  for await (const chunk of createReadStream(filePath, { encoding: 'utf8', highWaterMark: chunkBytes }) as AsyncIterable<string>) {
    yield first && chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk
    first = false
  }
}
