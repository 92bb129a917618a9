import path from 'node:path'
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'

/** Where the data lives, as read from DATABASE_URL. */
export type DatabaseTarget =
  | { provider: 'sqlite'; url: string; filePath: string }
  | { provider: 'postgres'; connectionString: string; schema: string | undefined }

/**
 * Reads a DATABASE_URL: `file:<path>` selects the embedded SQLite database,
 * `postgresql://...` (or `postgres://`) selects PostgreSQL. A `schema` query
 * parameter on a PostgreSQL URL selects the schema, as Prisma's URLs do.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('file:')) {
    const filePath = path.resolve(url.slice('file:'.length).replace(/\?.*$/, ''))
    return { provider: 'sqlite', url: `file:${filePath}`, filePath }
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const parsed = new URL(url)
    const schema = parsed.searchParams.get('schema') ?? undefined
    parsed.searchParams.delete('schema')
    return { provider: 'postgres', connectionString: parsed.toString(), schema }
  }
  throw new Error(`DATABASE_URL must start with file: or postgresql:// (got ${JSON.stringify(url.slice(0, 24))})`)
}

/** The Prisma driver adapter factory for a target (used by the client and by migrations). */
export function createAdapterFactory(target: DatabaseTarget) {
  if (target.provider === 'sqlite') {
    return new PrismaBetterSQLite3({ url: target.url, timeout: 10_000 })
  }
  return new PrismaPg({ connectionString: target.connectionString, max: 10 }, target.schema ? { schema: target.schema } : undefined)
}

/** Schema file and migrations folder of each provider, relative to the project root. */
export const prismaLayout = {
  sqlite: { schema: 'prisma/schema.prisma', migrations: 'prisma/migrations' },
  postgres: { schema: 'prisma/postgres/schema.prisma', migrations: 'prisma/postgres/migrations' },
} as const

/** DATABASE_URL with its documented default: a SQLite file in DATA_DIR. */
export function resolveDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const dataDir = env.DATA_DIR && env.DATA_DIR.trim() !== '' ? env.DATA_DIR : './data'
  return env.DATABASE_URL && env.DATABASE_URL.trim() !== '' ? env.DATABASE_URL : `file:${path.join(dataDir, 'training.db')}`
}
