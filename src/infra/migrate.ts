// Applies the committed Prisma migrations (prisma/migrations for SQLite,
// prisma/postgres/migrations for PostgreSQL) at start.
//
// Why not `prisma migrate deploy`: with the driver-adapter engine that works
// offline here, Prisma 6.19 cannot migrate PostgreSQL (prisma/orm#27403,
// "Column type 'name' could not be deserialized"), and spawning the CLI costs
// ~2 s per start. This runner keeps Prisma's own `_prisma_migrations`
// bookkeeping (same table, same sha256 checksums), so Prisma's tooling reads
// the result, and applies each migration in one transaction.
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import pg from 'pg'
import { parseDatabaseUrl, prismaLayout, type DatabaseTarget } from './database-url.ts'

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

interface Migration {
  name: string
  sql: string
  checksum: string
}

function readMigrations(target: DatabaseTarget): Migration[] {
  const dir = path.join(projectRoot, prismaLayout[target.provider].migrations)
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    })
}

export interface MigrationReport {
  applied: string[]
  alreadyApplied: number
}

function checkNotFailed(rows: { migration_name: string; finished_at: unknown; rolled_back_at: unknown }[]) {
  const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null)
  if (failed) {
    throw new Error(`Migration ${failed.migration_name} started earlier but never finished; inspect the database before starting again`)
  }
}

function migrateSqlite(target: Extract<DatabaseTarget, { provider: 'sqlite' }>, migrations: Migration[]): MigrationReport {
  mkdirSync(path.dirname(target.filePath), { recursive: true })
  const db = new Sqlite(target.filePath)
  try {
    db.pragma('busy_timeout = 10000')
    db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,
      "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,
      "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
      "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`)
    const applied: string[] = []
    // IMMEDIATE takes the write lock first, so two processes starting together apply each migration once.
    const run = db.transaction((migration: Migration) => {
      const done = db.prepare('SELECT 1 FROM "_prisma_migrations" WHERE migration_name = ? AND rolled_back_at IS NULL').get(migration.name)
      if (done) return
      db.exec(migration.sql)
      const now = new Date().toISOString()
      db.prepare('INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)').run(
        randomUUID(),
        migration.checksum,
        now,
        migration.name,
        now,
      )
      applied.push(migration.name)
    })
    const rows = db.prepare('SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations"').all() as never[]
    checkNotFailed(rows)
    for (const migration of migrations) run.immediate(migration)
    return { applied, alreadyApplied: migrations.length - applied.length }
  } finally {
    db.close()
  }
}

async function migratePostgres(target: Extract<DatabaseTarget, { provider: 'postgres' }>, migrations: Migration[]): Promise<MigrationReport> {
  const client = new pg.Client({ connectionString: target.connectionString })
  await client.connect()
  try {
    const schema = target.schema ?? 'public'
    const quoted = `"${schema.replaceAll('"', '""')}"`
    // One migrator per schema for the whole run: CREATE SCHEMA/TABLE IF NOT EXISTS race between processes
    // starting together (unique violations on pg_namespace / pg_type). Released when the client ends.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`training-service-migrate:${schema}`])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`)
    await client.query(`SET search_path TO ${quoted}`)
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`)
    const { rows } = await client.query('SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations"')
    checkNotFailed(rows)
    const applied: string[] = []
    for (const migration of migrations) {
      await client.query('BEGIN')
      try {
        // One migrator at a time per schema, even with several processes starting together.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`training-service-migrate:${schema}`])
        const done = await client.query('SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1 AND rolled_back_at IS NULL', [migration.name])
        if (done.rowCount === 0) {
          await client.query(migration.sql)
          await client.query(
            'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, now(), 1)',
            [randomUUID(), migration.checksum, migration.name],
          )
          applied.push(migration.name)
        }
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK')
        throw new Error(`Migration ${migration.name} failed: ${(error as Error).message}`, { cause: error })
      }
    }
    return { applied, alreadyApplied: migrations.length - applied.length }
  } finally {
    await client.end()
  }
}

/** Applies every committed migration that the database lacks. */
export async function migrateDatabase(databaseUrl: string): Promise<MigrationReport> {
  const target = parseDatabaseUrl(databaseUrl)
  const migrations = readMigrations(target)
  return target.provider === 'sqlite' ? migrateSqlite(target, migrations) : migratePostgres(target, migrations)
}
