// The data model and its migrations agree: a change to prisma/schema.prisma
// without `npm run db:migration` (which writes the SQL for both databases and
// a snapshot of the model it produced) fails here, before a deployment
// finds tables that do not match the client.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const migrationFolders = (dir: string) =>
  readdirSync(dir)
    .filter((entry) => /^\d{14}_/.test(entry))
    .sort()

describe('migrations', () => {
  it('the newest migration snapshot is prisma/schema.prisma exactly', () => {
    const newest = migrationFolders('prisma/migrations').at(-1)
    expect(newest, 'no migration in prisma/migrations').toBeDefined()
    const snapshot = readFileSync(path.join('prisma/migrations', String(newest), 'schema.snapshot.prisma'), 'utf8')
    expect(snapshot, `prisma/schema.prisma changed after ${newest}: run npm run db:migration -- <name>`).toBe(readFileSync('prisma/schema.prisma', 'utf8'))
  })

  it('PostgreSQL has the same migrations as SQLite, each with its SQL', () => {
    expect(migrationFolders('prisma/postgres/migrations')).toEqual(migrationFolders('prisma/migrations'))
    for (const folder of migrationFolders('prisma/migrations')) {
      for (const dir of ['prisma/migrations', 'prisma/postgres/migrations']) {
        expect(readFileSync(path.join(dir, folder, 'migration.sql'), 'utf8').trim(), `${dir}/${folder}/migration.sql`).not.toBe('')
      }
    }
  })

  it('prisma/postgres/schema.prisma is what npm run db:sync-schemas writes from prisma/schema.prisma', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'schemas-'))
    try {
      const written = path.join(scratch, 'schema.prisma')
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/sync-schemas.ts', 'prisma/schema.prisma', written], { stdio: 'pipe' })
      expect(readFileSync('prisma/postgres/schema.prisma', 'utf8'), 'run npm run db:sync-schemas').toBe(readFileSync(written, 'utf8'))
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})
