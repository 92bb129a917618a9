// The database client. One Prisma data model, generated twice (SQLite and
// PostgreSQL clients differ only in their provider); DATABASE_URL picks one.
import { PrismaClient as SqliteClient } from '../../prisma/generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from '../../prisma/generated/postgres/client.ts'
import { createAdapterFactory, parseDatabaseUrl, type DatabaseTarget } from './database-url.ts'
import { createReadStore, type ReadStore } from './read-store.ts'

export type {
  ApiToken,
  Checkpoint,
  Dataset,
  DatasetTag,
  Evaluation,
  Export,
  Job,
  JobLog,
  MetricPoint,
  Prisma,
  Template,
  Trial,
  TuningJob,
  User,
} from '../../prisma/generated/sqlite/client.ts'

/** The client type the code is written against; both generated clients share its shape. */
export type Db = SqliteClient

export interface Database {
  db: Db
  /** Prepared SQL for the hottest reads (see read-store.ts). */
  reads: ReadStore
  target: DatabaseTarget
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

export async function createDatabase(databaseUrl: string): Promise<Database> {
  const target = parseDatabaseUrl(databaseUrl)
  const adapter = createAdapterFactory(target)
  const db: Db =
    target.provider === 'sqlite'
      ? new SqliteClient({ adapter })
      : // Same data model, other provider: the two generated clients are structurally identical.
        (new PostgresClient({ adapter }) as unknown as Db)
  if (target.provider === 'sqlite') {
    // WAL lets readers proceed while the trainer writes; NORMAL sync is safe with WAL.
    await db.$queryRawUnsafe('PRAGMA journal_mode = WAL')
    await db.$executeRawUnsafe('PRAGMA synchronous = NORMAL')
    await db.$executeRawUnsafe('PRAGMA foreign_keys = ON')
  }
  const reads = createReadStore(target)
  return {
    db,
    reads,
    target,
    async ping() {
      try {
        await db.$queryRawUnsafe('SELECT 1')
        return true
      } catch {
        return false
      }
    },
    async close() {
      await reads.close()
      await db.$disconnect()
    },
  }
}
