// Stored text files read in chunks, for the readers.
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

/** The bytes after a leading UTF-8 byte-order mark, if any. */
export function withoutBom(bytes: Buffer): Buffer {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes
}

const newline = 0x0a
const noBytes = Buffer.alloc(0)
// Blocks of about this size decode into strings V8 keeps in its young
// generation (larger ones go to the large-object space, which only a full
// collection frees): the upload's memory then stays flat while it streams.
const blockBytes = 32 * 1024

/**
 * A file's complete lines, a block of them at a time, without a leading
 * byte-order mark. A line break never falls inside a multi-byte character,
 * so each block (whole lines of a chunk) decodes whole into one
 * flat string, and lines sliced from it copy nothing; only the line that
 * straddles two chunks is joined, as bytes. Joining a carried piece to a
 * chunk as strings would copy the chunk, and joining whole chunks as bytes
 * allocates a chunk's worth of memory each time.
 */
export class LineBlocks {
  /** true once the last block, which need not end in a line break, was returned */
  ended = false
  /** true when next() stopped at a line longer than `maxLineBytes` */
  longLine = false
  private carry: Buffer = noBytes
  private body: Buffer | undefined
  private first = true

  constructor(
    private readonly chunks: AsyncIterator<Buffer>,
    private readonly maxLineBytes: number,
  ) {}

  /** The next block of whole lines, the file's last (maybe empty) text, or undefined at the end or at a line too long. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const block = this.fromBody()
      if (block !== undefined) return block
      if (this.carry.length > this.maxLineBytes) {
        this.longLine = true
        return undefined
      }
      const next = await this.chunks.next()
      if (next.done) return this.last()
      const joined = this.join(this.first ? withoutBom(next.value) : next.value)
      this.first = false
      if (joined !== undefined) return joined
    }
  }

  /** The bytes read and not returned yet, for a reader that goes on another way. */
  remainder(): Buffer {
    return this.body === undefined ? this.carry : Buffer.concat([this.carry, this.body])
  }

  /** The next block from the chunk taken in: its lines up to about `blockBytes`, or the rest of its whole lines. */
  private fromBody(): string | undefined {
    const body = this.body
    if (body === undefined) return undefined
    let end = body.length > blockBytes ? body.indexOf(newline, blockBytes) + 1 : 0
    if (end === 0) end = body.lastIndexOf(newline) + 1
    if (end === 0 || end === body.length) {
      this.body = undefined
      this.carry = body.subarray(end)
    } else {
      this.body = body.subarray(end)
    }
    return end > 0 ? body.toString('utf8', 0, end) : undefined
  }

  /** Takes in a chunk; answers the line it completes when a line was carried. */
  private join(chunk: Buffer): string | undefined {
    if (this.carry.length === 0) {
      this.body = chunk
      return undefined
    }
    const lineEnd = chunk.indexOf(newline) + 1
    if (lineEnd === 0) {
      this.carry = Buffer.concat([this.carry, chunk])
      return undefined
    }
    const line = Buffer.concat([this.carry, chunk.subarray(0, lineEnd)]).toString('utf8')
    this.carry = noBytes
    this.body = chunk.subarray(lineEnd)
    return line
  }

  private last(): string | undefined {
    if (this.ended) return undefined
    this.ended = true
    const text = this.carry.toString('utf8')
    this.carry = noBytes
    return text
  }
}
