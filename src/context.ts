// One context for every transport: HTTP (Yoga), GraphQL multipart uploads
// and graphql-ws. Authentication happens here, once per request or socket.
import { GraphQLError } from 'graphql'
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

/** The principal of a resolver's context; the transports never run a resolver without one. */
export function viewer(context: GraphQLContext): Principal {
  if (!context.principal) throw new UnauthenticatedError()
  return context.principal
}
