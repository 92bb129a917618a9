// The two answers that are not an envelope: an export's file (byte ranges,
// a sensible file name) and a job's live events as Server-Sent Events.
import send from '@fastify/send'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, NotFoundError } from '../errors/index.ts'
import { endedStatuses } from '../domain/views.ts'
import type { ExportService } from '../services/exports.ts'
import type { MonitorEvent } from '../services/monitoring.ts'
import { errorBody } from './envelope.ts'
import { defaultHeartbeatMs, writeEventStream, type SseMessage } from './sse.ts'

type ExportFile = Awaited<ReturnType<ExportService['file']>>

/** `attachment` with an ASCII fallback name and the exact name in RFC 5987 form. */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_')
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`
}

/** §5.2: the file, whole or the `Range` asked for (206), with its checksum; 416 for a range outside it. */
export async function sendExportFile(request: FastifyRequest, reply: FastifyReply, exportId: string, file: ExportFile): Promise<FastifyReply> {
  const result = await send(request.raw, `/${file.relativePath}`, { root: file.root, contentType: false, cacheControl: false, dotfiles: 'deny' })
  if (result.type === 'error' && result.statusCode === 416) {
    // A range outside the file: 416 with the file size, as RFC 9110 asks.
    return reply
      .code(416)
      .headers({ 'content-range': result.headers['Content-Range'] })
      .send(errorBody(ErrorCodes.invalidParameters, `Range ${request.headers.range} is outside the file`))
  }
  if (result.type !== 'file') throw new NotFoundError('export', exportId, `The file of export ${exportId} is missing from storage`)
  reply.code(result.statusCode).headers(result.headers)
  reply.header('content-type', file.contentType)
  reply.header('content-disposition', contentDisposition(file.fileName))
  if (file.checksum) reply.header('x-checksum-sha256', file.checksum)
  return reply.send(result.stream)
}

function sseMessage(event: MonitorEvent): SseMessage {
  switch (event.kind) {
    case 'job':
      return { event: 'job', data: event.job }
    case 'metrics':
      return { event: 'metrics', data: { jobId: event.jobId, points: event.points, emittedAt: event.emittedAt } }
    case 'log':
      return { event: 'log', data: event.log }
  }
}

/** A job's feed as Server-Sent Events: `job` (current state first), `metrics` and `log`; ends after the job ends. */
export async function streamJobEvents(request: FastifyRequest, reply: FastifyReply, feed: AsyncIterableIterator<MonitorEvent>): Promise<FastifyReply> {
  const first = await feed.next()
  const current = first.done ? undefined : first.value
  // An EventSource reconnects whenever a stream ends; 204 tells it to stop once the job is over.
  if (request.headers['last-event-id'] !== undefined && current?.kind === 'job' && endedStatuses.includes(current.job.status)) {
    await feed.return?.()
    return reply.code(204).send()
  }
  reply.hijack()
  let replayed = false
  const source: AsyncIterator<MonitorEvent> = {
    next: () => {
      if (replayed || !current) return feed.next()
      replayed = true
      return Promise.resolve({ done: false, value: current })
    },
    return: () => feed.return?.() ?? Promise.resolve({ done: true, value: undefined }),
  }
  await writeEventStream(reply.raw, source, sseMessage, { heartbeatMs: defaultHeartbeatMs })
  return reply
}
