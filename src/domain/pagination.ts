import { z } from 'zod'

/** The spec's `pagination` object. */
export interface Pagination {
  page: number
  limit: number
  total: number
  totalPages: number
  hasNext: boolean
  hasPrev: boolean
}

export const maxPageSize = 100

/** `page`, `limit` and `sortOrder` as they arrive in a query string. */
export const pageQuery = {
  page: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000').default(1),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(maxPageSize, `must be at most ${maxPageSize}`).default(20),
  sortOrder: z.enum(['asc', 'desc'], 'must be asc or desc').default('desc'),
}

export function paginationOf(page: number, limit: number, total: number): Pagination {
  const totalPages = Math.ceil(total / limit)
  return { page, limit, total, totalPages, hasNext: page < totalPages, hasPrev: page > 1 }
}

export interface Page<T> {
  items: T[]
  total: number
}
