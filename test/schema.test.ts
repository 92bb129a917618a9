// Tier 1: the schema itself. The checked-in SDL and the PostgreSQL data
// model must match what the code generates, and the schema executes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { graphql } from 'graphql'
import { describe, expect, it } from 'vitest'
import { printSdl, schema } from '../src/graphql/index.ts'

describe('schema', () => {
  it('matches the checked-in SDL in schema/schema.graphql (run `npm run schema` after changing the schema)', () => {
    expect(printSdl()).toBe(readFileSync('schema/schema.graphql', 'utf8'))
  })

  it('keeps prisma/postgres/schema.prisma generated from prisma/schema.prisma (run `npm run db:sync-schemas`)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'schema-'))
    try {
      execFileSync('npx', ['tsx', 'scripts/sync-schemas.ts', 'prisma/schema.prisma', path.join(dir, 'schema.prisma')])
      expect(readFileSync(path.join(dir, 'schema.prisma'), 'utf8')).toBe(readFileSync('prisma/postgres/schema.prisma', 'utf8'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('answers an unauthenticated execution with a scope error instead of data', async () => {
    const result = await graphql({ schema, source: '{ baseModels { name } }', contextValue: { principal: null, services: {} } })
    expect(result.data).toBeNull()
    expect(result.errors?.[0].message).toMatch(/needs the read scope/)
  })

  it('executes a read for a principal with the read scope', async () => {
    const principal = { userId: 'user-x', userName: 'x', tokenId: 'token-x', scopes: new Set(['read']) }
    const result = await graphql({
      schema,
      source: '{ baseModels(task: tabular_regression) { name architecture } viewer { name scopes } }',
      contextValue: { principal, services: {} },
    })
    expect(result.errors).toBeUndefined()
    expect(result.data).toEqual({ baseModels: [{ name: 'tabular-mlp', architecture: 'mlp' }], viewer: { name: 'x', scopes: ['read'] } })
  })
})
