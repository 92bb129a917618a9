// Writes a new migration for both providers from the change in
// prisma/schema.prisma since the last migration:
//   npm run db:migration -- <name>
// Each migration folder keeps a snapshot of the data model it produced, so the
// diff runs offline (`prisma migrate diff` between two schema files) without a
// shadow database.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const name = process.argv[2]
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: npm run db:migration -- <name in snake_case>')
  process.exit(2)
}

execFileSync('npx', ['tsx', 'scripts/sync-schemas.ts'], { stdio: 'inherit' })
const last = readdirSync('prisma/migrations')
  .filter((entry) => /^\d{14}_/.test(entry))
  .sort()
  .at(-1)
const previous = last ? path.join('prisma/migrations', last, 'schema.snapshot.prisma') : undefined
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14)
const folder = `${stamp}_${name}`
const scratch = mkdtempSync(path.join(os.tmpdir(), 'migration-'))

function diff(provider: 'sqlite' | 'postgresql', schemaFile: string, databaseUrl: string): string {
  const from = previous ? ['--from-schema-datamodel', provider === 'sqlite' ? previous : toPostgres(previous)] : ['--from-empty']
  const sql = execFileSync('npx', ['prisma', 'migrate', 'diff', ...from, '--to-schema-datamodel', schemaFile, '--script'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  })
  // Tables go to the schema of the connection (search_path), never a fixed one.
  return sql.replace(/-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "[^"]*";\n\n/g, '')
}

function toPostgres(snapshot: string): string {
  const out = path.join(scratch, 'previous-postgres.prisma')
  execFileSync('npx', ['tsx', 'scripts/sync-schemas.ts', snapshot, out], { stdio: 'inherit' })
  return out
}

const sqliteSql = diff('sqlite', 'prisma/schema.prisma', `file:${path.join(scratch, 'diff.db')}`)
if (!sqliteSql.includes('CREATE') && !sqliteSql.includes('ALTER') && !sqliteSql.includes('DROP')) {
  console.log('No change in prisma/schema.prisma since the last migration.')
  process.exit(0)
}
const postgresUrl = process.env.POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const postgresSql = diff('postgresql', 'prisma/postgres/schema.prisma', postgresUrl)

for (const [dir, sql] of [
  ['prisma/migrations', sqliteSql],
  ['prisma/postgres/migrations', postgresSql],
] as const) {
  mkdirSync(path.join(dir, folder), { recursive: true })
  writeFileSync(path.join(dir, folder, 'migration.sql'), sql)
}
copyFileSync('prisma/schema.prisma', path.join('prisma/migrations', folder, 'schema.snapshot.prisma'))
console.log(`wrote ${folder} for SQLite and PostgreSQL${existsSync(previous ?? '') ? ` (diff from ${last})` : ''}`)
