// One context for every transport: HTTP (Yoga), GraphQL multipart uploads
// and graphql-ws. Authentication happens here, once per request or socket.
// The one request that needs no token is an operation that only introspects
// the schema: GraphiQL loads the schema before its user has pasted a token.
import { getOperationAST, GraphQLError, Kind, parse } from 'graphql'
import type { Principal } from './services/auth.ts'
import type { Services } from './services/index.ts'
import { DomainError, UnauthenticatedError } from './errors/index.ts'
import { httpStatusOf } from './errors/http-status.ts'

export interface GraphQLContext {
  principal: Principal | null
  services: Services
}

/** Authenticates an Authorization header value for GraphQL: a 401 GraphQL error when it fails. */
export async function authenticateForGraphql(services: Services, authorization: string | null | undefined): Promise<Principal> {
  try {
    return await services.auth.authenticate(authorization)
  } catch (error) {
    if (error instanceof DomainError) {
      const status = httpStatusOf(error)
      const headers: Record<string, string> = status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}
      throw new GraphQLError(error.message, { extensions: { code: error.code, http: { status, headers } } })
    }
    throw error
  }
}

const introspectionFields = new Set(['__schema', '__type', '__typename'])

/** True for a document whose operation selects nothing but introspection fields (it has already passed the limits and validation). */
function isIntrospectionOnly(query: unknown, operationName: unknown): boolean {
  if (typeof query !== 'string') return false
  try {
    const operation = getOperationAST(parse(query, { noLocation: true }), typeof operationName === 'string' ? operationName : undefined)
    return (
      operation?.operation === 'query' &&
      operation.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && introspectionFields.has(selection.name.value))
    )
  } catch {
    return false
  }
}

/** The principal of an HTTP request: its bearer token, or none for an introspection-only request without an Authorization header. */
export async function principalForRequest(
  services: Services,
  authorization: string | null | undefined,
  params: { query?: unknown; operationName?: unknown } | undefined,
): Promise<Principal | null> {
  if (!authorization && isIntrospectionOnly(params?.query, params?.operationName)) return null
  return authenticateForGraphql(services, authorization)
}

/**
 * The Authorization value of a graphql-ws `connection_init` payload: `authorization` in any letter case (GraphiQL sends
 * its Headers pane as the payload, so `Authorization`), or the same inside a `headers` object.
 */
export function authorizationFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const find = (object: unknown): string | undefined => {
    if (typeof object !== 'object' || object === null) return undefined
    const entry = Object.entries(object).find(([key, value]) => key.toLowerCase() === 'authorization' && typeof value === 'string')
    return entry?.[1] as string | undefined
  }
  return find(params) ?? find(params?.headers)
}

/** The principal of a resolver's context; the transports never run a resolver without one. */
export function viewer(context: GraphQLContext): Principal {
  if (!context.principal) throw new UnauthenticatedError()
  return context.principal
}
