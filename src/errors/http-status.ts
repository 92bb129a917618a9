// The one mapping from domain errors to HTTP statuses (README's error table),
// for the REST envelope, GraphQL's HTTP answers and the log's split between
// a caller's mistake and a failure of the service.
import { DomainError, ErrorCodes, PayloadTooLargeError, type ErrorCode } from './index.ts'

/** The code of an unexpected error (details only in the service log). */
export const internalErrorCode = 'E1000'

const statusByCode: Record<ErrorCode, number> = {
  [ErrorCodes.unauthenticated]: 401,
  [ErrorCodes.jobNotFound]: 404,
  [ErrorCodes.datasetNotFound]: 404,
  [ErrorCodes.insufficientResources]: 503,
  [ErrorCodes.trainingFailed]: 500,
  [ErrorCodes.exportFailed]: 500,
  [ErrorCodes.tuningFailed]: 500,
  [ErrorCodes.forbidden]: 403,
  [ErrorCodes.invalidParameters]: 400,
  [ErrorCodes.notFound]: 404,
  [ErrorCodes.conflict]: 409,
  [ErrorCodes.rateLimited]: 429,
}

/** Codes of a caller's mistake (bad input, not found, forbidden, conflict): the 4xx ones. */
export const clientErrorCodes: ReadonlySet<ErrorCode> = new Set(Object.values(ErrorCodes).filter((code) => statusByCode[code] < 500))

/** The HTTP status a domain error answers with: its code's, or 413 for a body or upload over the size limit. */
export function httpStatusOf(error: DomainError): number {
  if (error instanceof PayloadTooLargeError) return 413
  return statusByCode[error.code]
}

/** A caller's mistake: worth a debug line, not an error in the service log. */
export function isClientError(error: unknown): boolean {
  return error instanceof DomainError && clientErrorCodes.has(error.code)
}
