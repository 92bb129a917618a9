// The machinery of the REST route table (./routes.ts): what an entry says
// (method, path, query schema, body, success status and message, the service
// call) and how it is served: one auth hook for every /v1 route, the query
// parsed strictly, the body read as the entry declares, the answer in the
// spec's envelope. Routes that must write the raw reply (file downloads,
// event streams) say so with `reply` instead of `handle`. Every route's
// strings (path, query, JSON body) are checked first (./input-strings.ts).
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { InvalidInputError, UnauthenticatedError } from '../errors/index.ts'
import { parseInput } from '../domain/validation.ts'
import type { Principal } from '../services/auth.ts'
import type { Services } from '../services/index.ts'
import { ok } from './envelope.ts'
import { checkRequestStrings } from './input-strings.ts'
import { readDatasetForm, type DatasetForm } from './multipart.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, set by the request guard (./rate-limits.ts) from a valid bearer token. */
    principal: Principal | null
    /** Why the guard refused the Authorization header; the /v1 routes answer it (401). */
    authFailure: UnauthenticatedError | null
  }
}

type Method = 'GET' | 'POST' | 'DELETE'

/**
 * How a route reads its body: `json` (required, Content-Type JSON), `none`
 * (none, a JSON `{}` tolerated), `multipart` (the dataset upload form, its
 * file streamed to storage). Left out, the body is not looked at (GET, DELETE).
 */
export type BodyKind = 'json' | 'none' | 'multipart'
type BodyOf<K> = K extends 'json' ? unknown : K extends 'multipart' ? DatasetForm : undefined

/** `{ jobId: string, exportId: string }` from `/jobs/:jobId/exports/:exportId`. */
export type ParamsOf<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & ParamsOf<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : Record<never, string>

/** What a route's service call gets: the caller, the path parameters, the parsed query and the body. */
export interface Call<P extends string, Q extends z.ZodType, K extends BodyKind | undefined> {
  services: Services
  principal: Principal
  params: ParamsOf<P>
  query: z.output<Q>
  body: BodyOf<K>
}

interface EntryBase<P extends string, Q extends z.ZodType, K extends BodyKind | undefined> {
  method: Method
  path: P
  /** The query string's parameters: a strict zod object (`noQuery` for none). */
  query: Q
  body?: K
  /** An expensive endpoint: its own lower rate limit (`upload`: and uploads in flight per user), see ./rate-limits.ts. */
  cost?: 'expensive' | 'upload'
}

/** A route answering in the envelope: `data` is what `handle` returns. */
export interface EnvelopeEntry<P extends string, Q extends z.ZodType, K extends BodyKind | undefined, D> extends EntryBase<P, Q, K> {
  /** Success status; default 200. */
  status?: number
  /** The spec's success message, fixed or depending on the answer (write it after `handle`, which gives `data` its type). */
  message?: string | ((data: NoInfer<D>) => string)
  handle(call: Call<P, Q, K>): Promise<D>
}

/** The escape hatch: a route that writes the reply itself (after the same auth, query and body handling). */
export interface RawEntry<P extends string, Q extends z.ZodType, K extends BodyKind | undefined> extends EntryBase<P, Q, K> {
  reply(call: Call<P, Q, K>, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>
}

/** An entry of the table, its types checked and then set aside. */
export interface Route {
  method: Method
  path: string
  cost: 'expensive' | 'upload' | undefined
  serve(services: Services, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>
}

/** The caller of a /v1 request, set by the auth hook before any handler runs. */
export function principal(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthenticatedError()
  return request.principal
}

const isJson = (request: FastifyRequest) => /^application\/([\w.+-]+\+)?json\b/i.test(request.headers['content-type'] ?? '')

/** The JSON body of a request; a clear E1108 when it is missing or not JSON. */
function jsonBody(request: FastifyRequest): unknown {
  const type = request.headers['content-type']
  if (type !== undefined && !isJson(request)) {
    throw new InvalidInputError(`Content-Type ${JSON.stringify(type)} is not accepted here; send a JSON body with Content-Type: application/json`)
  }
  if (request.body === undefined || request.body === null) {
    throw new InvalidInputError('A JSON request body is required (Content-Type: application/json)')
  }
  return request.body
}

/** Endpoints without a body accept none (a JSON `{}` is tolerated). */
function noBody(request: FastifyRequest): undefined {
  const body = request.body
  const empty = body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)
  if (!empty) throw new InvalidInputError('This endpoint takes no request body')
  return undefined
}

async function multipartBody(request: FastifyRequest, services: Services): Promise<DatasetForm> {
  if (!/^multipart\/form-data\b/i.test(request.headers['content-type'] ?? '')) {
    throw new InvalidInputError('Upload a dataset as multipart/form-data with a "file" part and the fields name, type and format')
  }
  return readDatasetForm(request.raw, services.storage, services.maxUploadBytes)
}

/** The body as the entry's kind reads it (the overload ties the kind to what comes back). */
async function readBody<K extends BodyKind | undefined>(kind: K | undefined, request: FastifyRequest, services: Services): Promise<BodyOf<K>>
async function readBody(kind: BodyKind | undefined, request: FastifyRequest, services: Services): Promise<unknown> {
  if (kind === 'json') return jsonBody(request)
  if (kind === 'none') return noBody(request)
  if (kind === 'multipart') return multipartBody(request, services)
  return undefined
}

/** One entry of the table: an envelope route (`handle`) or a raw one (`reply`). */
export function route<const P extends string, D, Q extends z.ZodType, K extends BodyKind | undefined = undefined>(
  entry: EnvelopeEntry<P, Q, K, D> | RawEntry<P, Q, K>,
): Route {
  return {
    method: entry.method,
    path: entry.path,
    cost: entry.cost,
    async serve(services, request, reply) {
      checkRequestStrings(request, entry.body === 'json' ? request.body : undefined)
      const query = parseInput(entry.query, request.query)
      const body = await readBody(entry.body, request, services)
      // A typed boundary: Fastify fills `params` from the path's own `:name` segments.
      const params = request.params as ParamsOf<P>
      const call: Call<P, Q, K> = { services, principal: principal(request), params, query, body }
      if ('reply' in entry) return entry.reply(call, request, reply)
      const data = await entry.handle(call)
      const message = typeof entry.message === 'function' ? entry.message(data) : entry.message
      return ok(reply, entry.status ?? 200, data, message)
    },
  }
}

/** Registers the table under one auth hook: every route needs a bearer token (the request guard has read it). */
export function registerRoutes(app: FastifyInstance, services: Services, routes: readonly Route[]) {
  app.register(async (v1) => {
    v1.addHook('onRequest', async (request) => {
      if (!request.principal) throw request.authFailure ?? new UnauthenticatedError()
    })
    for (const entry of routes) {
      const config: FastifyContextConfig = entry.cost ? { cost: entry.cost } : {}
      v1.route({ method: entry.method, url: entry.path, config, handler: (request, reply) => entry.serve(services, request, reply) })
    }
  })
}
