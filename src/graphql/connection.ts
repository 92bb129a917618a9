// Offset connections with `totalCount` over a service's `find(filter, window)`,
// the one way every list field pages (jobs, datasets, templates, tunings).
import { resolveOffsetConnection } from '@pothos/plugin-relay'
import type { Page, Window } from '../domain/pagination.ts'

/** The connection for `first`/`after`/`last`/`before`, with the total over all pages. */
export async function offsetConnection<T>(args: PothosSchemaTypes.DefaultConnectionArguments, find: (window: Window) => Promise<Page<T>>) {
  let totalCount = 0
  const connection = await resolveOffsetConnection({ args }, async (window) => {
    const page = await find(window)
    totalCount = page.total
    return page.items
  })
  return { ...connection, totalCount }
}

/** A list's filter arguments as the service's filter: GraphQL's explicit nulls become absent fields. */
export function filterOf<T extends object>(args: T): { [K in keyof T]?: NonNullable<T[K]> } {
  const filter: { [K in keyof T]?: NonNullable<T[K]> } = {}
  for (const key of Object.keys(args) as (keyof T)[]) {
    const value = args[key]
    if (value !== null && value !== undefined) filter[key] = value
  }
  return filter
}
