// REST for model export (spec §5) and prediction: queue an export, read and
// list them, download the file (byte ranges, a sensible file name), and
// predict from a job's best checkpoint.
import send from '@fastify/send'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Principal } from '../services/auth.ts'
import type { Services } from '../services/index.ts'
import { parseInput } from '../domain/validation.ts'
import { NotFoundError } from '../errors/index.ts'
import { errorBody, ok } from './envelope.ts'

type Params = { jobId: string; exportId: string }
type Request = FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>

const noQuery = z.strictObject({})

/** `attachment` with an ASCII fallback name and the exact name in RFC 5987 form. */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_')
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`
}

export function registerExportRoutes(v1: FastifyInstance, services: Services, helpers: { jsonBody(request: FastifyRequest): unknown }) {
  const { exports } = services
  const route = (method: 'GET' | 'POST', url: string, handler: (request: Request, reply: FastifyReply, principal: Principal) => Promise<unknown>) =>
    v1.route<{ Params: Params; Querystring: Record<string, unknown> }>({
      method,
      url,
      handler: (request, reply) => handler(request, reply, request.principal as Principal),
    })

  route('POST', '/v1/training/jobs/:jobId/export', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    const view = await exports.create(principal, request.params.jobId, helpers.jsonBody(request))
    return ok(reply, 200, { export: view }, '模型导出任务创建成功')
  })
  route('GET', '/v1/training/jobs/:jobId/exports', async (request, reply, principal) => {
    const page = await exports.list(principal, request.params.jobId, request.query)
    return ok(reply, 200, { exports: page.items, pagination: page.pagination })
  })
  route('GET', '/v1/training/jobs/:jobId/exports/:exportId', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    return ok(reply, 200, { export: await exports.get(principal, request.params.jobId, request.params.exportId) })
  })
  route('GET', '/v1/training/jobs/:jobId/exports/:exportId/download', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    const file = await exports.file(principal, request.params.jobId, request.params.exportId)
    const result = await send(request.raw, `/${file.relativePath}`, { root: file.root, contentType: false, cacheControl: false, dotfiles: 'deny' })
    if (result.type === 'error' && result.statusCode === 416) {
      // A range outside the file: 416 with the file size, as RFC 9110 asks.
      return reply
        .code(416)
        .headers({ 'content-range': result.headers['Content-Range'] })
        .send(errorBody('E1108', `Range ${request.headers.range} is outside the file`))
    }
    if (result.type !== 'file')
      throw new NotFoundError('export', request.params.exportId, `The file of export ${request.params.exportId} is missing from storage`)
    reply.code(result.statusCode).headers(result.headers)
    reply.header('content-type', file.contentType)
    reply.header('content-disposition', contentDisposition(file.fileName))
    if (file.checksum) reply.header('x-checksum-sha256', file.checksum)
    return reply.send(result.stream)
  })
  route('POST', '/v1/training/jobs/:jobId/predict', async (request, reply, principal) => {
    parseInput(noQuery, request.query)
    return ok(reply, 200, await exports.predict(principal, request.params.jobId, helpers.jsonBody(request)))
  })
}
