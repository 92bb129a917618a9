// API overhead: with 10,000 jobs in the database, requests per second and
// p50/p99 latency of the job status, job list and GraphQL job endpoints,
// against a bare graphql-yoga server answering { hello } in the same run.
//   npm run bench:api [-- --duration 10 --rounds 3 --connections 10]
import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import autocannon from 'autocannon'
import { createDatabase } from '../src/infra/db.ts'
import { migrateDatabase } from '../src/infra/migrate.ts'
import { hashToken } from '../src/services/auth.ts'
import { machine, median, numberOption, spawnService, table } from './lib.ts'

const duration = numberOption('duration', 10)
const rounds = numberOption('rounds', 3)
const connections = numberOption('connections', 10)
const jobCount = numberOption('jobs', 10_000)

const dataDir = path.resolve('bench/out/api-data')
rmSync(dataDir, { recursive: true, force: true })
mkdirSync(dataDir, { recursive: true })
const databaseUrl = `file:${dataDir}/training.db`
const token = 'bench-token'

/** 10,000 jobs of one user, a quarter of them running, as the trainer would leave them. */
async function seed(): Promise<string> {
  await migrateDatabase(databaseUrl)
  const { db, close } = await createDatabase(databaseUrl)
  await db.user.create({
    data: { id: 'user-bench', name: 'bench', tokens: { create: { id: 'token-bench', tokenHash: hashToken(token), prefix: 'bench', scopes: 'read+write' } } },
  })
  const statuses = ['running', 'pending', 'completed', 'failed']
  const start = Date.now() - jobCount * 1000
  for (let offset = 0; offset < jobCount; offset += 500) {
    await db.job.createMany({
      data: Array.from({ length: Math.min(500, jobCount - offset) }, (_, k) => {
        const i = offset + k
        const status = statuses[i % statuses.length]
        return {
          id: `job-bench${String(i).padStart(6, '0')}`,
          ownerId: 'user-bench',
          name: `job-${i}`,
          status,
          task: 'text-classification',
          baseModel: i % 3 === 0 ? 'text-transformer-small' : 'text-cnn',
          architecture: i % 3 === 0 ? 'transformer' : 'cnn',
          datasetId: 'dataset-bench',
          modelConfig: { baseModel: 'text-cnn', task: 'text-classification', architecture: 'cnn' },
          datasetConfig: { id: 'dataset-bench', validationSplit: 0.1, testSplit: 0.1 },
          hyperparameters: { learningRate: 0.001, batchSize: 32, epochs: 10, warmupSteps: 0, weightDecay: 0, gradientClipping: null, lrSchedule: 'linear' },
          resourcesConfig: { instanceType: 'cpu.small', instanceCount: 1, distributed: false },
          outputConfig: { checkpointInterval: null, saveBestOnly: false, exportFormat: null },
          optionsConfig: {
            enableEarlyStopping: false,
            earlyStoppingPatience: 3,
            earlyStoppingMetric: 'valLoss',
            earlyStoppingMinDelta: 0,
            enableMixedPrecision: false,
            enableLogging: true,
            seed: i,
            maxRetries: 0,
            maxRuntimeSeconds: null,
          },
          instanceType: 'cpu.small',
          instanceCount: 1,
          seed: i,
          totalEpochs: 10,
          totalSteps: 1000,
          epoch: status === 'pending' ? null : 5,
          step: status === 'pending' ? null : 500,
          percentage: status === 'pending' ? 0 : 50,
          metrics: status === 'pending' ? undefined : { trainLoss: 0.5, trainAccuracy: 0.85, valLoss: 0.6, valAccuracy: 0.82, learningRate: 0.0001 },
          startedAt: status === 'pending' ? null : new Date(start + i * 1000),
          createdAt: new Date(start + i * 1000),
        }
      }),
    })
  }
  await close()
  return `job-bench${String(Math.floor(jobCount / 2)).padStart(6, '0')}`
}

interface Measure {
  rps: number
  p50: number
  p99: number
  errors: number
}

async function load(url: string, request: { method?: 'GET' | 'POST'; path: string; body?: string; headers?: Record<string, string> }): Promise<Measure> {
  const result = await autocannon({
    url: url + request.path,
    method: request.method ?? 'GET',
    body: request.body,
    headers: request.headers,
    connections,
    duration,
  })
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx }
}

const jobId = await seed()
const auth = { authorization: `Bearer ${token}` }
const targets = [
  {
    name: 'bare yoga { hello }',
    entry: 'bench/bare-yoga.ts',
    request: { method: 'POST' as const, path: '/graphql', body: JSON.stringify({ query: '{ hello }' }), headers: { 'content-type': 'application/json' } },
  },
  { name: 'GET /v1/training/jobs/{id}', entry: 'src/main.ts', request: { path: `/v1/training/jobs/${jobId}`, headers: auth } },
  {
    name: 'GET /v1/training/jobs?limit=20&status=running',
    entry: 'src/main.ts',
    request: { path: '/v1/training/jobs?limit=20&status=running', headers: auth },
  },
  {
    name: 'GraphQL job(id)',
    entry: 'src/main.ts',
    request: {
      method: 'POST' as const,
      path: '/graphql',
      body: JSON.stringify({
        query: 'query($id: ID!) { job(id: $id) { id name status progress { percentage epoch step } metrics { trainLoss valLoss } } }',
        variables: { id: jobId },
      }),
      headers: { ...auth, 'content-type': 'application/json' },
    },
  },
]

const results = new Map<string, Measure[]>()
const env = { DATA_DIR: dataDir, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', RATE_LIMIT: 'off' }
for (let round = 0; round < rounds; round++) {
  // Interleaved rounds, so a slow patch of this shared machine hits every target alike.
  for (const target of targets) {
    const service = await spawnService(target.entry, { ...env, LOG_LEVEL: 'info' })
    try {
      await load(service.url, { ...target.request }).catch(() => undefined) // warm-up (JIT, caches)
      const measure = await load(service.url, target.request)
      if (measure.errors > 0) throw new Error(`${target.name}: ${measure.errors} errors or non-2xx answers`)
      results.set(target.name, [...(results.get(target.name) ?? []), measure])
      console.error(`round ${round + 1}/${rounds} ${target.name}: ${Math.round(measure.rps)} req/s, p50 ${measure.p50} ms, p99 ${measure.p99} ms`)
    } finally {
      await service.stop()
    }
  }
}

const baseline = median(results.get(targets[0].name)!.map((m) => m.rps))
const rows = targets.map((target) => {
  const measures = results.get(target.name)!
  const rps = median(measures.map((m) => m.rps))
  return [target.name, Math.round(rps), (rps / baseline).toFixed(2), median(measures.map((m) => m.p50)), median(measures.map((m) => m.p99))]
})
console.log(`API overhead — ${machine()}`)
console.log(
  `${jobCount} jobs in SQLite; autocannon ${connections} connections × ${duration} s, median of ${rounds} interleaved rounds (warm-up run before each).\n`,
)
console.log(table(['endpoint', 'req/s', 'ratio to bare yoga', 'p50 ms', 'p99 ms'], rows))
