// How errors look in GraphQL: domain errors carry the contract's code in
// `extensions.code` (and `details` for E1108); GraphQL's own validation and
// coercion errors become E1108; anything unexpected stays masked.
import { GraphQLError } from 'graphql'
import { createGraphQLError, maskError as yogaMaskError, type Plugin } from 'graphql-yoga'
import { DomainError, ErrorCodes } from '../errors/index.ts'

const invalidInputCodes = new Set(['GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'GRAPHQL_PARSE_FAILED'])

export function originalOf(error: unknown): unknown {
  let current = error
  while (current instanceof GraphQLError && current.originalError && current.originalError !== current) current = current.originalError
  return current
}

export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const original = originalOf(error)
  const located = error instanceof GraphQLError ? error : undefined
  if (original instanceof DomainError) {
    return createGraphQLError(original.message, {
      nodes: located?.nodes,
      source: located?.source,
      positions: located?.positions,
      path: located?.path,
      extensions: { code: original.code, ...(original.details ? { details: original.details } : {}) },
    })
  }
  if (original instanceof Error && original.name === 'PothosValidationError') {
    return createGraphQLError(original.message, { nodes: located?.nodes, path: located?.path, extensions: { code: ErrorCodes.invalidParameters } })
  }
  if (error instanceof GraphQLError && !error.originalError) return error
  return yogaMaskError(error, message, isDev)
}

/** Gives GraphQL's own request errors (syntax, validation, variable coercion) the contract's E1108. */
export function toInvalidInputCode(error: GraphQLError): GraphQLError {
  const code = error.extensions?.code
  if (typeof code === 'string' && !invalidInputCodes.has(code)) return error
  if (code === undefined && error.path) return error
  return createGraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError ?? undefined,
    extensions: { ...error.extensions, code: ErrorCodes.invalidParameters, ...(typeof code === 'string' ? { reason: code } : {}) },
  })
}

/** GraphQL's request errors: a code of its own, or none and no path (variable coercion). */
function needsInvalidInputCode(error: GraphQLError): boolean {
  const code = error.extensions?.code
  return typeof code === 'string' ? invalidInputCodes.has(code) : !error.path
}

export function useInvalidInputCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result) || !result.errors) return
      const errors = result.errors as GraphQLError[]
      if (!errors.some((e) => e instanceof GraphQLError && needsInvalidInputCode(e))) return
      setResult({ ...result, errors: errors.map((e) => (e instanceof GraphQLError ? toInvalidInputCode(e) : e)) })
    },
  }
}
