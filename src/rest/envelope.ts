// The spec's response envelope, for success and failure alike.
import type { FastifyReply } from 'fastify'
import { RateLimitedError, type DomainError, type FieldProblem } from '../errors/index.ts'
import { httpStatusOf } from '../errors/http-status.ts'

export { internalErrorCode } from '../errors/http-status.ts'

export interface ErrorBody {
  success: false
  error: { code: string; message: string; details?: FieldProblem[] }
  timestamp: string
}

export function ok(reply: FastifyReply, status: number, data: unknown, message?: string) {
  return reply.code(status).send({ success: true, data, ...(message ? { message } : {}), timestamp: new Date().toISOString() })
}

export function errorBody(code: string, message: string, details?: FieldProblem[]): ErrorBody {
  return { success: false, error: { code, message, ...(details && details.length > 0 ? { details } : {}) }, timestamp: new Date().toISOString() }
}

export function fail(reply: FastifyReply, error: DomainError) {
  const status = httpStatusOf(error)
  if (status === 401) reply.header('WWW-Authenticate', 'Bearer')
  if (error instanceof RateLimitedError) reply.header('Retry-After', String(error.retryAfterSeconds))
  // The rest of an oversized body is not read: the connection cannot carry another request.
  if (status === 413) reply.header('Connection', 'close')
  return reply.code(status).send(errorBody(error.code, error.message, error.details))
}
