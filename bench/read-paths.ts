// Why job reads bypass Prisma: the same primary-key lookup and list page
// through Prisma's driver-adapter engine and through the prepared-SQL read
// store, on the database bench:api seeds (run `npm run bench:api` first).
//   npx tsx bench/read-paths.ts
import { existsSync } from 'node:fs'
import { createDatabase } from '../src/infra/db.ts'
import { machine, median, table } from './lib.ts'

const file = 'bench/out/api-data/training.db'
if (!existsSync(file)) throw new Error(`${file} is missing: run npm run bench:api first`)
const { db, reads, close } = await createDatabase(`file:${file}`)
const id = 'job-bench005000'
const owner = 'user-bench'
const order = { sortBy: 'createdAt', sortOrder: 'desc' } as const

const cases: [string, () => Promise<unknown>][] = [
  [
    'job by id: Prisma findFirst (+owner)',
    () => db.job.findFirst({ where: { id, ownerId: owner, deletedAt: null }, include: { owner: { select: { name: true } } } }),
  ],
  ['job by id: read store', () => reads.jobById(id, owner)],
  [
    '20 running jobs: Prisma findMany (+owner)',
    () =>
      db.job.findMany({
        where: { ownerId: owner, deletedAt: null, status: 'running' },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: 20,
        include: { owner: { select: { name: true } } },
      }),
  ],
  ['20 running jobs: read store', () => reads.jobs({ ownerId: owner, status: 'running' }, order, { offset: 0, limit: 20 })],
]
const timings = new Map<string, number[]>()
for (let round = 0; round < 5; round++) {
  for (const [label, run] of cases) {
    for (let i = 0; i < 50; i++) await run()
    const started = performance.now()
    for (let i = 0; i < 500; i++) await run()
    timings.set(label, [...(timings.get(label) ?? []), (performance.now() - started) / 500])
  }
}
await close()
console.log(`Read paths — ${machine()}\nmean ms per call over 500 calls, median of 5 interleaved rounds\n`)
console.log(
  table(
    ['query', 'ms per call'],
    cases.map(([label]) => [label, median(timings.get(label)!).toFixed(3)]),
  ),
)
