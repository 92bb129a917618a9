// The answers that come before any route runs, in the envelope like every
// other: a path Fastify's router cannot decode (bad percent-encoding) or
// whose parameter is too long (Fastify's `frameworkErrors` option), and
// requests Node's HTTP parser refuses before Fastify sees them (oversized
// headers, malformed requests, timeouts: the server's 'clientError', Fastify's
// `clientErrorHandler` option), written on the raw socket.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, InvalidInputError } from '../errors/index.ts'
import { errorBody, fail } from './envelope.ts'

/** Fastify's default `maxParamLength`: the longest path parameter (an id) the router takes. */
export const maxParamLength = 100

/** Fastify's `frameworkErrors`: router errors as 400 E1108 (414 for an over-long parameter). */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.raw.url?.split('?')[0] ?? ''
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const message = `A path parameter of ${path.slice(0, 80)}… is longer than ${maxParamLength} characters, the longest an id may be`
    void reply.code(414).send(errorBody(ErrorCodes.invalidParameters, message, [{ field: 'path', message: `longer than ${maxParamLength} characters` }]))
    return
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    const message = `The path ${JSON.stringify(path.slice(0, 200))} is not valid: a percent-encoded part does not decode to UTF-8 text`
    void fail(reply, new InvalidInputError(message, [{ field: 'path', message: 'malformed percent-encoding' }]))
    return
  }
  void fail(reply, new InvalidInputError(`Bad request: ${error.message}`))
}

/** What Node's parser refused, as status and message. */
function clientErrorAnswer(error: NodeJS.ErrnoException): { status: number; message: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `Request headers are larger than ${http.maxHeaderSize} bytes, the most this server reads` }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { status: 408, message: 'The request did not arrive in time' }
    default:
      return { status: 400, message: `Malformed HTTP request (${error.code ?? 'parse error'})` }
  }
}

/** Fastify's `clientErrorHandler`: an HTTP answer with the envelope, then the socket is closed. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection is gone: there is nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const { status, message } = clientErrorAnswer(error)
  const body = JSON.stringify(errorBody(ErrorCodes.invalidParameters, message))
  // As Node does: no answer when one is already on its way on this socket (that would corrupt it), or when the
  // data came after a request that closed the connection (HPE_CLOSED_CONNECTION: that request has its answer).
  const inFlight = (socket as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage
  if (!socket.writable || inFlight?.headersSent || error.code === 'HPE_CLOSED_CONNECTION') {
    socket.destroy()
    return
  }
  const head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close`
  // end(), not destroy(): a reset with the rest of the request unread could lose the answer on its way. What still comes is read and dropped.
  socket.end(`${head}\r\n\r\n${body}`)
  socket.resume()
  setTimeout(() => socket.destroy(), 2000).unref()
}
