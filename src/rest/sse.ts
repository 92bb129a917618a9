// Server-Sent Events (text/event-stream) on a plain Node response: framing,
// heartbeats, back-pressure, and releasing the source when the client goes.
import type { ServerResponse } from 'node:http'

export interface SseMessage {
  event: string
  data: unknown
}

/** Proxies close idle connections after a minute or so; a comment line every 15 s keeps the stream open. */
export const defaultHeartbeatMs = 15_000

/** One event block: `id`, `event` and one `data` line (JSON never contains a raw newline). */
export function frame(id: number, message: SseMessage): string {
  return `id: ${id}\nevent: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`
}

/**
 * Streams `source` to `response` as Server-Sent Events until the source ends
 * (then ends the response) or the client disconnects (then returns the
 * source at once, which releases whatever it holds). Events are numbered
 * from 1 in `id:`; `format` maps an item to a message, or to none to skip it.
 */
export async function writeEventStream<T>(
  response: ServerResponse,
  source: AsyncIterator<T>,
  format: (item: T) => SseMessage | undefined,
  options: { heartbeatMs?: number } = {},
): Promise<void> {
  let gone = false
  const release = () => {
    gone = true
    void source.return?.()
  }
  response.on('close', release)
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to.
    'x-accel-buffering': 'no',
  })
  response.flushHeaders()
  const write = async (text: string) => {
    if (gone || response.writableEnded) return
    if (!response.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off('drain', done)
          response.off('close', done)
          resolve()
        }
        response.on('drain', done)
        response.on('close', done)
      })
    }
  }
  const heartbeat = setInterval(() => void write(': heartbeat\n\n'), options.heartbeatMs ?? defaultHeartbeatMs)
  let id = 0
  try {
    for (;;) {
      const next = await source.next()
      if (next.done || gone) break
      const message = format(next.value)
      if (message) await write(frame(++id, message))
    }
  } finally {
    clearInterval(heartbeat)
    response.off('close', release)
    if (!gone) void source.return?.()
    if (!response.writableEnded) response.end()
  }
}
