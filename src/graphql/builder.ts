// The Pothos schema builder and its plugins. Types live in one module per
// domain; this file holds no types of its own beyond the scalars.
import SchemaBuilder from '@pothos/core'
import RelayPlugin from '@pothos/plugin-relay'
import ScopeAuthPlugin from '@pothos/plugin-scope-auth'
import { DateTimeISOResolver, JSONObjectResolver, JSONResolver } from 'graphql-scalars'
import { GraphQLUpload, type FileUpload } from 'graphql-upload-minimal'
import { ForbiddenError } from '../errors/index.ts'
import type { GraphQLContext } from '../context.ts'

export const builder = new SchemaBuilder<{
  Context: GraphQLContext
  AuthScopes: { read: boolean; write: boolean; admin: boolean }
  Scalars: {
    DateTime: { Input: Date; Output: string | Date }
    JSON: { Input: unknown; Output: unknown }
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> }
    Upload: { Input: Promise<FileUpload>; Output: never }
  }
  Connection: { totalCount: number }
  DefaultFieldNullability: false
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, RelayPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      read: context.principal?.scopes.has('read') ?? false,
      write: context.principal?.scopes.has('write') ?? false,
      admin: context.principal?.scopes.has('admin') ?? false,
    }),
    unauthorizedError: (_parent, context, info) => {
      const held = context.principal ? [...context.principal.scopes].join('+') || 'none' : 'none'
      const needed = info.parentType.name === 'Mutation' ? 'write' : 'read'
      return new ForbiddenError(`This token has scopes ${held}; ${info.parentType.name}.${info.fieldName} needs the ${needed} scope`)
    },
  },
  relay: {
    cursorType: 'String',
    clientMutationId: 'omit',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    // Descriptions of what the relay plugin generates for every connection.
    pageInfoTypeOptions: { description: 'Where a page of a connection stands in the whole list.' },
    hasNextPageFieldOptions: { description: 'More items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'Items come before this page.' },
    startCursorFieldOptions: { description: 'Cursor of the first item of the page.' },
    endCursorFieldOptions: { description: 'Cursor of the last item of the page: pass it as `after` for the next page.' },
    pageInfoFieldOptions: { description: 'Where this page stands.' },
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.' },
    nodeFieldOptions: { description: 'The item.' },
    cursorFieldOptions: { description: 'Opaque position of the item: pass it as `after` or `before`.' },
    firstArgOptions: { description: 'At most this many items from the start (or after `after`).' },
    lastArgOptions: { description: 'At most this many items from the end (or before `before`).' },
    afterArgOptions: { description: 'Items after this cursor.' },
    beforeArgOptions: { description: 'Items before this cursor.' },
    defaultConnectionTypeOptions: { description: 'A page of a list, with its total count.' },
    defaultEdgeTypeOptions: { description: 'One item of a page and its cursor.' },
  },
})

/** The builder's schema types, for helpers that build fields outside a type definition. */
export type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never

builder.addScalarType('DateTime', DateTimeISOResolver, { description: 'ISO 8601 date-time in UTC with milliseconds, e.g. 2026-02-03T12:00:00.000Z' })
builder.addScalarType('JSON', JSONResolver, {})
builder.addScalarType('JSONObject', JSONObjectResolver, {})
builder.addScalarType('Upload', GraphQLUpload, {
  description: 'A file sent as a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec)',
})

builder.queryType({ description: 'Reads. Every field needs a token with the read scope.', authScopes: { read: true } })
builder.mutationType({ description: 'Changes. Every field needs a token with the write scope.', authScopes: { write: true } })
builder.subscriptionType({
  description: 'Live updates over graphql-ws (ws://host/graphql) or Server-Sent Events (POST /graphql with Accept: text/event-stream).',
  authScopes: { read: true },
})

builder.globalConnectionField('totalCount', (t) =>
  t.int({ description: 'Items matching the filters, over all pages.', resolve: (parent) => parent.totalCount }),
)

export const SortOrder = builder.enumType('SortOrder', {
  description: 'Sort direction.',
  values: { asc: { description: 'Ascending' }, desc: { description: 'Descending' } } as const,
})

/** GraphQL passes explicit nulls; the services treat an absent field and a null one alike. */
export function withoutNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutNulls) as T
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, withoutNulls(v)]),
    ) as T
  }
  return value
}
