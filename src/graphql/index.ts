// The GraphQL schema: one module per domain adds its types and fields.
import { lexicographicSortSchema, printSchema } from 'graphql'
import { builder } from './builder.ts'
import './job-config.ts'
import './jobs.ts'
import './monitoring.ts'
import './datasets.ts'
import './templates.ts'
import './tunings.ts'
import './exports.ts'
import './resources.ts'

export const schema = builder.toSchema()

/** The SDL checked in at schema/schema.graphql. */
export function printSdl(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`
}
