// Writes the PostgreSQL variant of the data model from prisma/schema.prisma,
// the one file we edit: only the provider and the client's output folder
// differ. Usage: tsx scripts/sync-schemas.ts [source] [target]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'

const [source = 'prisma/schema.prisma', target = 'prisma/postgres/schema.prisma'] = process.argv.slice(2)
const sqlite = readFileSync(source, 'utf8')
const postgres = sqlite
  .replace(
    '// Source of truth for the data model.',
    '// GENERATED from prisma/schema.prisma by `npm run db:sync-schemas`: do not edit.\n// Source of truth for the data model.',
  )
  .replace('output                 = "./generated/sqlite"', 'output                 = "../generated/postgres"')
  .replace('provider = "sqlite"', 'provider = "postgresql"')
  .replace('url      = "file:unused.db"', 'url      = "postgresql://unused"')
if (!postgres.includes('provider = "postgresql"') || !postgres.includes('../generated/postgres') || !postgres.includes('postgresql://unused')) {
  throw new Error(`${source} no longer has the lines this script rewrites`)
}
mkdirSync(path.dirname(target), { recursive: true })
writeFileSync(target, postgres)
console.log(`wrote ${target}`)
