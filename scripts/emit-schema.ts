// Writes the SDL of the code-first schema to schema/schema.graphql (checked in).
import { writeFileSync } from 'node:fs'
import { printSdl } from '../src/graphql/index.ts'

writeFileSync('schema/schema.graphql', printSdl())
console.log('wrote schema/schema.graphql')
