// GraphQL's transports on the Fastify server: Yoga for GET/POST (and SSE
// subscriptions), GraphQL multipart requests for uploads (files stream to
// the resolvers), and graphql-ws on the same path. All three build their
// context the same way, run under the same limits (limits.ts,
// subscription-limits.ts) and answer failures with the contract's codes.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { getOperationAST, type DocumentNode, type ExecutionArgs, type GraphQLError } from 'graphql'
import { createYoga } from 'graphql-yoga'
import { processRequest } from 'graphql-upload-minimal'
import { useServer } from 'graphql-ws/use/ws'
import { WebSocketServer } from 'ws'
import type { Logger } from 'pino'
import type { GraphqlLimits } from '../config.ts'
import { authorizationFromConnectionParams, principalForRequest, type GraphQLContext } from '../context.ts'
import { DomainError, InvalidInputError } from '../errors/index.ts'
import { httpStatusOf, isClientError } from '../errors/http-status.ts'
import type { Principal } from '../services/auth.ts'
import type { Services } from '../services/index.ts'
import { maskError, originalOf, toInvalidInputCode, useInvalidInputCodes } from './errors.ts'
import { graphiqlOptions, renderTrainingGraphiQL } from './graphiql.ts'
import { schema } from './index.ts'
import { useGraphqlLimits } from './limits.ts'
import { createSubscriptionLimits, type SubscriptionLimits } from './subscription-limits.ts'

/** What a transport hands Yoga besides the request: the graphql-ws socket's principal and the socket itself. */
interface TransportContext {
  principal?: Principal
  wsConnection?: object
}

/** A GraphQL endpoint answers failures in GraphQL's shape, with the contract's code. */
export function failGraphql(reply: FastifyReply, error: DomainError) {
  const status = httpStatusOf(error)
  if (status === 401) reply.header('WWW-Authenticate', 'Bearer')
  return reply
    .code(status)
    .send({ errors: [{ message: error.message, extensions: { code: error.code, ...(error.details ? { details: error.details } : {}) } }] })
}

/** Yoga over the schema: limits, masked errors with the contract's codes, GraphiQL, one context for HTTP and WebSocket. */
function createGraphqlYoga(services: Services, logger: Logger, limits: GraphqlLimits, subscriptionLimits: SubscriptionLimits) {
  return createYoga<TransportContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maskedErrors: { maskError },
    plugins: [...useGraphqlLimits(limits), subscriptionLimits.plugin(), useInvalidInputCodes()],
    logging: {
      debug: (...args: unknown[]) => logger.debug({ args }, 'graphql'),
      info: (...args: unknown[]) => logger.info({ args }, 'graphql'),
      warn: (...args: unknown[]) => logger.warn({ args }, 'graphql'),
      error: (...args: unknown[]) => {
        const err = args.find((arg) => arg instanceof Error)
        if (isClientError(originalOf(err))) logger.debug({ err }, 'graphql request refused')
        else logger.error({ err, args }, 'graphql')
      },
    },
    graphiql: graphiqlOptions,
    renderGraphiQL: renderTrainingGraphiQL,
    context: async (initial) => ({
      services,
      principal: initial.principal ?? (await principalForRequest(services, initial.request.headers.get('authorization'), initial.params)),
    }),
  })
}

type Yoga = ReturnType<typeof createGraphqlYoga>

/** Parses and validates a document for an already-authenticated principal (of a socket, if any), as Yoga would. */
function prepare(
  yoga: Yoga,
  transport: TransportContext,
  query: string,
): { enveloped: ReturnType<Yoga['getEnveloped']>; document: DocumentNode } | { errors: GraphQLError[] } {
  const enveloped = yoga.getEnveloped(transport as never)
  let document: DocumentNode
  try {
    document = enveloped.parse(query)
  } catch (error) {
    return { errors: [toInvalidInputCode(error as GraphQLError)] }
  }
  const errors = enveloped.validate(enveloped.schema, document)
  return errors.length > 0 ? { errors: errors.map(toInvalidInputCode) } : { enveloped, document }
}

/** A GraphQL multipart request (file uploads). */
async function executeMultipart(yoga: Yoga, services: Services, req: IncomingMessage, res: ServerResponse, authorization: string | undefined) {
  const principal = await services.auth.authenticate(authorization)
  let body: { query?: unknown; variables?: Record<string, unknown>; operationName?: string }
  try {
    body = (await processRequest(req, res, { maxFiles: 1, maxFileSize: services.maxUploadBytes + 1 })) as typeof body
  } catch (error) {
    throw new InvalidInputError(`Malformed GraphQL multipart request: ${(error as Error).message}`)
  }
  if (Array.isArray(body) || typeof body?.query !== 'string')
    throw new InvalidInputError('A GraphQL multipart request needs an "operations" field with one query')
  const prepared = prepare(yoga, { principal }, body.query)
  if ('errors' in prepared) return prepared
  const { enveloped, document } = prepared
  const result = (await enveloped.execute({
    schema: enveloped.schema,
    document,
    variableValues: body.variables,
    operationName: body.operationName,
    contextValue: await enveloped.contextFactory(),
  } as ExecutionArgs)) as { errors?: readonly GraphQLError[] }
  return result.errors ? { ...result, errors: result.errors.map((e) => toInvalidInputCode(maskError(e, 'Unexpected error.') as GraphQLError)) } : result
}

/** graphql-ws on the server's /graphql path, authenticated once per socket; returns its disposer. */
function registerWebSocket(fastify: FastifyInstance, yoga: Yoga, services: Services, subscriptionLimits: SubscriptionLimits) {
  const wsServer = new WebSocketServer({ noServer: true })
  const wsHandle = useServer<Record<string, unknown>, { principal?: Principal }>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => never }).subscribe(args),
      // Authenticated once per socket: connectionParams' Authorization (GraphiQL sends its Headers pane there), else the
      // upgrade's header. Failure closes it (4403).
      onConnect: async (ctx) => {
        const header = authorizationFromConnectionParams(ctx.connectionParams) ?? ctx.extra.request.headers.authorization
        try {
          ctx.extra.principal = await services.auth.authenticate(header)
          return true
        } catch {
          return false
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const prepared = prepare(yoga, { principal: ctx.extra.principal, wsConnection: ctx }, payload.query)
        if ('errors' in prepared) return prepared.errors
        const { enveloped, document } = prepared
        // Over a subscription limit: an error for this subscribe only (the plugin holds the slots; this answers early).
        if (getOperationAST(document, payload.operationName)?.operation === 'subscription') {
          const refused = subscriptionLimits.refusal(ctx.extra.principal?.userId, ctx)
          if (refused) return [refused]
        }
        return {
          schema: enveloped.schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        }
      },
      onClose: (ctx) => subscriptionLimits.releaseConnection(ctx),
    },
    wsServer,
  )
  fastify.server.on('upgrade', (request, socket, head) => {
    if ((request.url ?? '').split('?')[0] !== '/graphql') {
      socket.destroy()
      return
    }
    wsServer.handleUpgrade(request, socket, head, (client) => wsServer.emit('connection', client, request))
  })

  return async () => {
    await wsHandle.dispose()
    for (const client of wsServer.clients) client.terminate()
    wsServer.close()
  }
}

export function registerGraphql(fastify: FastifyInstance, services: Services, logger: Logger, limits: GraphqlLimits) {
  const subscriptionLimits = createSubscriptionLimits(limits)
  const yoga = createGraphqlYoga(services, logger, limits, subscriptionLimits)
  fastify.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: async (request, reply) => {
      if (request.method === 'POST' && /^multipart\/form-data\b/i.test(request.headers['content-type'] ?? '')) {
        try {
          return reply.send(await executeMultipart(yoga, services, request.raw, reply.raw, request.headers.authorization))
        } catch (error) {
          if (!(error instanceof DomainError)) throw error
          return failGraphql(reply, error)
        }
      }
      const response = await yoga.handleNodeRequestAndResponse(request, reply)
      response.headers.forEach((value, key) => void reply.header(key, value))
      reply.status(response.status)
      reply.send(response.body)
      return reply
    },
  })

  const disposeWebSocket = registerWebSocket(fastify, yoga, services, subscriptionLimits)
  return {
    /** Closes every graphql-ws socket (subscriptions end first when the event bus closes). */
    dispose: disposeWebSocket,
  }
}
