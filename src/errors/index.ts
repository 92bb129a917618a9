// Domain errors and the contract's error codes. Services throw these; the
// GraphQL layer puts `code` in `extensions.code`, the REST layer in the
// envelope. HTTP statuses are no part of them: ./http-status.ts maps errors
// to statuses for both transports.

export const ErrorCodes = {
  unauthenticated: 'E1100',
  jobNotFound: 'E1101',
  datasetNotFound: 'E1102',
  insufficientResources: 'E1103',
  trainingFailed: 'E1104',
  exportFailed: 'E1105',
  tuningFailed: 'E1106',
  forbidden: 'E1107',
  invalidParameters: 'E1108',
  notFound: 'E1109',
  conflict: 'E1110',
  /** Too many requests from one token or client address (HTTP 429 with Retry-After). */
  rateLimited: 'E1111',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** One problem with one input field, as listed in an error's `details`. */
export interface FieldProblem {
  /** Dotted path of the offending field, e.g. `hyperparameters.batchSize`. */
  field: string
  message: string
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'Missing or invalid bearer token: send "Authorization: Bearer <token>"') {
    super(ErrorCodes.unauthenticated, message)
  }
}

export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.forbidden, message)
  }
}

export class InvalidInputError extends DomainError {
  constructor(message: string, details?: FieldProblem[]) {
    super(ErrorCodes.invalidParameters, message, details)
  }

  /** One error naming every offending field. */
  static fromProblems(problems: FieldProblem[]): InvalidInputError {
    const fields = [...new Set(problems.map((p) => p.field))]
    const summary = problems.length === 1 ? `${problems[0].field}: ${problems[0].message}` : `${problems.length} invalid fields: ${fields.join(', ')}`
    return new InvalidInputError(`Invalid parameters (${summary})`, problems)
  }
}

/** A request body or upload over the configured size limit (code E1108; HTTP answers it with 413). */
export class PayloadTooLargeError extends InvalidInputError {}

export type ResourceKind = 'job' | 'dataset' | 'template' | 'tuning' | 'export' | 'checkpoint' | 'user' | 'token' | 'route'

const notFoundCodes: Partial<Record<ResourceKind, ErrorCode>> = {
  job: ErrorCodes.jobNotFound,
  dataset: ErrorCodes.datasetNotFound,
}

export class NotFoundError extends DomainError {
  constructor(
    readonly kind: ResourceKind,
    id: string,
    message = `${kind[0].toUpperCase()}${kind.slice(1)} ${JSON.stringify(id)} not found`,
  ) {
    super(notFoundCodes[kind] ?? ErrorCodes.notFound, message)
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.conflict, message)
  }
}

export class CapacityError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.insufficientResources, message)
  }
}

/** A rate or concurrency limit was hit; `retryAfterSeconds` goes out as the Retry-After header. */
export class RateLimitedError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(ErrorCodes.rateLimited, message)
  }
}

export class TrainingFailedError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.trainingFailed, message)
  }
}
