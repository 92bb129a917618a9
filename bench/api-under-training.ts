// Does the API stay responsive while jobs train? Job status reads
// (GET /v1/training/jobs/{id}) under load, with the trainer idle and with a
// job training (in its child process, so the API's event loop only records
// its progress), in the same service process, rounds interleaved.
//   npm run bench:api-training -- [--rounds 3] [--duration 5] [--connections 10]
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { machine, median, numberOption, spawnService, table } from './lib.ts'

const rounds = numberOption('rounds', 3)
const duration = numberOption('duration', 5)
const connections = numberOption('connections', 10)
const token = 'tok-bench'
const auth = { authorization: `Bearer ${token}` }

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-api-training-'))
// One job at a time on one of the two cores: the other core is the API's.
const service = await spawnService('src/main.ts', { DATA_DIR: dataDir, API_TOKENS: `bench:${token}`, TRAINER_CONCURRENCY: '1', RATE_LIMIT: 'off' })

async function call(method: string, urlPath: string, body?: BodyInit, headers: Record<string, string> = {}) {
  const response = await fetch(service.url + urlPath, { method, body, headers: { ...auth, ...headers } })
  const json = (await response.json()) as { data: Record<string, { id: string; status: string; progress: { step: number | null } }> }
  if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${JSON.stringify(json)}`)
  return json.data
}

async function load(jobId: string) {
  const result = await autocannon({ url: `${service.url}/v1/training/jobs/${jobId}`, headers: auth, connections, duration })
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx }
}

try {
  const rows = ['a,b,y']
  for (let i = 0; i < 20000; i++) rows.push(`${i % 97},${(i * 7) % 13},${(i % 97) * 2 - ((i * 7) % 13)}`)
  const form = new FormData()
  form.append('name', 'bench')
  form.append('type', 'tabular')
  form.append('format', 'csv')
  form.append('file', new Blob([rows.join('\n')]), 'bench.csv')
  const dataset = (await call('POST', '/v1/training/datasets', form)).dataset.id
  const createJob = async () =>
    (
      await call(
        'POST',
        '/v1/training/jobs',
        JSON.stringify({
          name: 'bench',
          model: { baseModel: 'tabular-mlp', task: 'tabular-regression' },
          dataset: { id: dataset, labelColumn: 'y' },
          hyperparameters: { batchSize: 32, epochs: 1000 },
          resources: { instanceType: 'cpu.small' },
        }),
        { 'content-type': 'application/json' },
      )
    ).job.id
  const probe = await createJob()
  await call('POST', `/v1/training/jobs/${probe}/stop`)

  const idle: Awaited<ReturnType<typeof load>>[] = []
  const training: Awaited<ReturnType<typeof load>>[] = []
  for (let round = 0; round < rounds; round++) {
    idle.push(await load(probe))
    const job = await createJob()
    for (;;) {
      const state = (await call('GET', `/v1/training/jobs/${job}`)).job
      if (state.status === 'running' && (state.progress.step ?? 0) > 0) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    training.push(await load(job))
    await call('POST', `/v1/training/jobs/${job}/stop`)
    for (;;) {
      if ((await call('GET', `/v1/training/jobs/${job}`)).job.status === 'cancelled') break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  const row = (label: string, runs: typeof idle) => [
    label,
    Math.round(median(runs.map((r) => r.rps))),
    median(runs.map((r) => r.p50)).toFixed(1),
    median(runs.map((r) => r.p99)).toFixed(1),
    runs.reduce((sum, r) => sum + r.errors, 0),
  ]
  console.log(
    `API under training — ${machine()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  )
  console.log(`autocannon ${connections} connections × ${duration} s on GET /v1/training/jobs/{id}, median of ${rounds} interleaved rounds\n`)
  console.log(table(['trainer', 'req/s', 'p50 ms', 'p99 ms', 'errors'], [row('idle', idle), row('1 MLP job training', training)]))
  console.log(`\nreq/s ratio training/idle: ${(median(training.map((r) => r.rps)) / median(idle.map((r) => r.rps))).toFixed(2)}`)
} finally {
  await service.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
