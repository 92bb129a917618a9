// Lists: the spec's `pagination` object, pages and windows. How a page is
// asked for (REST query strings, GraphQL connection arguments) is the
// transports' business; services take a typed page or window.

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

export const sortOrders = ['asc', 'desc'] as const
export type SortOrder = (typeof sortOrders)[number]

/** A page of a list as REST asks for it: 1-based `page` of `limit` items. */
export interface PageRequest {
  page: number
  limit: number
}

/** Items `offset` to `offset + limit` of a list (GraphQL connections, and REST pages through `windowOf`). */
export interface Window {
  offset: number
  limit: number
}

export function windowOf({ page, limit }: PageRequest): Window {
  return { offset: (page - 1) * limit, limit }
}

export function paginationOf(page: number, limit: number, total: number): Pagination {
  const totalPages = Math.ceil(total / limit)
  return { page, limit, total, totalPages, hasNext: page < totalPages, hasPrev: page > 1 }
}

/** One window of a list with the number of items over all windows. */
export interface Page<T> {
  items: T[]
  total: number
}
